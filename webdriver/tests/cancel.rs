//! Cancel mid-export, then a second export of the same selection completes, without a reload,
//! and still equals the CLI's zip.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use webdriver::server::Server;

/// Copies of a few small files, each a distinct instance (otherwise all but one would be
/// dropped as duplicates before the export): enough work that Cancel lands while the zip is
/// being written.
const COPIES: usize = 300;
const SOURCES: &[&str] = &["CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm"];

/// Installed in the page: clicks #run, then #confirm once the review is shown, then clicks
/// #cancel as soon as #progress shows partial progress of the export (writing the zip).
/// Resolves with what happened.
const CLICK_RUN_THEN_CANCEL: &str = r#"
const done = arguments[arguments.length - 1];
const $ = (id) => document.getElementById(id);
const progress = $('progress'), download = $('download'), confirm = $('confirm');
let finished = false, confirmed = false, reviewed = 0;
const check = () => {
  if (finished) return;
  if ((download.getAttribute('href') || '').startsWith('blob:')) {
    finished = true; observer.disconnect(); clearInterval(timer);
    done({cancelled: false, value: progress.value, max: progress.max});
    return;
  }
  if (!confirmed) {
    if (!confirm.disabled) { confirmed = true; reviewed = progress.value; confirm.click(); }
    return;
  }
  const max = progress.max, value = progress.value;
  if (progress.dataset.phase === 'export' && value > reviewed && value < max) {
    finished = true; observer.disconnect(); clearInterval(timer);
    $('cancel').click();
    done({cancelled: true, value, max});
  }
};
const observer = new MutationObserver(check);
observer.observe(progress, {attributes: true});
observer.observe(download, {attributes: true});
const timer = setInterval(check, 2);
$('run').click();
"#;

#[test]
fn cancel_then_export_again_without_reload() {
    let dist = dist_dir();
    let inputs_dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for i in 0..COPIES {
        let src = capture_tests::fixtures::pydicom_file(SOURCES[i % SOURCES.len()])
            .unwrap_or_else(|e| panic!("test inputs: {e}"));
        let dst = inputs_dir.path().join(format!("copy{i:04}.dcm"));
        distinct_copy(&src, &dst, i);
        inputs.push(dst.canonicalize().unwrap());
    }
    let date = today();

    let server = Server::start(&dist, 0).expect("start the static server");
    let browser = Browser::start();
    let s = &browser.session;
    s.goto(&page_url(&server.url())).unwrap_or_else(|e| panic!("open {}: {e}", server.url()));
    browser.wait_enabled("#run", Duration::from_secs(60));
    let load_count = server.request_count();

    browser.enter(&inputs);

    // First export: cancelled as soon as it shows partial progress.
    s.set_script_timeout(Duration::from_secs(120)).unwrap();
    let outcome = s.execute_async(CLICK_RUN_THEN_CANCEL, vec![]).unwrap();
    assert_eq!(
        outcome["cancelled"],
        json!(true),
        "the export finished before Cancel could be clicked ({outcome}); raise COPIES"
    );
    // The cancelled run must not offer a download.
    std::thread::sleep(Duration::from_millis(500));
    let href = s.find("#download").unwrap().property("href").unwrap();
    assert!(
        !href.as_str().unwrap_or("").starts_with("blob:"),
        "#download offers {href} after Cancel"
    );

    // Second export, same page, same selection: completes.
    browser.wait_enabled("#run", Duration::from_secs(60));
    let still_selected = s
        .execute("return document.getElementById('files').files.length;", vec![])
        .unwrap();
    assert_eq!(still_selected.as_u64(), Some(COPIES as u64), "#files lost its selection after Cancel");
    s.find("#run").unwrap().click().unwrap();
    let review = browser.confirm_review(Duration::from_secs(180));
    let n = |k: &str| review[k].as_u64().unwrap_or_else(|| panic!("review count {k} missing: {review}"));
    assert_eq!(n("images") + n("skipped") + n("quarantined"), COPIES as u64, "review counts: {review}");
    assert!(n("images") >= 100, "distinct copies should all be exported: {review}");
    let zip_bytes = browser.download_zip(Duration::from_secs(180));
    check_zip_layout(&zip_bytes, &date);

    // No reload happened: the server saw nothing but the first load (a fresh worker after
    // Cancel is allowed to load the worker script again, from the HTTP cache or the server).
    let later: Vec<_> = server.requests().into_iter().skip(load_count).map(|r| r.path).collect();
    assert!(
        !later.iter().any(|p| p == "/" || p.starts_with("/index.html")),
        "the page was reloaded: {later:?}"
    );

    let cli = run_cli(&inputs, &date);
    assert_same_zip(&zip_bytes, &cli, "export after Cancel");
}
