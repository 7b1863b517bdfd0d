//! The acceptance test: the page anonymises real DICOM files offline, in the browser, and its zip
//! is byte-identical to the native CLI's.
//!
//! Needs the built page (`CAPTURE_DIST`, default `<workspace>/dist`), chromedriver and Chromium;
//! fails (never skips) when they are missing. See `tests/common/mod.rs` for the environment.

mod common;

use common::*;
use std::time::Duration;
use webdriver::server::Server;

/// Plain uncompressed pydicom files with PatientName and PatientID set (CT, MR, RT plan/dose,
/// and a multi-vendor CT), in explicit and implicit VR little endian.
const INPUTS: &[&str] = &["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "liver_1frame.dcm"];

#[test]
fn page_exports_offline_and_matches_cli() {
    let dist = dist_dir();
    let inputs_dir = tempfile::tempdir().unwrap();
    let inputs = stage_inputs(inputs_dir.path(), INPUTS);
    let date = today();

    let mut server = Server::start(&dist, 0).expect("start the static server");
    let browser = Browser::start();
    let s = &browser.session;

    s.goto(&page_url(&server.url())).unwrap_or_else(|e| panic!("open {}: {e}", server.url()));
    browser.wait_enabled("#run", Duration::from_secs(60));
    let load_requests = browser.network_requests(); // drains the log up to "loaded"
    assert!(!load_requests.is_empty(), "the performance log saw no request while loading the page");

    browser.enter(&inputs);

    // From here on the page must work offline.
    let served = server.request_count();
    server.stop();
    assert!(
        std::net::TcpStream::connect(server.addr()).is_err(),
        "the stopped server's port still accepts connections"
    );
    // Record (instead of merely refusing) any later connection to the page's origin: this also
    // catches requests from workers, which chromedriver's performance log does not show.
    let tripwire = Server::tripwire(server.addr()).expect("tripwire on the page's address");
    let after_load = browser.network_requests();

    s.find("#run").unwrap().click().unwrap();
    let review = browser.confirm_review(Duration::from_secs(120));
    let href = browser.wait_download_link(Duration::from_secs(120));
    let name = s.find("#download").unwrap().attribute("download").unwrap().unwrap_or_default();
    assert!(name.ends_with(".zip"), "#download's download attribute {name:?} does not end in .zip");
    s.find("#download").unwrap().click().unwrap();
    let zip_path = browser.wait_downloaded_zip(Duration::from_secs(60));
    let report = s.find("#report").unwrap().text().unwrap();
    let after_run = browser.network_requests();

    // Offline: nothing reached the server, and the browser sent nothing anywhere.
    let late: Vec<_> = server.requests().into_iter().skip(served).map(|r| r.path).collect();
    assert!(late.is_empty(), "the server got requests after the page had loaded: {late:?}");
    let tripped: Vec<_> = tripwire.requests().into_iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(tripped.is_empty(), "the page requested from its origin after it had loaded: {tripped:?}");
    assert!(
        after_load.is_empty() && after_run.is_empty(),
        "network requests after the page had loaded (href {href}):\n  between load and Run: {after_load:?}\n  \
         after Run: {after_run:?}"
    );

    // The report names every input, and the non-DICOM one as skipped.
    for input in &inputs {
        let file = input.file_name().unwrap().to_string_lossy();
        assert!(report.contains(&*file), "#report does not mention {file}:\n{report}");
    }
    // The output audit says how many files it searched, and that it found nothing.
    let audit = s.find("#report-audit").unwrap().text().unwrap();
    assert!(
        audit.starts_with("Output audit: ") && audit.ends_with("none was found.") && !audit.contains(" 0 files"),
        "#report-audit: {audit:?}"
    );
    let notes_line = report.lines().find(|l| l.contains("notes.txt")).unwrap_or("");
    assert!(
        notes_line.to_lowercase().contains("skipped"),
        "#report does not say notes.txt was skipped (line {notes_line:?}):\n{report}"
    );

    // The zip: layout, dated today, no identifiers left.
    let zip_bytes = std::fs::read(&zip_path).unwrap();
    let entries = check_zip_layout(&zip_bytes, &date);
    assert_no_identifiers(&zip_bytes, &entries, &inputs);

    // Deterministic: the CLI gives the very same bytes.
    let cli = cli::export(&inputs, &date, &["--format", "dicom"]);
    assert_same_zip(&zip_bytes, &cli.zip, "acceptance");

    // The review announced what the export then did (the CLI's report says the same).
    let report: serde_json::Value = serde_json::from_str(&cli.report).expect("the CLI's report is JSON");
    let counts = &report["counts"];
    let visits = report["visits"].as_array().expect("report.visits");
    let series: u64 = visits.iter().map(|v| v["series"].as_u64().unwrap()).sum();
    let mut patients: Vec<&str> = visits.iter().map(|v| v["patientResearchId"].as_str().unwrap()).collect();
    patients.sort();
    patients.dedup();
    let expected = serde_json::json!({
        "patients": patients.len(), "visits": visits.len(), "series": series,
        "images": counts["exported"], "tables": 0,
        "skipped": counts["skipped"], "quarantined": counts["quarantined"],
    });
    assert_eq!(review, expected, "the review's counts differ from what the export did");
    assert!(review["skipped"].as_u64() >= Some(1), "notes.txt should be counted as skipped in the review");
}

/// With "Also prepare the UID and patient ID mapping" ticked on the review, the page offers
/// after the export one zip holding the two tables `capture export --mapping` writes, byte for
/// byte (the export zip itself stays the CLI's, without them).
#[test]
fn page_offers_the_mapping_the_cli_writes() {
    let inputs_dir = tempfile::tempdir().unwrap();
    let inputs = stage_inputs(inputs_dir.path(), INPUTS);
    let date = today();
    let (_server, browser, _url) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    browser.run_to_review(Duration::from_secs(120));
    s.find("#mapping-keep").unwrap().click().unwrap();
    browser.confirm_review(Duration::from_secs(10));
    browser.wait_download_link(Duration::from_secs(120));
    let link = s.find("#download-mapping").unwrap();
    let name = link.attribute("download").unwrap().unwrap_or_default();
    assert_eq!(name, format!("capture-{date}-mapping.zip"));
    link.click().unwrap();
    let zip = std::fs::read(browser.wait_downloaded_zip(Duration::from_secs(60))).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cli = cli::export(&inputs, &date, &["--format", "dicom", "--mapping", dir.path().to_str().unwrap()]);
    let mut page = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("the mapping download is a zip");
    assert_eq!(page.len(), 2);
    for file in ["patid_mapping.csv", "uid_mapping.csv"] {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut page.by_name(file).unwrap(), &mut text).unwrap();
        let expected = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(text, expected, "{file}: the page's differs from the CLI's");
        assert!(text.lines().count() > 1, "{file} has no row");
    }
    let names = zip::ZipArchive::new(std::io::Cursor::new(&cli.zip)).unwrap().file_names().map(|n| n.unwrap().to_string()).collect::<Vec<_>>();
    assert!(names.iter().all(|n| !n.contains("mapping")), "{names:?}");
}
