//! One export: inputs are scanned once (headers only), the plan fixes every output
//! path, then each planned input is read again, de-identified and appended to the zip.
//!
//! Two passes keep memory bounded by one file (the caller reads files one at a time)
//! and make the output independent of the order of inputs: visits, series and file
//! names are decided from the whole batch, and entries are written in path order.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Deserialize;

use crate::archive::{Archive, Packing};
use crate::dates::{self, Date};
use crate::error::{FileError, JobError, Reason};
use crate::instance::{self, Summary};
use crate::nifti;
use crate::dates::DatePolicy;
use crate::profile::{self, Opt, Policy, Preset, Subject};
use crate::patient_id::PatientIdRule;
use crate::pseudonym::Keyring;
use crate::report::{Audit, FileEntry, Outcome, Report, VisitEntry, Why};
use crate::table::{self, Tables};

mod mapping;
mod review;
pub use mapping::Mapping;
pub use review::Review;

/// What the export produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Dicom,
    Nifti,
    Both,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Dicom => "dicom",
            Format::Nifti => "nifti",
            Format::Both => "both",
        }
    }
}

/// What makes a visit (one scan_research_id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitBy {
    /// One patient on one day (StudyDate).
    #[default]
    Date,
    /// One study (StudyInstanceUID).
    Study,
}

/// The user's choices for one export. Unknown keys are ignored so that a newer
/// page's settings file still loads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    pub format: Format,
    pub preset: Preset,
    /// Annex E options on top of the preset's, by kebab-case name.
    pub options: Vec<Opt>,
    /// Date policy; `None` = the preset's (mip: month, basic: remove).
    pub dates: Option<DatePolicy>,
    pub visit_by: VisitBy,
    /// Export the files that would be quarantined (burned-in text...) anyway.
    pub include_quarantined: bool,
    /// EHR tables: saved rule profiles and output options.
    pub ehr: table::TableSettings,
    /// Layout: an empty `.ready` file in each daily folder, written after all its other
    /// entries (the platform's ingestion waits for it).
    pub ready_marker: bool,
    /// Layout: a yearly level above the daily folder, `<YYYY>/<YYYYMMDD>`.
    pub year_folder: bool,
    /// NIfTI volumes gzip-compressed (`.nii.gz`) rather than plain `.nii` (the default).
    pub nifti_gzip: bool,
    /// How a PatientID, of the images and of the tables alike, is normalised before it is
    /// keyed (trimmed always; leading zeros, case, separators as chosen).
    pub patient_id_normalise: PatientIdRule,
}

impl Settings {
    pub fn from_json(text: &str) -> Result<Settings, JobError> {
        serde_json::from_str(text).map_err(|e| JobError::Settings(e.to_string()))
    }
}

/// One input as the scan saw it.
struct Input {
    name: String,
    size: u64,
    summary: Option<Summary>,
    outcome: Outcome,
    /// The code of a skipped or quarantined outcome.
    why: Option<Why>,
}

impl Input {
    fn skip(&mut self, why: Why, reason: String) {
        self.outcome = Outcome::Skipped { reason };
        self.why = Some(why);
    }
}

/// What [`Job::scan_prefix`] made of a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Recorded: the input's index.
    Input(usize),
    /// Nothing recorded: scan again with at least this many bytes of the file (at most its size).
    NeedMore(u64),
}

/// One output file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index of the input, in scan order.
    pub input: usize,
    /// Path inside the zip.
    pub path: String,
}

struct Visit {
    patient: String,
    visit: String,
    shift_days: i64,
}

enum Stage {
    Scanning,
    /// The paths of each input, in plan order (two with `--format both`).
    Exporting { archive: Archive, plan: HashMap<usize, VecDeque<String>> },
    Finished,
}

pub struct Job {
    keyring: Keyring,
    policy: Policy,
    export_date: Date,
    settings: Settings,
    inputs: Vec<Input>,
    /// Research IDs of each visit, by visit key; filled by `plan`.
    visits: BTreeMap<(String, String), Visit>,
    stage: Stage,
    /// The EHR tables among the inputs.
    tables: Tables,
    /// NIfTI: the header of each DICOM input (scan), then the volumes being filled (plan).
    slices: BTreeMap<usize, nifti::Slice>,
    nifti: Option<nifti::Converter>,
    /// With `ready_marker`: the daily folder that has entries written and still lacks its marker.
    unmarked: Option<String>,
    /// De-identified files searched for their input's identifiers, and those held back.
    audit: Audit,
    /// Original UID → replacement, of the DICOM files exported since `record_mapping`.
    uids: Option<BTreeMap<String, String>>,
}

