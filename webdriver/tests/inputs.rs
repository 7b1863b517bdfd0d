//! Inputs as hospital staff give them: a nested folder through the folder picker, and a zip
//! (as a PACS exports it: nested folders, a name that tries to climb out) dropped on the
//! page. Each export goes through the review and must equal the CLI's zip of the same files.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use webdriver::server::Server;

/// Creates a File from the bytes and drops it on #dropzone as a browser would (a DataTransfer
/// holding the file), then resolves once the selection summary mentions it.
const DROP_FILE: &str = r#"
const [name, bytes, done] = arguments;
const file = new File([new Uint8Array(bytes)], name, {type: 'application/zip'});
const dt = new DataTransfer();
dt.items.add(file);
const zone = document.getElementById('dropzone');
for (const type of ['dragenter', 'dragover', 'drop']) {
  zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
}
const summary = document.getElementById('selection-summary');
const wait = () => (/\d/.test(summary.textContent) && !document.getElementById('clear').disabled)
  ? done(summary.textContent) : setTimeout(wait, 20);
wait();
"#;

fn export_in_page(browser: &Browser) -> (Value, Vec<u8>, String) {
    let s = &browser.session;
    s.find("#run").unwrap().click().unwrap();
    let review = browser.confirm_review(Duration::from_secs(120));
    let zip = browser.download_zip(Duration::from_secs(120));
    let report = s.find("#report").unwrap().text().unwrap();
    (review, zip, report)
}

#[test]
fn nested_folder_and_dropped_zip() {
    let dist = dist_dir();
    let date = today();
    let staged = tempfile::tempdir().unwrap();
    let files = stage_inputs(staged.path(), &["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm"]);

    // A nested folder: study/<a>/<b>/file, three levels deep, plus a text file.
    let root = tempfile::tempdir().unwrap();
    let study = root.path().join("study");
    let mut nested: Vec<PathBuf> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let dir = study.join(format!("series{}", i % 2)).join(format!("part{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let dst = dir.join(f.file_name().unwrap());
        std::fs::copy(f, &dst).unwrap();
        nested.push(dst);
    }

    let server = Server::start(&dist, 0).expect("start the static server");
    let browser = Browser::start();
    let s = &browser.session;
    s.goto(&page_url(&server.url())).unwrap_or_else(|e| panic!("open {}: {e}", server.url()));
    browser.wait_enabled("#run", Duration::from_secs(60));
    s.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();

    // 1. The folder picker with the nested folder.
    s.find("#folder").unwrap().send_keys(&study.display().to_string()).unwrap();
    let picked = s
        .execute("return Array.from(document.getElementById('folder').files, f => f.webkitRelativePath);", vec![])
        .unwrap();
    let picked: Vec<String> = serde_json::from_value(picked).unwrap();
    assert_eq!(picked.len(), nested.len(), "#folder did not take every file of the nested folder: {picked:?}");
    assert!(picked.iter().all(|p| p.matches('/').count() == 3), "relative paths lost their folders: {picked:?}");

    let (review, zip, report) = export_in_page(&browser);
    let cli = cli::export(&nested, &date, &["--format", "dicom"]);
    assert_same_zip(&zip, &cli.zip, "nested folder");
    assert_eq!(review["skipped"], json!(1), "notes.txt is the one skipped file: {review}");
    assert!(report.contains("study/series0/part0/CT_small.dcm"), "the report names inputs by relative path:\n{report}");

    // 2. A zip as a PACS exports it, dropped on the page: nested folders, a folder entry, an
    // entry whose name climbs out of the archive and a zip bomb (both ignored, reported).
    s.find("#clear").unwrap().click().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.add_directory("EXPORT/", opts).unwrap();
    let mut in_zip = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let name = format!("EXPORT/P1/ST{}/SE{i}/IM{i}", i % 2);
        let method = if i % 2 == 0 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        w.start_file(name, opts.compression_method(method)).unwrap();
        w.write_all(&std::fs::read(f).unwrap()).unwrap();
        in_zip.push(f.clone());
    }
    w.start_file("../outside/IM9", opts).unwrap();
    w.write_all(&std::fs::read(&files[0]).unwrap()).unwrap();
    // 200 MiB of zeros in ~200 KB: refused from the central directory, never inflated.
    w.start_file("EXPORT/P1/ST0/BOMB", opts.compression_method(zip::CompressionMethod::Deflated)).unwrap();
    for _ in 0..200 {
        w.write_all(&[0u8; 1 << 20]).unwrap();
    }
    let zip_bytes = w.finish().unwrap().into_inner();

    s.set_script_timeout(Duration::from_secs(30)).unwrap();
    let summary = s.execute_async(DROP_FILE, vec![json!("pacs-export.zip"), json!(zip_bytes)]).unwrap();
    assert!(summary.as_str().unwrap_or("").contains('1'), "the dropped zip was not selected: {summary}");

    let (review, zip, report) = export_in_page(&browser);
    let cli = cli::export(&in_zip, &date, &["--format", "dicom"]);
    assert_same_zip(&zip, &cli.zip, "dropped zip");
    assert_eq!(review["skipped"], json!(3), "notes.txt, the climbing entry and the bomb are skipped: {review}");
    assert!(
        report.contains("pacs-export.zip/EXPORT/P1/ST0/SE0/IM0"),
        "the report names zip entries by their path in the zip:\n{report}"
    );
    let climbing = report.lines().find(|l| l.contains("outside/IM9")).unwrap_or("");
    assert!(climbing.contains("skipped"), "the climbing entry is not reported as skipped: {climbing:?}\n{report}");
    let bomb = report.lines().find(|l| l.contains("ST0/BOMB")).unwrap_or("");
    assert!(bomb.contains("skipped") && bomb.contains("zip bomb"), "the bomb is not reported as such: {bomb:?}\n{report}");
}

