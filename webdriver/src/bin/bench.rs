//! `make bench`: this project (CLI and page) against the tools users would pick instead, side by
//! side in one run, on two generated studies (issue 8).
//!
//! Run through `webdriver/bench/run.sh` (installs the peers, builds the page and the CLI). Reads:
//! - `BENCH_QUICK=1`: small studies (80 CT slices, 10 MR volumes) and one repetition;
//! - `BENCH_REPS` (default 3, 1 when quick), `BENCH_ONLY` (comma-separated tool names to run);
//! - `CAPTURE_BIN`, `CAPTURE_DIST`, `DCM2NIIX`, `CHROMEDRIVER`, `CHROME`.
//!
//! Writes the studies to `target/bench/studies[-quick]/{ct600,mr4d}/`, outputs to
//! `target/bench/out/`, the table to `target/bench/results.md` (also printed).

use capture_tests::fixtures::workspace_root;
use capture_tests::series;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webdriver::driver::{chrome_path, chromedriver_path, ChromeDriver, Session};
use webdriver::procmem::{usage, Sampler};
use webdriver::server::Server;

const PASSPHRASE: &str = "bench passphrase: correct horse battery staple";

struct Study {
    name: &'static str,
    dir: PathBuf,
    files: Vec<PathBuf>,
    bytes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Work {
    Deid,
    Nifti,
    Redact,
    Deface,
    Floor,
}

impl Work {
    fn label(self) -> &'static str {
        match self {
            Work::Deid => "de-identify (DICOM out)",
            Work::Nifti => "NIfTI",
            Work::Redact => "clean pixel data",
            Work::Deface => "remove faces (NIfTI out)",
            Work::Floor => "floor",
        }
    }
}

struct Row {
    study: &'static str,
    work: Work,
    tool: String,
    ours: bool,
    walls: Vec<f64>,
    /// Peak memory in bytes (max over the repetitions).
    peak: Option<u64>,
    note: String,
    error: Option<String>,
}

impl Row {
    fn median(&self) -> Option<f64> {
        if self.walls.is_empty() {
            return None;
        }
        let mut w = self.walls.clone();
        w.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = w.len();
        Some(if n % 2 == 1 { w[n / 2] } else { (w[n / 2 - 1] + w[n / 2]) / 2.0 })
    }
}