/// What identifies a visit: one patient (the PatientID normalised as the settings say) on
/// one day (StudyDate), or one study (by choice, or when the date is missing).
fn visit_key(s: &Summary, settings: &Settings) -> (String, String) {
    let key = match (&s.study_date, settings.visit_by) {
        (Some(date), VisitBy::Date) => date.clone(),
        _ => format!("study:{}", s.study_uid),
    };
    (settings.patient_id_normalise.key(&s.patient_id), key)
}

/// One DICOM input de-identified: its encoded attributes, and the Pixel Data element to write
/// after them as the file holds it where it ends the file (instance::Split). With `uids` (the
/// mapping is recorded), the UIDs it replaced are added to it.
fn deidentify_dicom<'b>(
    bytes: &'b [u8],
    summary: &Summary,
    subject: &Subject,
    uids: Option<&mut BTreeMap<String, String>>,
) -> Result<(Vec<u8>, &'b [u8]), FileError> {
    let split = instance::parse_split(bytes, false)?;
    if Summary::of(&split.object) != *summary {
        return Err(FileError::Changed);
    }
    let originals = uids.is_some().then(|| mapping::Originals::of(&split.object));
    let clean = profile::deidentify(split.object, subject)?;
    let attributes = profile::encode(&clean)?;
    if let (Some(originals), Some(uids)) = (originals, uids) {
        originals.record(&clean, subject.keyring, uids);
    }
    Ok((attributes, split.pixel_data))
}

impl Job {
    /// `secret` is the site secret's bytes; `export_date` today's date as `YYYYMMDD`.
    pub fn new(settings: Settings, secret: &[u8], export_date: &str) -> Result<Job, JobError> {
        Job::with_keyring(settings, Keyring::from_secret(secret), export_date)
    }

    /// As [`Job::new`], with the secret's key already derived (PBKDF2 is slow on purpose:
    /// a caller running many jobs with one secret derives it once).
    pub fn with_keyring(settings: Settings, keyring: Keyring, export_date: &str) -> Result<Job, JobError> {
        let export_date = dates::export_date(export_date)?;
        Ok(Job {
            keyring,
            policy: Policy::new(settings.preset, &settings.options, settings.dates),
            export_date,
            settings,
            inputs: Vec::new(),
            visits: BTreeMap::new(),
            stage: Stage::Scanning,
            tables: Tables::default(),
            slices: BTreeMap::new(),
            nifti: None,
            unmarked: None,
            audit: Audit::default(),
            uids: None,
        })
    }

    /// First pass over one input, given whole. Never fails: a file that cannot be read is
    /// recorded as skipped with the reason. Returns the input's index.
    pub fn scan(&mut self, name: &str, bytes: &[u8]) -> usize {
        match self.scan_prefix(name, bytes, bytes.len() as u64) {
            Scan::Input(input) => input,
            Scan::NeedMore(_) => unreachable!("a whole file never needs more bytes"),
        }
    }

    /// First pass over one input of `size` bytes, given its first bytes (or all of them): as
    /// [`Job::scan`] once `prefix` is enough, else nothing is recorded and the caller scans
    /// again with at least the bytes asked for. A DICOM image needs its header only (the
    /// export checks that the whole file still has the same header); anything else is read
    /// whole (a table's fingerprint covers all its bytes).
    pub fn scan_prefix(&mut self, name: &str, prefix: &[u8], size: u64) -> Scan {
        let whole = prefix.len() as u64 >= size;
        let (summary, outcome, code) = match instance::parse_header(prefix, size) {
            Ok(instance::Header::NeedMore(n)) => return Scan::NeedMore(n),
            Ok(instance::Header::Parsed(object, native_bytes)) => {
                if self.settings.format != Format::Dicom {
                    let mut slice = nifti::Slice::of(&object);
                    slice.native_bytes = native_bytes;
                    // Named as the DICOM export writes the name (kept, or cleaned of identifiers).
                    slice.export_name(|tag| profile::exported_text(&object, &self.policy, tag));
                    self.slices.insert(self.inputs.len(), slice);
                }
                (Some(Summary::of(&object)), Outcome::Pending, None)
            }
            Err(FileError::NotDicom) if !whole => return Scan::NeedMore(size),
            Err(FileError::NotDicom) => match self.tables.scan(self.inputs.len(), name, prefix) {
                Ok(()) => (None, Outcome::Pending, None),
                Err(why) => (
                    None,
                    Outcome::Skipped {
                        reason: format!("{}; {why}", FileError::NotDicom),
                    },
                    Some(Why::new(why.code(), why.to_string())),
                ),
            },
            Err(e) => (
                None,
                Outcome::Skipped {
                    reason: e.to_string(),
                },
                Some(e.why()),
            ),
        };
        let (size, why) = (size.max(prefix.len() as u64), code);
        self.inputs.push(Input {
            name: name.to_string(),
            size,
            summary,
            outcome,
            why,
        });
        Scan::Input(self.inputs.len() - 1)
    }

