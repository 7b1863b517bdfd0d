//! The site secret and the settings: a new key file (256 random bits, base32, downloaded),
//! loading a key file as the CLI reads it, "remember on this computer", and settings kept
//! between visits.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn key_file_remember_and_settings_survive_a_reload() {
    let (_server, browser, url) = open_page();
    let s = &browser.session;
    let value = |css: &str, prop: &str| s.find(css).unwrap().property(prop).unwrap();

    // A new key file: downloaded, and put in the secret field.
    s.find("#secret-generate").unwrap().click().unwrap();
    let key = value("#secret", "value").as_str().unwrap().to_string();
    assert!(key.len() == 52 && key.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)), "key {key:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let file = loop {
        let found = std::fs::read_dir(browser.downloads.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "key"));
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no .key file downloaded");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{key}\n"));

    // Loading a key file: its text without the trailing line breaks, as `--secret-file`.
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("site.key");
    std::fs::write(&keyfile, "OTHERSITEKEY234567\r\n").unwrap();
    s.find("#secret-file").unwrap().send_keys(&keyfile.display().to_string()).unwrap();
    s.wait_for("the key file to load", Duration::from_secs(10), || {
        Ok((s.find("#secret")?.property("value")? == json!("OTHERSITEKEY234567")).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // Remember it, change settings, reload: everything is back.
    s.find("#secret-remember").unwrap().click().unwrap();
    s.execute(
        "const p = document.getElementById('preset'); p.value = 'basic'; p.dispatchEvent(new Event('change'));",
        vec![],
    )
    .unwrap();
    s.find("#opt-retain-uids").unwrap().click().unwrap();
    s.find("#ready-marker").unwrap().click().unwrap();
    s.goto(&url).unwrap();
    browser.wait_enabled("#run", Duration::from_secs(60));
    assert_eq!(value("#secret", "value"), json!("OTHERSITEKEY234567"));
    assert_eq!(value("#secret-remember", "checked"), json!(true));
    assert_eq!(value("#preset", "value"), json!("basic"));
    assert_eq!(value("#opt-retain-uids", "checked"), json!(true));
    assert_eq!(value("#ready-marker", "checked"), json!(true));
    assert_eq!(value("#year-folder", "checked"), json!(false));

    // Forgetting it removes it from the browser's storage.
    s.find("#secret-remember").unwrap().click().unwrap();
    let stored = s.execute("return localStorage.getItem('capture.secret');", vec![]).unwrap();
    assert_eq!(stored, json!(null));
}
