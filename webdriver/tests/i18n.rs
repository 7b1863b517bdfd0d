//! English and French: every `data-i18n` key of the page exists in both languages, both
//! languages have the same keys, plural forms and placeholders; the language switch changes
//! the page's text and `<html lang>` at once and is remembered across a reload.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The `{name}` placeholders of a string or of each form of a plural entry.
fn placeholders(v: &Value) -> BTreeSet<String> {
    let text = v.to_string();
    text.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(name, _)| name.to_string()).collect()
}

#[test]
fn every_key_exists_in_english_and_french_and_the_switch_is_remembered() {
    let (_server, browser, url) = open_page();
    let s = &browser.session;

    let strings = s.execute("return globalThis.captureStrings;", vec![]).unwrap();
    let (en, fr) = (strings["en"].as_object().expect("i18n/en.js strings"), strings["fr"].as_object().expect("i18n/fr.js strings"));
    let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(en), keys(fr), "i18n/en.js and i18n/fr.js have different strings");
    // The reasons a file is left out, by the report's code: the same codes in both languages.
    let reasons = s.execute("return globalThis.captureReasons;", vec![]).unwrap();
    let fr_reasons = reasons["fr"].as_object().expect("i18n/fr.js reasons");
    assert_eq!(keys(reasons["en"].as_object().expect("i18n/en.js reasons")), keys(fr_reasons), "different reason codes");
    assert!(fr_reasons.values().all(|v| v.as_str().is_some_and(|s| !s.is_empty())), "an empty French reason");
    for (key, text) in en {
        let other = &fr[key];
        assert_eq!(text.is_object(), other.is_object(), "{key}: plain in one language, plural in the other");
        if let (Some(a), Some(b)) = (text.as_object(), other.as_object()) {
            assert_eq!(keys(a), keys(b), "{key}: different forms");
        }
        assert_eq!(placeholders(text), placeholders(other), "{key}: different placeholders");
        assert_ne!(other.as_str(), Some(""), "{key}: empty in French");
    }
    let used = s
        .execute("return [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n);", vec![])
        .unwrap();
    let used: BTreeSet<String> = serde_json::from_value(used).unwrap();
    let missing: Vec<_> = used.iter().filter(|k| !en.contains_key(*k) || !fr.contains_key(*k)).collect();
    assert!(missing.is_empty(), "data-i18n keys missing from the strings: {missing:?}");
    // The page's own keys too (t('...') in www/ui/): every one the page shows is checked above;
    // here, the rule labels the review builds.
    for key in ["ruleKeep", "ruleDrop", "rulePatientId", "ruleVisit", "ruleDate", "ruleBirthDate", "linkage", "kWarning"] {
        assert!(en.contains_key(key) && fr.contains_key(key), "{key}");
    }

    // Headless Chromium runs in English; switch to French.
    let text = |css: &str| s.find(css).unwrap().text().unwrap();
    let lang = || s.execute("return document.documentElement.lang;", vec![]).unwrap();
    assert_eq!(lang(), json!("en"));
    assert_eq!(text("#run"), en["run"].as_str().unwrap());
    s.execute("const l = document.getElementById('lang'); l.value = 'fr'; l.dispatchEvent(new Event('change'));", vec![])
        .unwrap();
    assert_eq!(lang(), json!("fr"));
    assert_eq!(text("#run"), fr["run"].as_str().unwrap());
    assert_eq!(text("#selection-summary"), fr["selNone"].as_str().unwrap());
    s.goto(&url).unwrap();
    browser.wait_enabled("#run", Duration::from_secs(60));
    assert_eq!(lang(), json!("fr"), "the language is not remembered");
    assert_eq!(text("h1"), fr["heading"].as_str().unwrap());
    assert_eq!(s.find("#lang").unwrap().property("value").unwrap(), json!("fr"));

    // The core's reasons are English; in French the page shows its own text for their code, on
    // the review and in the report (notes.txt: neither DICOM nor a table).
    let inputs_dir = tempfile::tempdir().unwrap();
    let inputs = stage_inputs(inputs_dir.path(), &["CT_small.dcm"]);
    browser.enter(&inputs);
    browser.run_to_review(Duration::from_secs(120));
    let not_dicom = fr_reasons["not-dicom"].as_str().unwrap();
    let french = format!("{} : {}", fr["outcomeSkipped"].as_str().unwrap(), not_dicom);
    let excluded = text("#review-excluded");
    assert!(excluded.contains(not_dicom), "review in French: {excluded}");
    assert!(excluded.contains(fr["outcomeSkipped"].as_str().unwrap()), "review in French: {excluded}");
    assert!(!excluded.contains("not a DICOM file"), "English reason on the French review: {excluded}");
    s.find("#confirm").unwrap().click().unwrap();
    browser.wait_download_link(Duration::from_secs(120));
    let report = text("#report");
    let line = report.lines().find(|l| l.contains("notes.txt")).unwrap_or_default();
    assert!(line.contains(&french), "report line in French should say {french:?}: {line:?}");
    // The JSON report keeps the English reason beside the code.
    // (Downloaded: the page's policy forbids fetching even its own blob: URLs.)
    s.find("#download-report").unwrap().click().unwrap();
    let json_report: Value = s
        .wait_for("the JSON report download", Duration::from_secs(30), || {
            let found = std::fs::read_dir(browser.downloads.path())
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "json"));
            Ok(found.and_then(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok()))
        })
        .unwrap();
    let notes = json_report["files"].as_array().unwrap().iter().find(|f| f["name"] == json!("notes.txt")).cloned();
    let notes = notes.unwrap_or_else(|| panic!("notes.txt not in the report: {json_report}"));
    assert_eq!(notes["code"], json!("not-dicom"), "{notes}");
    assert!(notes["reason"].as_str().unwrap().starts_with("not a DICOM file"), "{notes}");
}