    /// The PatientIDs and visits of the DICOM inputs still to export, for the tables.
    fn dicom(&self) -> table::Dicom {
        let summaries = self
            .inputs
            .iter()
            .filter(|i| i.outcome == Outcome::Pending)
            .filter_map(|i| i.summary.as_ref());
        table::Dicom::collect(
            summaries,
            |s| visit_key(s, &self.settings),
            &self.keyring,
            &self.settings.patient_id_normalise,
        )
    }

    /// The rules each table would get now, with a few original values per column for the
    /// screen: call after the scans, before `plan`.
    pub fn table_review(&self) -> Vec<table::TableReport> {
        self.tables
            .review(&self.settings.ehr, self.policy.dates, &self.dicom())
    }

    /// The user's rules for one table (confirmed in the review): before `plan`, or after it
    /// and before the table's export (the page edits them on the review screen).
    pub fn set_table_profile(&mut self, input: usize, profile: table::Profile) {
        self.tables.set_profile(input, profile);
        self.tables
            .replan(input, &self.settings.ehr, self.policy.dates);
    }

    /// Records an input that could not even be read (for the CLI: an I/O error), so that
    /// the report still accounts for every input.
    pub fn unreadable(&mut self, name: &str, size: u64, reason: &str) -> usize {
        self.skipped(name, size, format!("could not read the file: {reason}"), Why::new(Reason::Unreadable, reason.to_string()))
    }

    /// Records a zip entry the zip reader refused (`why`: an unsafe path, encryption, size).
    pub fn ignored_entry(&mut self, name: &str, size: u64, why: &str) -> usize {
        self.skipped(name, size, format!("ignored: {why}"), Why::new(Reason::ZipEntryIgnored, why.to_string()))
    }

    fn skipped(&mut self, name: &str, size: u64, reason: String, why: Why) -> usize {
        let (outcome, why) = (Outcome::Skipped { reason }, Some(why));
        self.inputs.push(Input {
            name: name.to_string(),
            size,
            summary: None,
            outcome,
            why,
        });
        self.inputs.len() - 1
    }

