//! `capture`: the native command line of the anonymiser, for scripted exports and
//! acceptance tests. Same core as the page, so the same inputs, secret and export
//! date give the same zip, byte for byte.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capture::patient_id::{NearMiss, Normalise, PatientIdRule};
use capture::{DatePolicy, Format, Job, Opt, Preset, Scan, Settings, VisitBy};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "capture", version, about = "De-identify DICOM (and EHR tables) into the Data Capture export tree")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a de-identified export zip from files and folders (folders are read recursively).
    Export(ExportArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Dicom,
    Nifti,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum PresetArg {
    Mip,
    Basic,
}

#[derive(Clone, Copy, ValueEnum)]
enum DatesArg {
    Keep,
    Month,
    Shift,
    Remove,
}

#[derive(Clone, Copy, ValueEnum)]
enum VisitByArg {
    Date,
    Study,
}

fn parse_option(name: &str) -> Result<Opt, String> {
    Opt::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Opt::ALL.iter().chain(&Opt::PIXEL).map(|o| o.name()).collect();
        format!("unknown option {name:?}; one of: {}", names.join(", "))
    })
}

fn parse_normalise(list: &str) -> Result<PatientIdRule, String> {
    Normalise::parse_list(list).map(PatientIdRule::from)
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The zip to write.
    #[arg(long)]
    out: PathBuf,
    /// What to export.
    #[arg(long, value_enum, default_value = "dicom")]
    format: FormatArg,
    /// The daily folder's date, YYYYMMDD (default: today, local time).
    #[arg(long)]
    export_date: Option<String>,
    /// File holding the site secret (trailing line breaks ignored). Without it a random
    /// secret is used, and the pseudonyms will not match any other export.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Where to write the JSON report (every input with its outcome).
    #[arg(long)]
    report: Option<PathBuf>,
    /// De-identification preset: the research platform's (mip) or the plain Basic Profile.
    #[arg(long, value_enum, default_value = "mip")]
    preset: PresetArg,
    /// An Annex E option on top of the preset's (repeatable), e.g. retain-safe-private,
    /// retain-uids, retain-device-identity, retain-institution-identity,
    /// retain-patient-characteristics, clean-descriptors, clean-structured-content, clean-graphics,
    /// clean-pixel-data (burned-in text blacked out of ultrasound, screenshots and images marked
    /// BurnedInAnnotation YES, which are then exported: the rules' and the detector's boxes),
    /// clean-visual-features (the face removed from 3D head MR and CT: a head template registered
    /// to each, its face region's voxels cleared in the NIfTI volume and the DICOM files).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<Opt>,
    /// What happens to dates (default: the preset's; mip: month, basic: remove).
    #[arg(long, value_enum)]
    dates: Option<DatesArg>,
    /// What makes one visit: the same patient on the same day, or one study.
    #[arg(long, value_enum, default_value = "date")]
    visit_by: VisitByArg,
    /// Also export files that are quarantined by default (burned-in text, screenshots,
    /// ultrasound, documents; with mip, non-PRIMARY images).
    #[arg(long)]
    include_quarantined: bool,
    /// With clean-pixel-data: a JSON rule file of scanner layouts and the boxes to black out on
    /// them (`{"rules": [{"name", "source", "match": {...}, "boxes": [{x, y, width, height}]}]}`),
    /// applied with the built-in layouts.
    #[arg(long, value_name = "FILE")]
    pixel_rules: Option<PathBuf>,
    /// With clean-pixel-data: only the rules' boxes, no detection of text in the pixels.
    #[arg(long)]
    no_pixel_detect: bool,
    /// EHR table rules: a JSON profile, or an array of them, as the report's `tables[].profile`
    /// (repeatable). Without one the suggested rules apply, listed in the report.
    #[arg(long = "ehr-profile", value_name = "FILE")]
    ehr_profiles: Vec<PathBuf>,
    /// Write the rules applied to the tables (an array of profiles) for the next --ehr-profile.
    #[arg(long, value_name = "FILE")]
    ehr_write_profiles: Option<PathBuf>,
    /// Reduce the tables' output header names to letters, digits and underscore.
    #[arg(long)]
    ehr_sanitize_headers: bool,
    /// Skip a table that has malformed rows (default: export it, short rows padded, long rows
    /// cut to the header, and list their lines in the report).
    #[arg(long)]
    ehr_skip_malformed: bool,
    /// How patient IDs, of the images and the tables alike, are compared and keyed: trimmed
    /// always, and, as listed (comma-separated), leading zeros, case and separators (spaces,
    /// dashes, dots) ignored: e.g. `leading-zeros,case`. A site setting: keep it the same
    /// across exports, or research IDs change.
    #[arg(long, value_name = "LIST", value_parser = parse_normalise)]
    patient_id_normalise: Option<PatientIdRule>,
    /// Write an empty `.ready` file in each daily folder, after all its other files (the
    /// platform's ingestion waits for it).
    #[arg(long)]
    ready_marker: bool,
    /// Add a yearly level above the daily folder: DICOM/<YYYY>/<YYYYMMDD>/...
    #[arg(long)]
    year_folder: bool,
    /// Write NIfTI volumes gzip-compressed (`.nii.gz`); default: uncompressed `.nii`.
    #[arg(long)]
    nifti_gz: bool,
    /// Also write DIR/patid_mapping.csv and DIR/uid_mapping.csv (header id_old,id_new): each
    /// original PatientID and UID of the export and what replaced it, for an auditor or a
    /// benchmark's scorer. They hold original identifiers: keep them apart from the zip.
    #[arg(long, value_name = "DIR")]
    mapping: Option<PathBuf>,
    /// Input files and folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Export(args) => match export(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("capture: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Every file under the inputs, folders expanded recursively in name order.
fn collect(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            entries.sort();
            for entry in entries {
                walk(&entry, out)?;
            }
        } else {
            out.push(path.to_path_buf());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for input in inputs {
        walk(input, &mut files)?;
    }
    Ok(files)
}

fn secret(args: &ExportArgs) -> Result<Vec<u8>, String> {
    match &args.secret_file {
        Some(path) => fs::read(path).map_err(|e| format!("cannot read the secret file {}: {e}", path.display())),
        None => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| format!("no random secret available: {e}"))?;
            eprintln!(
                "capture: warning: no --secret-file; a random secret is used for this export only, \
                 so its pseudonyms will not match any other export"
            );
            Ok(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes())
        }
    }
}

