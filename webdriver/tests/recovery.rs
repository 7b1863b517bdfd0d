//! Issue 9 through the page: an out-of-memory in the wasm is caught and named, and the next
//! export starts without a reload; the zip does not depend on the order the files were chosen in.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

const SOURCES: &[&str] = &["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "liver_1frame.dcm", "MR_small_implicit.dcm"];

/// V8's limit on a wasm memory, in 64 KiB pages: 128 MiB, a small machine's browser. The
/// engine itself needs a few MiB for these inputs.
const WASM_PAGES: u32 = 2048;

fn sources() -> Vec<PathBuf> {
    SOURCES
        .iter()
        .map(|n| capture_tests::fixtures::pydicom_file(n).unwrap_or_else(|e| panic!("test inputs: {e}")).canonicalize().unwrap())
        .collect()
}

/// A DICOM file that does not fit the limited wasm memory: a distinct instance of CT_small
/// (not a duplicate of the one among the other inputs, which would be exported instead) with
/// a 160 MiB private OB element at its end (after Pixel Data, where a vendor's trailing
/// padding would be).
fn too_big_for_the_wasm(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("huge-study.dcm");
    distinct_copy(&capture_tests::fixtures::pydicom_file("CT_small.dcm").unwrap(), &path, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let length: u32 = 160 << 20;
    bytes.extend([0xE1, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    bytes.extend(length.to_le_bytes());
    bytes.resize(bytes.len() + length as usize, 0);
    std::fs::write(&path, bytes).unwrap();
    path.canonicalize().unwrap()
}

/// Clicks #run and waits until the run ends: the review shown, or an error message.
/// Returns the text of the messages when an error ended it, `None` when the review came.
fn run_until_review_or_error(browser: &Browser) -> Option<String> {
    let s = &browser.session;
    s.find("#run").unwrap().click().unwrap();
    s.wait_for("the review or an error", Duration::from_secs(180), || {
        if s.find("#confirm")?.is_enabled()? {
            return Ok(Some(None));
        }
        let messages = s.find("#messages")?.text()?;
        Ok((!messages.trim().is_empty()).then_some(Some(messages)))
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits for an error message; fails if the export finishes instead.
fn wait_for_error(browser: &Browser) -> String {
    let s = &browser.session;
    s.wait_for("an error message", Duration::from_secs(180), || {
        let href = s.find("#download")?.property("href")?;
        assert!(
            !href.as_str().unwrap_or("").starts_with("blob:"),
            "a 160 MiB file in a 128 MiB wasm memory must fail, not export (is --wasm-max-mem-pages still a V8 flag?)"
        );
        let messages = s.find("#messages")?.text()?;
        Ok((!messages.trim().is_empty()).then_some(messages))
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Exports `inputs` (chosen in this order) through the page and returns the zip's bytes.
fn export(browser: &Browser, inputs: &[PathBuf]) -> Vec<u8> {
    let s = &browser.session;
    browser.select_files(inputs);
    browser.wait_enabled("#run", Duration::from_secs(60));
    s.find("#run").unwrap().click().unwrap();
    browser.confirm_review(Duration::from_secs(120));
    browser.download_zip(Duration::from_secs(120))
}

#[test]
fn out_of_memory_in_the_wasm_is_named_and_the_next_export_works() {
    let dir = tempfile::tempdir().unwrap();
    let huge = too_big_for_the_wasm(dir.path());
    let small = sources();
    let server = webdriver::server::Server::start(&dist_dir(), 0).expect("start the static server");
    let browser = Browser::start_with_args(&[&format!("--js-flags=--wasm-max-mem-pages={WASM_PAGES}")]);
    let s = &browser.session;
    s.goto(&page_url(&server.url())).unwrap();
    browser.wait_enabled("#run", Duration::from_secs(60));
    let loads = server.request_count();
    s.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();

    let mut inputs = small.clone();
    inputs.insert(2, huge.clone());
    browser.select_files(&inputs);
    // The scan reads headers only, so the file may pass it; the export reads it whole.
    let message = match run_until_review_or_error(&browser) {
        Some(message) => message,
        None => {
            s.find("#confirm").unwrap().click().unwrap();
            wait_for_error(&browser)
        }
    };
    eprintln!("the page said: {message}");
    assert!(message.contains("huge-study.dcm"), "the message does not name the file: {message}");
    assert!(message.contains("too large for this browser’s memory"), "the message does not explain: {message}");
    assert!(!message.contains("small.dcm"), "the message names another file: {message}");
    let href = s.find("#download").unwrap().property("href").unwrap();
    assert!(!href.as_str().unwrap_or("").starts_with("blob:"), "a download is offered after the failure: {href}");

    // Without the file that cannot fit, the same page exports, and equals the CLI's zip.
    let zip = export(&browser, &small);
    let cli = run_cli(&small, &today());
    assert_same_zip(&zip, &cli, "export after an out-of-memory");
    let later: Vec<_> = server.requests().into_iter().skip(loads).map(|r| r.path).collect();
    assert!(!later.iter().any(|p| p == "/" || p.starts_with("/index.html")), "the page was reloaded: {later:?}");
}

#[test]
fn the_zip_does_not_depend_on_the_order_files_are_chosen_in() {
    let mut inputs = sources();
    let (_server, browser, _) = open_page();
    browser.session.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();
    let first = export(&browser, &inputs);
    inputs.reverse();
    inputs.swap(0, 2);
    let second = export(&browser, &inputs);
    assert_same_zip(&second, &first, "the same files chosen in another order");
    assert_same_zip(&first, &run_cli(&inputs, &today()), "page and CLI");
    eprintln!("{} inputs in two orders: byte-identical zips of {} bytes, equal to the CLI's", inputs.len(), first.len());
}