    /// Decides every output path. Call once, after all scans; returns the plan in the
    /// order the files must be exported (the order of paths in the zip).
    pub fn plan(&mut self) -> Result<Vec<Planned>, JobError> {
        if !matches!(self.stage, Stage::Scanning) {
            return Err(JobError::Sequence("plan() called twice"));
        }
        self.drop_duplicates();
        self.quarantine();
        // visit -> series -> instances, all in maps keyed by content, not input order.
        let mut tree: BTreeMap<(String, String), BTreeMap<(i64, String), Vec<usize>>> = BTreeMap::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let (Some(s), Outcome::Pending) = (&input.summary, &input.outcome) else { continue };
            let series_key = (s.series_number.unwrap_or(i64::MAX), s.series_uid.clone());
            tree.entry(visit_key(s, &self.settings)).or_default().entry(series_key).or_default().push(i);
        }
        let mut plan = Vec::new();
        let date = self.day_folder();
        for ((patient_id, key), series) in tree {
            let visit = Visit {
                patient: self.keyring.patient(&patient_id),
                visit: self.keyring.visit(&patient_id, &key),
                shift_days: self.keyring.date_shift(&patient_id),
            };
            let mut number = 0usize;
            for (_, mut members) in series {
                members.sort_by(|&a, &b| self.slice_order(a, b));
                for i in members {
                    number += 1;
                    if self.settings.format == Format::Nifti {
                        continue;
                    }
                    plan.push(Planned { input: i, path: format!("DICOM/{date}/{}/{number:04}.dcm", visit.visit) });
                }
            }
            self.visits.insert((patient_id, key), visit);
        }
        if self.settings.format != Format::Dicom {
            plan.extend(self.plan_nifti(&date));
        }
        // Tables after the visits: their visit columns map to the visits of the images.
        for (input, path) in self.tables.plan(&self.settings.ehr, self.policy.dates, self.dicom(), &date) {
            match path {
                Ok(path) => plan.push(Planned { input, path }),
                Err(reason) => {
                    self.inputs[input].skip(Why::new(Reason::TableMalformed, reason.clone()), reason)
                }
            }
        }
        plan.sort_by(|a, b| a.path.cmp(&b.path));
        let mut lookup: HashMap<usize, VecDeque<String>> = HashMap::new();
        for p in &plan {
            lookup.entry(p.input).or_default().push_back(p.path.clone());
        }
        self.stage = Stage::Exporting { archive: Archive::new(self.export_date), plan: lookup };
        Ok(plan)
    }

    /// The NIfTI volumes of the DICOM inputs still to export: one plan step per slice,
    /// all with the volume's path, in voxel order. Volumes that cannot be converted are
    /// reported (and, without the DICOM tree, their files skipped).
    fn plan_nifti(&mut self, date: &str) -> Vec<Planned> {
        let slices: Vec<(usize, &nifti::Slice)> = self
            .slices
            .iter()
            .filter(|(&i, _)| self.inputs[i].outcome == Outcome::Pending)
            .map(|(&i, s)| (i, s))
            .collect();
        let mut volumes = nifti::plan(&slices, &self.policy);
        let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut steps = Vec::new();
        for volume in &mut volumes {
            if let Some(problem) = &volume.problem {
                if self.settings.format == Format::Nifti {
                    for &i in &volume.members {
                        let why = Why::new(Reason::NiftiNotConverted, problem.to_string());
                        self.inputs[i].skip(why, format!("not converted to NIfTI: {problem}"));
                    }
                }
                continue;
            }
            let visit = &self.visits
                [&visit_key(self.summary(volume.members[0]), &self.settings)]
                .visit;
            let stem = volume.stem();
            let ext = nifti::extension(self.settings.nifti_gzip);
            let mut path = format!("{}{date}/{visit}/{stem}{ext}", nifti::ROOT);
            for n in 2.. {
                if taken.insert(path.clone()) {
                    break;
                }
                path = format!("{}{date}/{visit}/{stem}_{n}{ext}", nifti::ROOT);
            }
            volume.path = Some(path.clone());
            steps.extend(volume.members.iter().map(|&input| Planned { input, path: path.clone() }));
        }
        self.nifti = Some(nifti::Converter::new(volumes, !self.settings.nifti_gzip));
        steps
    }

    /// Slice order within a series: InstanceNumber, then position along the normal,
    /// then the SOP Instance UID so that ties still resolve the same way every time.
    fn slice_order(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let (sa, sb) = (self.summary(a), self.summary(b));
        sa.instance_number
            .unwrap_or(i64::MAX)
            .cmp(&sb.instance_number.unwrap_or(i64::MAX))
            .then(sa.slice_position.unwrap_or(0.0).total_cmp(&sb.slice_position.unwrap_or(0.0)))
            .then_with(|| sa.sop_instance_uid.cmp(&sb.sop_instance_uid))
    }

    fn summary(&self, i: usize) -> &Summary {
        self.inputs[i].summary.as_ref().expect("planned inputs have a summary")
    }

    /// The same instance dropped twice (two copies of one file) is exported once.
    /// The copy kept is the one with the smallest name, whatever the drop order.
    fn drop_duplicates(&mut self) {
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut order: Vec<usize> = (0..self.inputs.len()).collect();
        order.sort_by(|&a, &b| {
            self.inputs[a]
                .name
                .cmp(&self.inputs[b].name)
                .then(a.cmp(&b))
        });
        for i in order {
            let input = &self.inputs[i];
            let (Some(s), Outcome::Pending) = (&input.summary, &input.outcome) else {
                continue;
            };
            match first.get(&s.sop_instance_uid) {
                Some(&kept) => {
                    let kept = self.inputs[kept].name.clone();
                    let reason = format!("duplicate of {kept} (same SOP Instance UID)");
                    self.inputs[i].skip(Why::new(Reason::Duplicate, kept), reason);
                }
                None => {
                    first.insert(s.sop_instance_uid.clone(), i);
                }
            }
        }
    }

    /// Instances not exported without the user's opt-in, each with the reason.
    fn quarantine(&mut self) {
        if self.settings.include_quarantined {
            return;
        }
        let mip = self.policy.preset == Preset::Mip;
        for input in &mut self.inputs {
            let (Some(s), Outcome::Pending) = (&input.summary, &input.outcome) else { continue };
            let reason = if s.burned_in {
                Some((Why::new(Reason::BurnedIn, None), "burned-in annotation (BurnedInAnnotation = YES): the pixels may show identifying text".to_string()))
            } else if let Some(why) = instance::risky_sop_class(&s.sop_class) {
                Some((
                    Why::new(Reason::RiskySopClass, s.sop_class.clone()),
                    format!("SOP class {}: {why}", s.sop_class),
                ))
            } else if mip && !s.image_type.iter().any(|t| t == "PRIMARY") {
                let types = s.image_type.join("\\");
                Some((Why::new(Reason::NotPrimary, types.clone()), format!("not a PRIMARY image (ImageType {types:?}); the mip preset exports primary images only")))
            } else {
                None
            };
            if let Some((why, reason)) = reason {
                input.outcome = Outcome::Quarantined { reason };
                input.why = Some(why);
            }
        }
    }

    /// The daily folder under each root: `YYYYMMDD`, or `YYYY/YYYYMMDD` with `year_folder`.
    fn day_folder(&self) -> String {
        let date = self.export_date.to_da();
        if self.settings.year_folder { format!("{}/{date}", &date[..4]) } else { date }
    }

    /// Second pass over one planned input: de-identifies it and appends it to the
    /// archive. Returns the zip bytes to append to the output (empty when the file
    /// turned out unusable: it is then reported as skipped and the export goes on).
    /// With `ready_marker`, the `.ready` file of a daily folder is written once the plan
    /// has moved past that folder (entries are in path order), or by `finish`.
    pub fn export(&mut self, input: usize, bytes: &[u8]) -> Result<Vec<u8>, JobError> {
        Ok(self.export_parts(input, bytes)?.concat())
    }

    /// [`Job::export`], its bytes as buffers to append one after the other: a NIfTI volume
    /// is handed out as it was built, not copied into a buffer of the archive's (the page
    /// and the CLI write the parts; the copy doubled the page's memory for a large series).
    pub fn export_parts(&mut self, input: usize, bytes: &[u8]) -> Result<Vec<Vec<u8>>, JobError> {
        self.export_read(input, Ok(bytes))
    }

    /// In place of [`Job::export_parts`] for a planned input that could not be read again:
    /// it is reported as skipped with `reason` (and its NIfTI volume as not written).
    pub fn export_unreadable(&mut self, input: usize, reason: &str) -> Result<Vec<Vec<u8>>, JobError> {
        self.export_read(input, Err(reason))
    }

    fn export_read(&mut self, input: usize, bytes: Result<&[u8], &str>) -> Result<Vec<Vec<u8>>, JobError> {
        if !self.settings.ready_marker {
            return self.export_entry(input, bytes);
        }
        let Stage::Exporting { plan, .. } = &self.stage else {
            return Err(JobError::Sequence("export() needs plan() first and comes before finish()"));
        };
        let day = self.day_folder();
        let folder = plan
            .get(&input)
            .and_then(VecDeque::front)
            .map(|p| format!("{}/{day}/", p.split('/').next().unwrap_or_default()));
        let mut parts = match (&self.unmarked, &folder) {
            (Some(done), Some(next)) if done != next => vec![self.write_ready_marker()?],
            _ => Vec::new(),
        };
        let written = self.export_entry(input, bytes)?;
        if written.iter().any(|p| !p.is_empty()) {
            self.unmarked = folder;
        }
        parts.extend(written);
        Ok(parts)
    }

    /// The `.ready` entry of the daily folder whose entries are all written, if any.
    fn write_ready_marker(&mut self) -> Result<Vec<u8>, JobError> {
        let (Some(folder), Stage::Exporting { archive, .. }) = (self.unmarked.take(), &mut self.stage) else {
            return Ok(Vec::new());
        };
        Ok(archive.add(&format!("{folder}.ready"), b"", Packing::Stored)?)
    }

    fn export_entry(&mut self, input: usize, bytes: Result<&[u8], &str>) -> Result<Vec<Vec<u8>>, JobError> {
        let Stage::Exporting { archive, plan } = &mut self.stage else {
            return Err(JobError::Sequence("export() needs plan() first and comes before finish()"));
        };
        let path = plan.get_mut(&input).and_then(VecDeque::pop_front).ok_or(JobError::UnknownInput(input))?;
        let unreadable = |reason: &str| format!("could not be read for the export: {reason}");
        if let (Some(converter), Some(nii)) = (&mut self.nifti, path.strip_prefix(nifti::ROOT)) {
            let summary = self.inputs[input].summary.as_ref().ok_or(JobError::UnknownInput(input))?;
            // Native samples are placed from the file's bytes (instance::Split); compressed ones
            // are decoded from the whole object.
            let split = bytes.map_err(unreadable).and_then(|bytes| {
                instance::parse_split(bytes, true)
                    .and_then(|s| if Summary::of(&s.object) == *summary { Ok(s) } else { Err(FileError::Changed) })
                    .map_err(|e| e.to_string())
            });
            let object = split.as_ref().map(|s| (&s.object, s.native_pixels())).map_err(Clone::clone);
            // The sidecar goes before its volume (entries are in path order).
            let stem = nii.trim_end_matches(nifti::extension(self.settings.nifti_gzip));
            let json_path = format!("{}{stem}.json", nifti::ROOT);
            let (volume, written) = match converter.add(input, object, &self.policy) {
                Ok(nifti::Output::Nothing) => return Ok(Vec::new()),
                Ok(nifti::Output::Whole(done)) => {
                    let written = match done.result {
                        Ok((json, volume)) => {
                            let volume = nifti::pack(volume, self.settings.nifti_gzip);
                            archive.put(&json_path, &json, Packing::Deflated)?;
                            // Stored, like dcm2niix -z n: deflating a volume took three quarters
                            // of the conversion time (measured by make bench) for little gain on
                            // real images.
                            archive.put_owned(&path, volume)?;
                            Ok(())
                        }
                        Err(why) => Err(why),
                    };
                    (done.volume, written)
                }
                Ok(nifti::Output::Stream { volume, start, bytes, last }) => {
                    if let Some((json, size)) = start {
                        archive.put(&json_path, &json, Packing::Deflated)?;
                        archive.start_entry(&path, size)?;
                    }
                    archive.write_owned(bytes)?;
                    if !last {
                        return Ok(archive.take_parts());
                    }
                    (volume, Ok(()))
                }
                Err(broken) => {
                    let path = converter.volumes()[broken.volume].path.clone().unwrap_or_default();
                    return Err(JobError::VolumeIncomplete { path, why: broken.why });
                }
            };
            let (outcome, why) = match written {
                Ok(()) => (Outcome::Exported { path }, None),
                Err(why) => (
                    Outcome::Skipped {
                        reason: format!("not converted to NIfTI: {why}"),
                    },
                    Some(Why::new(Reason::NiftiNotConverted, why)),
                ),
            };
            for &member in &converter.volumes()[volume].members {
                if !matches!(self.inputs[member].outcome, Outcome::Exported { .. }) {
                    self.inputs[member].outcome = outcome.clone();
                    self.inputs[member].why = why.clone();
                }
            }
            return Ok(archive.take_parts());
        }
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(reason) => {
                self.inputs[input].skip(Why::new(Reason::Unreadable, reason.to_string()), unreadable(reason));
                return Ok(Vec::new());
            }
        };
        if self.tables.is_table(input) {
            let (chunk, outcome, why) =
                match self
                    .tables
                    .export(input, bytes, &self.keyring, self.policy.dates)
                {
                    Ok(csv) => (
                        archive.add(&path, &csv, Packing::Deflated)?,
                        Outcome::Exported { path },
                        None,
                    ),
                    Err(e) => (
                        Vec::new(),
                        Outcome::Skipped {
                            reason: e.to_string(),
                        },
                        Some(e.why()),
                    ),
                };
            self.inputs[input].outcome = outcome;
            self.inputs[input].why = why;
            return Ok(vec![chunk]);
        }
        let summary = self.inputs[input]
            .summary
            .as_ref()
            .ok_or(JobError::UnknownInput(input))?;
        let visit = &self.visits[&visit_key(summary, &self.settings)];
        let subject = Subject {
            keyring: &self.keyring,
            policy: &self.policy,
            patient: &visit.patient,
            visit: &visit.visit,
            shift_days: visit.shift_days,
        };
        // The pixel data are copied as the file holds them where they end it (instance::Split).
        let encoded = deidentify_dicom(bytes, summary, &subject, self.uids.as_mut());
        if matches!(encoded, Ok(_) | Err(FileError::Identifiable(_))) {
            self.audit.files += 1;
            self.audit.held_back += usize::from(encoded.is_err());
        }
        match encoded {
            Ok((attributes, pixel_data)) => {
                let chunk = archive.add_parts(&path, &[&attributes, pixel_data], Packing::Stored)?;
                self.inputs[input].outcome = Outcome::Exported { path };
                Ok(vec![chunk])
            }
            Err(e) => {
                self.inputs[input].skip(e.why(), e.to_string());
                Ok(Vec::new())
            }
        }
    }

    /// Closes the archive; returns its last bytes.
    pub fn finish(&mut self) -> Result<Vec<u8>, JobError> {
        let Stage::Exporting { .. } = self.stage else {
            return Err(JobError::Sequence(
                "finish() needs plan() first, and comes once",
            ));
        };
        // A volume written as its files arrived must not end short in the zip.
        if let Some(v) = self.nifti.as_ref().and_then(nifti::Converter::started_unfinished) {
            let path = self.nifti.as_ref().and_then(|n| n.volumes()[v].path.clone()).unwrap_or_default();
            return Err(JobError::VolumeIncomplete { path, why: "the export ended before its last file".into() });
        }
        let marker = self.write_ready_marker()?;
        let Stage::Exporting { archive, .. } = std::mem::replace(&mut self.stage, Stage::Finished)
        else {
            unreachable!("checked above")
        };
        for input in &mut self.inputs {
            if input.outcome == Outcome::Pending {
                input.skip(
                    Why::new(Reason::NotReached, None),
                    "not exported: the export ended before this file".into(),
                );
            }
        }
        let mut end = marker;
        end.extend(archive.finish()?);
        Ok(end)
    }

    /// The report as it stands (complete after `finish`).
    pub fn report(&self) -> Report {
        let files: Vec<FileEntry> = self
            .inputs
            .iter()
            .map(|i| FileEntry {
                name: i.name.clone(),
                size: i.size,
                outcome: i.outcome.clone(),
                why: i.why.clone(),
            })
            .collect();
        let mut visits: BTreeMap<&str, VisitEntry> = BTreeMap::new();
        let mut series: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for input in &self.inputs {
            let (Some(s), Outcome::Exported { .. }) = (&input.summary, &input.outcome) else {
                continue;
            };
            let visit = &self.visits[&visit_key(s, &self.settings)];
            let entry = visits.entry(&visit.visit).or_insert_with(|| VisitEntry {
                scan_research_id: visit.visit.clone(),
                patient_research_id: visit.patient.clone(),
                series: 0,
                files: 0,
            });
            entry.files += 1;
            series.entry(&visit.visit).or_default().insert(&s.series_uid);
        }
        for (id, entry) in visits.iter_mut() {
            entry.series = series[id].len();
        }
        let (tables, linkage) = self.tables.report(&self.keyring);
        Report {
            tool: "capture",
            version: env!("CARGO_PKG_VERSION"),
            export_date: self.export_date.to_da(),
            format: self.settings.format.name().to_string(),
            preset: self.policy.preset.name(),
            options: self.policy.options.iter().map(|o| o.name()).collect(),
            dates: self.policy.dates.name(),
            counts: Report::count(&files),
            audit: self.audit.clone(),
            files,
            visits: visits.into_values().collect(),
            tables,
            linkage,
            nifti: self.nifti.as_ref().map(nifti::Converter::report).unwrap_or_default(),
        }
    }
}