fn ehr_settings(args: &ExportArgs) -> Result<capture::table::TableSettings, String> {
    let mut profiles = Vec::new();
    for path in &args.ehr_profiles {
        let text = fs::read_to_string(path).map_err(|e| format!("cannot read the EHR profile {}: {e}", path.display()))?;
        profiles.extend(capture::table::profiles_from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(capture::table::TableSettings { profiles, sanitize_headers: args.ehr_sanitize_headers, skip_malformed: args.ehr_skip_malformed })
}

/// How many files the export reads ahead of the one being written.
const READ_AHEAD: usize = 2;

/// The scan reads this much of a file first, more when the core asks (as the page does):
/// a DICOM image's header, not its pixel data.
const SCAN_PREFIX: u64 = 64 * 1024;

/// Scans one file from its first bytes, reading more while the core asks for more.
fn scan_file(job: &mut Job, name: &str, path: &Path, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut want = SCAN_PREFIX;
    loop {
        let size = read_into(path, want, buffer)?;
        match job.scan_prefix(name, buffer, size) {
            Scan::Input(_) => return Ok(()),
            Scan::NeedMore(n) if n > buffer.len() as u64 => want = n.max(want * 4),
            Scan::NeedMore(_) => return Err(std::io::Error::other("the file changed while it was read")),
        }
    }
}

/// Reads the first `limit` bytes of a file (all of it if shorter) into `buffer`, replacing
/// its contents; returns the file's size.
fn read_into(path: &Path, limit: u64, buffer: &mut Vec<u8>) -> std::io::Result<u64> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let size = file.metadata()?.len();
    buffer.clear();
    buffer.reserve(size.min(limit) as usize);
    file.take(limit).read_to_end(buffer)?;
    Ok(size)
}

/// The mapping's two CSV files, into `dir` (created if missing).
fn write_mapping(job: &Job, dir: &Path) -> Result<(), String> {
    let mapping = job.mapping().map_err(|e| e.to_string())?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create the mapping folder {}: {e}", dir.display()))?;
    for (name, bytes) in mapping.files() {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The job's settings from the command line.
fn settings(args: &ExportArgs) -> Result<Settings, String> {
    Ok(Settings {
        format: match args.format {
            FormatArg::Dicom => Format::Dicom,
            FormatArg::Nifti => Format::Nifti,
            FormatArg::Both => Format::Both,
        },
        preset: match args.preset {
            PresetArg::Mip => Preset::Mip,
            PresetArg::Basic => Preset::Basic,
        },
        options: args.options.clone(),
        dates: args.dates.map(|d| match d {
            DatesArg::Keep => DatePolicy::Keep,
            DatesArg::Month => DatePolicy::Month,
            DatesArg::Shift => DatePolicy::Shift,
            DatesArg::Remove => DatePolicy::Remove,
        }),
        visit_by: match args.visit_by {
            VisitByArg::Date => VisitBy::Date,
            VisitByArg::Study => VisitBy::Study,
        },
        include_quarantined: args.include_quarantined,
        ehr: ehr_settings(args)?,
        ready_marker: args.ready_marker,
        year_folder: args.year_folder,
        nifti_gzip: args.nifti_gz,
        patient_id_normalise: args.patient_id_normalise.clone().unwrap_or_default(),
        pixel_rules: args.pixel_rules.as_deref().map(pixel_rules).transpose()?,
        pixel_detect: capture::job::On(!args.no_pixel_detect),
        pixel_review: false,
    })
}

/// The rule file of `--pixel-rules`.
fn pixel_rules(path: &Path) -> Result<capture::redact::PixelRules, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    capture::redact::PixelRules::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn export(args: &ExportArgs) -> Result<(), String> {
    let export_date = args
        .export_date
        .clone()
        .unwrap_or_else(|| chrono::Local::now().format("%Y%m%d").to_string());
    let mut job = Job::new(settings(args)?, &secret(args)?, &export_date).map_err(|e| e.to_string())?;
    let files = collect(&args.inputs)?;
    // One buffer for every read: a fresh one per file costs a page fault per 4 KiB.
    let mut buffer = Vec::new();
    for path in &files {
        let name = path.display().to_string();
        if let Err(e) = scan_file(&mut job, &name, path, &mut buffer) {
            job.unreadable(&name, 0, &e.to_string());
        }
    }
    print_ambiguous_dates(&job);
    let plan = job.plan().map_err(|e| e.to_string())?;
    fit_faces(&mut job, &files)?;
    if args.mapping.is_some() {
        job.record_mapping().map_err(|e| e.to_string())?;
    }
    write_zip(&mut job, &plan, &files, &args.out)?;
    if let Some(dir) = &args.mapping {
        write_mapping(&job, dir)?;
    }
    let report = job.report();
    if let Some(path) = &args.report {
        fs::write(path, report.to_json()).map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.ehr_write_profiles {
        let profiles: Vec<_> = report.tables.iter().map(|t| &t.profile).collect();
        let json = serde_json::to_string_pretty(&profiles).map_err(|e| e.to_string())?;
        fs::write(path, json).map_err(|e| format!("cannot write the profiles {}: {e}", path.display()))?;
    }
    print_summary(&report, args);
    Ok(())
}

/// With clean-visual-features: each head scan read again and its face placed; one whose face
/// cannot be placed is held back (said here, and in the report).
fn fit_faces(job: &mut Job, files: &[PathBuf]) -> Result<(), String> {
    let mut buffer = Vec::new();
    for series in job.face_series() {
        for &input in &series.inputs {
            if let Err(e) = read_into(&files[input], u64::MAX, &mut buffer) {
                eprintln!("head scan {}: {} cannot be read again: {e}", series.label, files[input].display());
                continue;
            }
            job.face_add(&series.key, input, &buffer).map_err(|e| e.to_string())?;
        }
        match job.face_fit(&series.key) {
            Ok(preview) => eprintln!("head scan {}: face removed ({} voxels)", series.label, preview.voxels),
            Err(capture::JobError::FaceNotFitted(why)) => eprintln!("head scan {}: held back, the face could not be placed: {why}", series.label),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// The zip, written next to `out` and renamed at the end: a failed export never leaves a zip
/// that looks complete. The files are read on a second thread, a few ahead, so that reading
/// overlaps with the de-identification and the writing; buffers come back for reuse.
fn write_zip(job: &mut Job, plan: &[capture::Planned], files: &[PathBuf], out_path: &Path) -> Result<(), String> {
    let partial = out_path.with_extension("zip.part");
    let mut out = fs::File::create(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let write_error = |e: std::io::Error| format!("cannot write {}: {e}", partial.display());
    std::thread::scope(|scope| {
        let (files_read, next_read) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(READ_AHEAD);
        let (give_back, given_back) = std::sync::mpsc::channel::<Vec<u8>>();
        scope.spawn(move || {
            for step in plan {
                let mut buffer = given_back.try_recv().unwrap_or_default();
                let read = read_into(&files[step.input], u64::MAX, &mut buffer).map(|_| buffer);
                if files_read.send(read).is_err() {
                    break; // the export stopped
                }
            }
        });
        for step in plan {
            let read = next_read.recv().map_err(|_| "the file reader stopped".to_string())?;
            match read {
                Ok(buffer) => {
                    // Written as they come: a cleaned cine is handed over frame by frame.
                    let mut written = Ok(());
                    job.export_each(step.input, &buffer, &mut |parts| {
                        if written.is_ok() {
                            written = parts.iter().try_for_each(|part| out.write_all(part));
                        }
                    })
                    .map_err(|e| e.to_string())?;
                    written.map_err(write_error)?;
                    let _ = give_back.send(buffer);
                }
                Err(e) => {
                    let parts = job.export_unreadable(step.input, &e.to_string()).map_err(|e| e.to_string())?;
                    parts.iter().try_for_each(|part| out.write_all(part)).map_err(write_error)?;
                }
            }
        }
        Ok::<(), String>(())
    })?;
    out.write_all(&job.finish().map_err(|e| e.to_string())?).map_err(write_error)?;
    out.sync_all().map_err(write_error)?;
    drop(out);
    fs::rename(&partial, out_path).map_err(|e| format!("cannot rename to {}: {e}", out_path.display()))
}

/// Each date column whose dates read both day first and month first, on stderr (the
/// terminal only, never the report: the readings are of an original value).
fn print_ambiguous_dates(job: &Job) {
    for t in job.table_review() {
        for c in &t.columns {
            let Some(r) = &c.date_readings else { continue };
            let chosen = match c.date_order {
                Some(order) => format!("read {} as the profile chooses", order_name(order)),
                None => "read day first; to choose, set \"dateOrder\": \"day-first\" or \"month-first\" on the column in --ehr-profile (--ehr-write-profiles writes one to edit)".into(),
            };
            eprintln!(
                "  table {}: column {:?}: ambiguous dates: {:?} reads as {} (day first) or {} (month first); {chosen}",
                t.name, c.name, r.sample, r.day_first, r.month_first
            );
        }
    }
}

fn order_name(order: capture::table::DateOrder) -> &'static str {
    match order {
        capture::table::DateOrder::DayFirst => "day first",
        capture::table::DateOrder::MonthFirst => "month first",
    }
}

/// What the export did, on stderr: counts, the audit, the tables, the linkage, each file left out.
fn print_summary(report: &capture::Report, args: &ExportArgs) {
    let c = &report.counts;
    eprintln!(
        "capture: wrote {} ({} exported, {} skipped, {} quarantined of {} inputs; {} visits)",
        args.out.display(),
        c.exported,
        c.skipped,
        c.quarantined,
        c.inputs,
        report.visits.len()
    );
    let audit = &report.audit;
    match audit.held_back {
        0 => eprintln!("  output audit: {} DICOM files searched for their input's identifiers, none found", audit.files),
        held => eprintln!(
            "  output audit: {} DICOM files searched for their input's identifiers; {held} held back (identifier found, listed below)",
            audit.files
        ),
    }
    let chosen = args.patient_id_normalise.clone().unwrap_or_default();
    for t in &report.tables {
        let malformed = t.malformed_rows.iter().map(|m| m.line.to_string()).collect::<Vec<_>>();
        eprintln!("  table {}: {} rows{}", t.name, t.rows, if malformed.is_empty() { String::new() } else { format!(", malformed lines {}", malformed.join(" ")) });
        if let Some(warning) = t.k_anonymity.as_ref().and_then(|k| k.warning.as_ref()) {
            eprintln!("  table {}: warning: {warning}", t.name);
        }
        for miss in &t.near_misses {
            eprintln!("  table {}: {}", t.name, near_miss(miss, &chosen));
        }
    }
    if let Some(l) = &report.linkage {
        print_linkage(l);
    }
    for f in &report.files {
        if let capture::report::Outcome::Skipped { reason } | capture::report::Outcome::Quarantined { reason } = &f.outcome {
            eprintln!("  {}: {reason}", f.name);
        }
    }
}

/// One near miss as a line: the count and the options (those chosen and those to add) that
/// would link them.
fn near_miss(miss: &NearMiss, chosen: &PatientIdRule) -> String {
    let options: Vec<&str> = chosen.with(&miss.options).options().map(|o| o.name()).collect();
    format!(
        "near miss: {} patient ID(s) link to no image but would with --patient-id-normalise {}",
        miss.patient_ids,
        options.join(",")
    )
}

/// Row ranges printed per table (the report lists them all).
const ROW_RANGES: usize = 20;

/// The linkage on stderr: counts, and each table's rows that link to no image.
fn print_linkage(l: &capture::table::Linkage) {
    eprintln!("  linkage: {} patients in tables and images, {} in tables only, {} in images only", l.both.count, l.tables_only.count, l.images_only.count);
    for t in &l.tables {
        if !t.unlinked_rows.is_empty() {
            eprintln!("  linkage: table {}: {} rows link to no image: rows {}", t.name, t.unlinked_rows.count, t.unlinked_rows.text(ROW_RANGES));
        }
        if !t.rows_without_patient_id.is_empty() {
            let rows = &t.rows_without_patient_id;
            eprintln!("  linkage: table {}: {} rows without a patient ID: rows {}", t.name, rows.count, rows.text(ROW_RANGES));
        }
    }
}