/// In the page: reader.js given three large files (over SMALL_FILE) with a short stall limit.
/// One reads normally; one's stream never gives a byte but its whole read works; one never
/// gives a byte either way. Gives each read's answer: its length, or its error.
const STALLED_READS: &str = r#"
const done = arguments[arguments.length - 1];
import('./reader.js').then(({ reader, SMALL_FILE }) => {
  const size = SMALL_FILE + 4096;
  const real = new Blob([new Uint8Array(size).fill(7)]);
  const never = () => new Promise(() => {});
  // A File-like whose stream stalls; its whole read works unless `dead`.
  const stalling = (blob, dead) => ({
    size: blob.size,
    slice: (a, b) => stalling(blob.slice(a, b), dead),
    stream: () => ({ getReader: () => ({ read: never, cancel: async () => {} }) }),
    arrayBuffer: () => (dead ? never() : blob.arrayBuffer()),
  });
  const answers = {};
  const r = reader((m) => {
    for (const a of m.reads) answers[a.id] = a.error !== undefined ? { error: a.error } : { length: a.length };
    if (Object.keys(answers).length === 3) done(answers);
  }, { stallMs: 300 });
  r.files([real, stalling(real, false), stalling(real, true)]);
  r.read([0, 1, 2].map((k) => ({ id: k, file: k, len: Infinity })));
}, (err) => done({ importFailed: String(err) }));
"#;

/// A browser read that never settles does not hold the run for ever: reader.js tries the file
/// once more as one whole read, and else answers with an error that names the stall (the export
/// then reports that file and goes on).
#[test]
fn a_stalled_read_is_retried_then_reported() {
    let (mut server, browser, _url) = open_page();
    let s = &browser.session;
    s.set_script_timeout(Duration::from_secs(20)).unwrap();
    let answers = s.execute_async(STALLED_READS, vec![]).unwrap();
    server.stop();
    let size = 256 * 1024 + 4096;
    assert_eq!(answers["0"], json!({ "length": size }), "the normal read: {answers}");
    assert_eq!(answers["1"], json!({ "length": size }), "the stalled stream, read again whole: {answers}");
    let error = answers["2"]["error"].as_str().unwrap_or_else(|| panic!("no error for the dead read: {answers}"));
    assert!(error.contains("gave no bytes of this file"), "{error}");
}