fn env_or(var: &str, default: impl Into<PathBuf>) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => default.into(),
    }
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 })
        .max(1);
    let only: Option<HashSet<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let want = |tool: &str| only.as_ref().is_none_or(|o| o.contains(tool));

    let root = workspace_root();
    let bench = root.join("target/bench");
    let capture = env_or("CAPTURE_BIN", root.join("target/release/capture"));
    let dist = env_or("CAPTURE_DIST", root.join("dist"));
    let dcm2niix = env_or("DCM2NIIX", root.join("target/ci/venv/bin/dcm2niix"));
    let venv = bench.join("venv/bin");
    let out = bench.join("out");
    let key = bench.join("site.key");
    std::fs::write(&key, PASSPHRASE).expect("write the bench secret");
    let started = Instant::now();

    // ---------------------------------------------------------------- studies
    let studies_dir = bench.join(if quick { "studies-quick" } else { "studies" });
    let studies: Vec<Study> = series::bench_specs(quick)
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let dir = studies_dir.join(spec.name);
            let stamp = studies_dir.join(format!(".{}.complete", spec.name));
            if !stamp.is_file() {
                let t = Instant::now();
                let _ = std::fs::remove_dir_all(&dir);
                series::write(&spec, 800 + i, &dir);
                std::fs::write(&stamp, "").unwrap();
                eprintln!("bench: generated {} in {:.1} s", spec.name, t.elapsed().as_secs_f64());
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
                .collect();
            files.sort();
            let bytes = files.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
            eprintln!("bench: {}: {} files, {:.1} MB in {}", spec.name, files.len(), bytes as f64 / 1e6, dir.display());
            Study { name: spec.name, dir, files, bytes }
        })
        .collect();

    // ---------------------------------------------------------------- runs
    let mut rows: Vec<Row> = Vec::new();
    for study in &studies {
        let dir = study.dir.display().to_string();
        let o = out.join(study.name);
        let od = o.display().to_string();
        let capture_s = capture.display().to_string();
        let key_s = key.display().to_string();
        let py = venv.join("python").display().to_string();
        let capture_cmd = |format: &str| -> Vec<String> {
            [capture_s.as_str(), "export", "--out", &format!("{od}/capture.zip"), "--secret-file", &key_s,
             "--preset", "basic", "--format", format, &dir]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let mut commands: Vec<(&str, Work, bool, Vec<String>, &str)> = vec![
            (
                "capture CLI (basic)",
                Work::Deid,
                true,
                capture_cmd("dicom"),
                "Basic Profile + UID remap, one zip",
            ),
            (
                "capture CLI (nifti)",
                Work::Nifti,
                true,
                capture_cmd("nifti"),
                ".nii + sidecar in one zip",
            ),
            (
                "dicognito",
                Work::Deid,
                false,
                vec![py.clone(), "-c".into(), "import sys; from dicognito.__main__ import main; main(sys.argv[1:])".into(),
                     "--quiet".into(), "--output-directory".into(), od.clone(), dir.clone()],
                "full profile + UID remap, one file per instance",
            ),
            (
                "dicom-anonymizer",
                Work::Deid,
                false,
                vec![venv.join("dicom-anonymizer").display().to_string(), dir.clone(), od.clone()],
                "full profile + UID remap, one file per instance",
            ),
            (
                "dcm2niix",
                Work::Nifti,
                false,
                vec![dcm2niix.display().to_string(), "-z".into(), "n".into(), "-o".into(), od.clone(), dir.clone()],
                "-z n: .nii + .json in a folder",
            ),
            (
                "floor: read every file",
                Work::Floor,
                false,
                vec!["sh".into(), "-c".into(), format!("find '{dir}' -type f -print0 | xargs -0 cat > /dev/null")],
                "cat > /dev/null (page cache warm)",
            ),
            (
                "floor: zip -0 -r",
                Work::Floor,
                false,
                vec!["zip".into(), "-0".into(), "-r".into(), "-q".into(), format!("{od}/floor.zip"), dir.clone()],
                "stored, no compression",
            ),
        ];
        commands.retain(|c| want(c.0));
        // Warm the page cache once, so that no tool pays for the disk.
        let _ = Command::new("sh")
            .args(["-c", &format!("find '{dir}' -type f -print0 | xargs -0 cat > /dev/null")])
            .status();
        for (tool, work, ours, argv, note) in commands {
            eprintln!("bench: {} / {tool} ...", study.name);
            let mut row = Row { study: study.name, work, tool: tool.into(), ours, walls: vec![], peak: None, note: note.into(), error: None };
            run_reps(&argv, reps, &o, &bench, &mut row);
            if row.error.is_none() {
                row.note = format!("{}; out {}", row.note, output_summary(&o));
            }
            report_row(&row);
            rows.push(row);
        }
        let _ = std::fs::remove_dir_all(&o);

        // Browser: this project's page (DICOM basic, NIfTI) and the peers' page.
        let browser_runs: Vec<(&str, Work, bool)> = vec![
            ("capture page (basic)", Work::Deid, true),
            ("capture page (nifti)", Work::Nifti, true),
            ("dcmjs (Chromium)", Work::Deid, false),
            ("@niivue/dcm2niix (Chromium)", Work::Nifti, false),
        ];
        for (tool, work, ours) in browser_runs {
            if !want(tool) {
                continue;
            }
            eprintln!("bench: {} / {tool} ...", study.name);
            let mut row = Row { study: study.name, work, tool: tool.into(), ours, walls: vec![], peak: None, note: String::new(), error: None };
            let result = if ours {
                page_runs(&dist, study, work, reps, &bench, &mut row)
            } else {
                peer_page_runs(&bench.join("www"), study, tool, reps, &bench, &mut row)
            };
            if let Err(e) = result {
                row.error = Some(e);
            }
            report_row(&row);
            rows.push(row);
        }
    }

    let mut studies = studies;
    // The redaction study, generated once for its CLI and page rows.
    if want(REDACT) || want(REDACT_PAGE) {
        let study = ultrasound_study(&studies_dir, quick);
        if want(REDACT) {
            rows.push(redact_row(&study, &capture, &key, &out, reps, &bench));
        }
        if want(REDACT_PAGE) {
            rows.push(redact_page_row(&study, &dist, reps, &bench));
        }
        studies.push(study);
    }
    // The face removal study: a generated 1 mm 3D T1 of 176 × 256 × 256.
    if want(DEFACE) || want(DEFACE_PAGE) {
        let study = head_study(&studies_dir);
        if want(DEFACE) {
            rows.push(deface_row(&study, &capture, &key, &out, reps, &bench));
        }
        if want(DEFACE_PAGE) {
            let mut row = Row { study: study.name, work: Work::Deface, tool: DEFACE_PAGE.into(), ours: true, walls: vec![], peak: None, note: String::new(), error: None };
            if let Err(e) = page_runs(&dist, &study, Work::Deface, reps, &bench, &mut row) {
                row.error = Some(e);
            }
            report_row(&row);
            rows.push(row);
        }
        studies.push(study);
    }
    let text = render(&rows, &studies, reps, quick, started.elapsed());
    println!("{text}");
    let path = bench.join(if quick { "results-quick.md" } else { "results.md" });
    std::fs::write(&path, &text).expect("write results");
    eprintln!("bench: wrote {} ({:.0} s in total)", path.display(), started.elapsed().as_secs_f64());
}

const REDACT: &str = "capture CLI (clean-pixel-data)";
const REDACT_PAGE: &str = "capture page (clean-pixel-data)";

/// The redaction study: one ultrasound cine, 640×480 RGB, its header band of burned-in text on
/// every frame (300 frames, 276 MB; 30 when quick).
fn ultrasound_study(studies_dir: &Path, quick: bool) -> Study {
    let cine = capture_tests::ultrasound::Cine::typical(if quick { 30 } else { 300 }, true);
    let dir = studies_dir.join("us-cine");
    let file = dir.join("cine.dcm");
    let stamp = studies_dir.join(".us-cine.complete");
    if !stamp.is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        cine.write(&file);
        std::fs::write(&stamp, "").unwrap();
    }
    let bytes = std::fs::metadata(&file).unwrap().len();
    eprintln!("bench: us-cine: {} frames, {:.1} MB in {}", cine.frames, bytes as f64 / 1e6, dir.display());
    Study { name: "us-cine", dir, files: vec![file], bytes }
}

/// The CLI with clean-pixel-data on the cine: every frame decoded, searched for text, boxed
/// and written; frames/s in the note.
fn redact_row(study: &Study, capture: &Path, key: &Path, out: &Path, reps: usize, bench: &Path) -> Row {
    let o = out.join(study.name);
    let argv: Vec<String> = [
        &capture.display().to_string(), "export", "--out", &o.join("capture.zip").display().to_string(),
        "--report", &o.join("report.json").display().to_string(), "--secret-file", &key.display().to_string(),
        "--preset", "basic", "--option", "clean-pixel-data", &study.dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    eprintln!("bench: {} / {REDACT} ...", study.name);
    let mut row = Row { study: study.name, work: Work::Redact, tool: REDACT.into(), ours: true, walls: vec![], peak: None, note: String::new(), error: None };
    run_reps(&argv, reps, &o, bench, &mut row);
    if let (Some(m), None) = (row.median(), &row.error) {
        let report: Value = std::fs::read(o.join("report.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let r = &report["files"][0]["redaction"];
        let frames = r["frames"].as_u64().unwrap_or(0);
        row.note = format!("{frames} frames cleaned, {:.0} frames/s, {} boxes; out {}", frames as f64 / m, r["boxes"].as_array().map_or(0, Vec::len), output_summary(&o));
        if frames == 0 {
            row.error = Some(format!("the cine was not cleaned: {}", report["files"][0]));
        }
    }
    report_row(&row);
    let _ = std::fs::remove_dir_all(&o);
    row
}

const DEFACE: &str = "capture CLI (clean-visual-features)";
const DEFACE_PAGE: &str = "capture page (clean-visual-features)";

/// The face removal study: `capture_tests::head::Head::t1_1mm`, 256 files of 176 × 256.
fn head_study(studies_dir: &Path) -> Study {
    let dir = studies_dir.join("head-t1");
    let stamp = studies_dir.join(".head-t1.complete");
    if !stamp.is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        capture_tests::head::Head::t1_1mm().write(&dir, 900);
        std::fs::write(&stamp, "").unwrap();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let bytes = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    eprintln!("bench: head-t1: {} files, {:.1} MB in {}", files.len(), bytes as f64 / 1e6, dir.display());
    Study { name: "head-t1", dir, files, bytes }
}

/// The CLI with clean-visual-features, NIfTI out: the head registered, its face cleared.
fn deface_row(study: &Study, capture: &Path, key: &Path, out: &Path, reps: usize, bench: &Path) -> Row {
    let o = out.join(study.name);
    let argv: Vec<String> = [
        &capture.display().to_string(), "export", "--out", &o.join("capture.zip").display().to_string(),
        "--report", &o.join("report.json").display().to_string(), "--secret-file", &key.display().to_string(),
        "--preset", "basic", "--format", "nifti", "--option", "clean-visual-features", &study.dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    eprintln!("bench: {} / {DEFACE} ...", study.name);
    let mut row = Row { study: study.name, work: Work::Deface, tool: DEFACE.into(), ours: true, walls: vec![], peak: None, note: String::new(), error: None };
    run_reps(&argv, reps, &o, bench, &mut row);
    if row.error.is_none() {
        let report: Value = std::fs::read(o.join("report.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let defaced = report["files"].as_array().map_or(0, |f| f.iter().filter(|f| f["defaced"] == json!(true)).count());
        row.note = format!("{defaced} files defaced; out {}", output_summary(&o));
        if defaced == 0 {
            row.error = Some("no file was defaced".into());
        }
    }
    report_row(&row);
    let _ = std::fs::remove_dir_all(&o);
    row
}

/// Runs `argv` `reps` times, each into an emptied `out`: the walls and peak into `row`, or the
/// first error.
fn run_reps(argv: &[String], reps: usize, out: &Path, bench: &Path, row: &mut Row) {
    for _ in 0..reps {
        let _ = std::fs::remove_dir_all(out);
        std::fs::create_dir_all(out).unwrap();
        match run_command(argv, bench) {
            Ok((wall, peak)) => {
                row.walls.push(wall);
                row.peak = row.peak.max(Some(peak));
            }
            Err(e) => {
                row.error = Some(e);
                break;
            }
        }
    }
}

/// The page with clean-pixel-data on the cine, its series' boxes accepted on the review.
fn redact_page_row(study: &Study, dist: &Path, reps: usize, bench: &Path) -> Row {
    let mut row = Row { study: study.name, work: Work::Redact, tool: REDACT_PAGE.into(), ours: true, walls: vec![], peak: None, note: String::new(), error: None };
    if let Err(e) = page_runs(dist, study, Work::Redact, reps, bench, &mut row) {
        row.error = Some(e);
    }
    row.note = format!("boxes accepted on the review as proposed on the first frame (no detection per frame); {}", row.note);
    report_row(&row);
    row
}

fn report_row(row: &Row) {
    match (&row.error, row.median()) {
        (Some(e), _) => eprintln!("bench:   FAILED: {e}"),
        (None, Some(m)) => eprintln!(
            "bench:   median {m:.2} s {:?}, peak {} MB; {}",
            row.walls.iter().map(|w| (w * 100.0).round() / 100.0).collect::<Vec<_>>(),
            row.peak.map(|p| p / 1_000_000).unwrap_or(0),
            row.note
        ),
        _ => {}
    }
}

/// Runs `argv` under `/usr/bin/time -v`; returns (wall seconds, peak RSS bytes).
fn run_command(argv: &[String], bench: &Path) -> Result<(f64, u64), String> {
    let timefile = bench.join("time.txt");
    let t = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg("-o")
        .arg(&timefile)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time {}: {e}", argv[0]))?;
    let wall = t.elapsed().as_secs_f64();
    let times = std::fs::read_to_string(&timefile).unwrap_or_default();
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(format!("{} exited with {}: {}", argv[0], output.status, tail.into_iter().rev().collect::<Vec<_>>().join(" | ")));
    }
    let kb = times
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("no peak memory in /usr/bin/time's output: {times}"))?;
    Ok((wall, kb * 1024))
}

/// "N files, X MB" of everything under `dir`.
fn output_summary(dir: &Path) -> String {
    fn walk(d: &Path, n: &mut u64, b: &mut u64) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, n, b);
            } else {
                *n += 1;
                *b += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    let (mut n, mut b) = (0, 0);
    walk(dir, &mut n, &mut b);
    format!("{n} files, {:.1} MB", b as f64 / 1e6)
}

// -------------------------------------------------------------------- browser memory

/// A fresh headless Chromium (profile and downloads under target/bench/chrome/<slug>).
fn browser(bench: &Path, slug: &str) -> Result<(ChromeDriver, Session, PathBuf), String> {
    let base = bench.join("chrome").join(slug);
    let _ = std::fs::remove_dir_all(&base);
    let (profile, downloads) = (base.join("profile"), base.join("downloads"));
    std::fs::create_dir_all(&profile).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&downloads).map_err(|e| e.to_string())?;
    let driver = ChromeDriver::start(&chromedriver_path())?;
    let session = Session::new(&driver, &chrome_path(), &profile, &downloads)?;
    Ok((driver, session, profile))
}

fn select_files(session: &Session, study: &Study) -> Result<(), String> {
    let paths: Vec<String> = study.files.iter().map(|p| p.display().to_string()).collect();
    session.find("#files")?.send_keys(&paths.join("\n"))?;
    let n = session.execute("return document.getElementById('files').files.length;", vec![])?;
    if n != json!(study.files.len()) {
        return Err(format!("#files holds {n} files, expected {}", study.files.len()));
    }
    Ok(())
}

/// Polls `window.__bench` until `done`; returns it.
fn wait_bench(session: &Session, timeout: Duration) -> Result<Value, String> {
    session.wait_for("the run to finish", timeout, || {
        let v = session.execute("return window.__bench || null;", vec![])?;
        Ok((v["done"] == json!(true)).then_some(v))
    })
}

/// In the page: click Run, click Confirm as soon as the review is ready, and time Run → the
/// finished zip (the #download link gets its blob: URL) with performance.now().
const PAGE_RUN: &str = r#"
const $ = (id) => document.getElementById(id);
window.__bench = { done: false };
const run = $('run'), confirm = $('confirm'), dl = $('download');
const t0 = performance.now();
let tReview = null, tConfirm = null;
run.click();
const tick = () => {
  // Clean Pixel Data: every proposed series accepted as the review shows it.
  const pending = [...document.querySelectorAll('.pixel-accept')].filter((b) => !b.checked && !b.disabled);
  if (tConfirm === null && !confirm.disabled && pending.length) pending.forEach((b) => b.click());
  if (tConfirm === null && !confirm.disabled) {
    tReview = performance.now();
    confirm.click();
    tConfirm = performance.now();
  }
  const href = dl.getAttribute('href') || '';
  if (href.startsWith('blob:')) {
    const t = performance.now();
    window.__bench = { done: true, ms: t - t0, scanMs: tReview - t0, exportMs: t - tConfirm,
      timing: JSON.parse(($('report') || {dataset: {}}).dataset.timing || '{}'),
      link: dl.textContent, counts: ($('report-counts') || {}).textContent || '' };
    return;
  }
  const err = document.querySelector('.msg-error');
  if (err && err.textContent) { window.__bench = { done: true, error: err.textContent }; return; }
  setTimeout(tick, 2);
};
tick();
return true;
"#;

fn page_runs(dist: &Path, study: &Study, work: Work, reps: usize, bench: &Path, row: &mut Row) -> Result<(), String> {
    if !dist.join("index.html").is_file() {
        return Err(format!("{} has no index.html: run `make dist`", dist.display()));
    }
    let server = Server::start(dist, 0).map_err(|e| format!("server: {e}"))?;
    let url = format!("{}?save=link", server.url());
    let slug = format!("page-{}-{:?}", study.name, work).to_lowercase();
    let (_driver, session, profile) = browser(bench, &slug)?;
    let sampler = Sampler::start(profile.display().to_string(), Duration::from_millis(25));
    let mut ids = vec![];
    for rep in 0..reps {
        session.goto(&url)?;
        session.find("#secret")?.send_keys(PASSPHRASE)?;
        session.execute(
            "const p = document.getElementById('preset'); p.value = 'basic'; p.dispatchEvent(new Event('change', {bubbles: true}));\
             const f = document.getElementById(arguments[0]); f.checked = true; f.dispatchEvent(new Event('change', {bubbles: true}));\
             for (const name of ['clean-pixel-data', 'clean-visual-features']) {\
               const o = document.querySelector(`input[name=\"option\"][value=\"${name}\"]`);\
               if (o) { o.checked = name === arguments[1]; o.dispatchEvent(new Event('change', {bubbles: true})); }\
             } return true;",
            vec![
                json!(if matches!(work, Work::Nifti | Work::Deface) { "format-nifti" } else { "format-dicom" }),
                json!(match work {
                    Work::Redact => "clean-pixel-data",
                    Work::Deface => "clean-visual-features",
                    _ => "",
                }),
            ],
        )?;
        select_files(&session, study)?;
        session.wait_for("#run to be enabled", Duration::from_secs(60), || {
            Ok(session.find("#run")?.is_enabled()?.then_some(()))
        })?;
        std::thread::sleep(Duration::from_millis(300)); // let the fresh page settle before timing
        // Chromium's own share of the peak: its processes with the page loaded, before Run.
        let idle = usage(&profile.display().to_string()).rss_sum;
        sampler.reset();
        session.execute(PAGE_RUN, vec![])?;
        let v = wait_bench(&session, Duration::from_secs(900))?;
        if let Some(e) = v["error"].as_str() {
            return Err(format!("the page reported an error: {e}"));
        }
        row.walls.push(v["ms"].as_f64().unwrap_or(0.0) / 1000.0);
        row.peak = row.peak.max(Some(sampler.peak().rss_sum));
        // Where the worker's time went (profile evidence for issue 8), from the worker's timing.
        let worker = |key: &str| v["timing"][key].as_f64().unwrap_or(0.0) / 1000.0;
        ids.push(format!(
            "before Run {} MB; scan {:.2} s + export {:.2} s; worker: read wait {:.2} s, copy in {:.2} s, wasm {:.2} s, write {:.2} s, \
             plan+review {:.2} s, waiting for confirm {:.2} s, open+close output {:.2} s, report {:.2} s; \
             page showing the result {:.2} s",
            idle / 1_000_000,
            v["scanMs"].as_f64().unwrap_or(0.0) / 1000.0,
            v["exportMs"].as_f64().unwrap_or(0.0) / 1000.0,
            worker("read"),
            worker("copy"),
            worker("wasm"),
            worker("write"),
            worker("plan"),
            worker("review"),
            worker("open") + worker("close"),
            worker("report"),
            worker("page"),
        ));
        if rep == reps - 1 {
            row.note = format!(
                "Run→zip timed in the page ({}); {}",
                ids.join(", "),
                v["link"].as_str().unwrap_or("").trim()
            );
        }
    }
    Ok(())
}

fn peer_page_runs(www: &Path, study: &Study, tool: &str, reps: usize, bench: &Path, row: &mut Row) -> Result<(), String> {
    if !www.join("peers.html").is_file() {
        return Err(format!("{} has no peers.html: run webdriver/bench/setup.sh", www.display()));
    }
    let server = PlainServer::start(www.to_path_buf())?;
    let url = format!("http://{}/peers.html", server.addr);
    let id = if tool.starts_with("dcmjs") { "dcmjs" } else { "niivue-dcm2niix" };
    let slug = format!("{id}-{}", study.name);
    let (_driver, session, profile) = browser(bench, &slug)?;
    session.set_script_timeout(Duration::from_secs(100))?;
    let sampler = Sampler::start(profile.display().to_string(), Duration::from_millis(25));
    for rep in 0..reps {
        session.goto(&url)?;
        session.execute_async(
            "const done = arguments[arguments.length - 1]; \
             (async () => { for (let i = 0; i < 200 && !window.benchInit; i++) await new Promise(r => setTimeout(r, 25)); \
               await window.benchInit(arguments[0]); })().then(() => done(true), (e) => done(String(e)));",
            vec![json!(id)],
        )?;
        select_files(&session, study)?;
        std::thread::sleep(Duration::from_millis(300));
        let idle = usage(&profile.display().to_string()).rss_sum;
        sampler.reset();
        session.execute("return window.benchRun(arguments[0]);", vec![json!(id)])?;
        let v = wait_bench(&session, Duration::from_secs(900))?;
        if let Some(e) = v["error"].as_str() {
            return Err(format!("{tool}: {}", e.lines().next().unwrap_or(e)));
        }
        row.walls.push(v["ms"].as_f64().unwrap_or(0.0) / 1000.0);
        row.peak = row.peak.max(Some(sampler.peak().rss_sum));
        if rep == reps - 1 {
            row.note = format!(
                "timed in the page, wasm loaded before; before Run {} MB; out {:.1} MB{}",
                idle / 1_000_000,
                v["outBytes"].as_f64().unwrap_or(0.0) / 1e6,
                if id == "dcmjs" { " (Blobs, no zip; partial profile, no UID remap)" } else { " (-z n)" }
            );
        }
    }
    let requests: Vec<String> = server.requests();
    let outside: Vec<&String> = requests.iter().filter(|r| r.contains("http")).collect();
    if !outside.is_empty() {
        return Err(format!("unexpected requests: {outside:?}"));
    }
    Ok(())
}

/// A minimal static server for the peers' page (no CSP headers: the peers fetch their own
/// wasm and start workers; the page's <meta> policy still allows only this origin).
struct PlainServer {
    addr: std::net::SocketAddr,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl PlainServer {
    fn start(root: PathBuf) -> Result<PlainServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                let log = l2.clone();
                std::thread::spawn(move || serve_one(stream, &root, &log));
            }
        });
        Ok(PlainServer { addr, log })
    }
    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve_one(mut stream: TcpStream, root: &Path, log: &std::sync::Mutex<Vec<String>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 65536 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(target.clone());
    let (status, body, mime) = match webdriver::server::resolve_target(&target) {
        Ok(rel) => match std::fs::read(root.join(&rel)) {
            Ok(b) => ("200 OK", b, webdriver::server::mime_type(&rel)),
            Err(_) => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        },
        Err(_) => ("400 Bad Request", b"bad request".to_vec(), "text/plain"),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

// -------------------------------------------------------------------- table

fn fmt_s(s: f64) -> String {
    if s < 10.0 { format!("{s:.2}") } else { format!("{s:.1}") }
}

fn render(rows: &[Row], studies: &[Study], reps: usize, quick: bool, total: Duration) -> String {
    let mut t = String::new();
    let host = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(t, "# capture bench{}\n", if quick { " (BENCH_QUICK: small studies, not the goals' inputs)" } else { "" });
    let _ = writeln!(t, "Machine: {cores} cores, {host}. Median of {reps} run(s) (min–max); wall seconds; MB/s and files/s over the input; peak memory: `/usr/bin/time -v` max RSS for commands, the sum of VmRSS over Chromium's processes sampled every 25 ms for the browser (max over the runs). Page cache warm.\n");
    for s in studies {
        let _ = writeln!(t, "- **{}**: {} files, {:.1} MB (`{}`)", s.name, s.files.len(), s.bytes as f64 / 1e6, s.dir.display());
    }
    let _ = writeln!(t, "\n| study | work | tool | median s | min–max s | MB/s | files/s | peak MB | notes |");
    let _ = writeln!(t, "|---|---|---|---:|---:|---:|---:|---:|---|");
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (studies.iter().position(|s| s.name == r.study), r.work, !r.ours));
    for r in &sorted {
        let s = studies.iter().find(|s| s.name == r.study).unwrap();
        let tool = if r.ours { format!("**{}**", r.tool) } else { r.tool.clone() };
        match (r.median(), &r.error) {
            (Some(m), None) => {
                let min = r.walls.iter().cloned().fold(f64::MAX, f64::min);
                let max = r.walls.iter().cloned().fold(0.0, f64::max);
                let _ = writeln!(
                    t,
                    "| {} | {} | {tool} | {} | {}–{} | {:.0} | {:.0} | {} | {} |",
                    r.study,
                    r.work.label(),
                    fmt_s(m),
                    fmt_s(min),
                    fmt_s(max),
                    s.bytes as f64 / 1e6 / m,
                    s.files.len() as f64 / m,
                    r.peak.map(|p| format!("{:.0}", p as f64 / 1e6)).unwrap_or_default(),
                    r.note
                );
            }
            (_, e) => {
                let _ = writeln!(t, "| {} | {} | {tool} | — | — | — | — | — | FAILED: {} |", r.study, r.work.label(), e.clone().unwrap_or_default().replace('|', "/"));
            }
        }
    }

    // Ratios: this project / each peer on the same study and work (time ratio = peer ÷ ours: > 1 = we are faster).
    let _ = writeln!(t, "\n## Ratios (this project vs each peer, same study and work)\n");
    let _ = writeln!(t, "Speed-up = peer's median ÷ ours (> 1: this project is faster); memory = ours ÷ peer's peak.\n");
    let _ = writeln!(t, "| study | ours | peer | speed-up | memory ours/peer |");
    let _ = writeln!(t, "|---|---|---|---:|---:|");
    let ok = |r: &Row| r.error.is_none() && r.median().is_some();
    for ours in sorted.iter().filter(|r| r.ours && ok(r)) {
        for peer in sorted.iter().filter(|p| !p.ours && p.study == ours.study && ok(p)) {
            if peer.work != ours.work && peer.work != Work::Floor {
                continue;
            }
            if peer.work == Work::Floor && ours.work != Work::Deid {
                continue;
            }
            let speed = peer.median().unwrap() / ours.median().unwrap();
            let mem = match (ours.peak, peer.peak) {
                (Some(a), Some(b)) if b > 0 => format!("{:.2}", a as f64 / b as f64),
                _ => String::new(),
            };
            let _ = writeln!(t, "| {} | {} | {} | {speed:.2}× | {mem} |", ours.study, ours.tool, peer.tool);
        }
    }

    // Goals of issue 8.
    let _ = writeln!(t, "\n## Goals (issue 8)\n");
    let find = |study: &str, tool: &str| rows.iter().find(|r| r.study == study && r.tool == tool && ok(r));
    let best = |study: &str, tools: &[&str]| -> Option<(String, f64)> {
        tools
            .iter()
            .filter_map(|tool| find(study, tool).map(|r| (tool.to_string(), r.median().unwrap())))
            .min_by(|a, b| a.1.partial_cmp(&b.1).unwrap())
    };
    let deid_peers = ["dicognito", "dicom-anonymizer", "dcmjs (Chromium)"];
    let mut goal = |what: &str, ratio: Option<(f64, String)>, target: f64, higher_better: bool, unit: &str| {
        let line = match ratio {
            Some((r, detail)) => {
                let met = if higher_better { r >= target } else { r <= target };
                format!("- {} {what}: measured {r:.2}{unit} (goal {} {target}{unit}; {detail})", if met { "MET" } else { "NOT MET" }, if higher_better { "≥" } else { "≤" })
            }
            None => format!("- NOT MEASURED {what} (a run failed or was skipped)"),
        };
        let _ = writeln!(t, "{line}");
    };
    let speedup = |study: &str, ours: &str, peers: &[&str]| -> Option<(f64, String)> {
        let o = find(study, ours)?.median()?;
        let (name, p) = best(study, peers)?;
        Some((p / o, format!("ours {} s, best peer {name} {} s", fmt_s(o), fmt_s(p))))
    };
    goal("ct600 de-identification, page vs best peer", speedup("ct600", "capture page (basic)", &deid_peers), 3.0, true, "×");
    goal("ct600 de-identification, CLI vs best peer", speedup("ct600", "capture CLI (basic)", &deid_peers), 5.0, true, "×");
    goal("mr4d de-identification, page vs best peer", speedup("mr4d", "capture page (basic)", &deid_peers), 10.0, true, "×");
    goal("ct600 NIfTI in the browser, page vs @niivue/dcm2niix", speedup("ct600", "capture page (nifti)", &["@niivue/dcm2niix (Chromium)"]), 2.0, true, "×");
    let mem = (|| {
        let o = find("ct600", "capture page (nifti)")?.peak?;
        let p = find("ct600", "@niivue/dcm2niix (Chromium)")?.peak?;
        Some((o as f64 / p as f64, format!("ours {} MB, @niivue/dcm2niix {} MB", o / 1_000_000, p / 1_000_000)))
    })();
    goal("ct600 NIfTI in the browser, peak memory ours/@niivue", mem, 0.25, false, "");
    goal("ct600 NIfTI native, CLI vs dcm2niix (speed-up)", speedup("ct600", "capture CLI (nifti)", &["dcm2niix"]), 1.0, true, "×");
    let floor = (|| {
        let o = find("ct600", "capture page (basic)")?.median()?;
        let z = find("ct600", "floor: zip -0 -r")?.median()?;
        Some((o / z, format!("page {} s, zip -0 -r {} s", fmt_s(o), fmt_s(z))))
    })();
    goal("ct600 page DICOM export vs `zip -0 -r` (time ratio)", floor, 1.5, false, "×");
    let _ = writeln!(t, "\nTotal bench time {:.0} s.", total.as_secs_f64());
    t
}
