//! Readable at 200 % zoom and operable by keyboard (issue 7, item 9): at a 640 px-wide viewport
//! (what 200 % zoom makes of a 1280 px window for CSS layout), with 2 device pixels per CSS
//! pixel, the main, review and report screens need no horizontal scrolling; every visible
//! control has a name, and Tab reaches each one in document order, with a visible focus.
//!
//! `CAPTURE_SCREENSHOTS=DIR` also writes a full-page PNG of each screen there (for the audit).
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use webdriver::driver::Session;

const TAB: &str = "\u{E004}";

/// Document width against the viewport, and the visible elements that stick out to the right.
const OVERFLOW: &str = r#"
const root = document.documentElement, w = root.clientWidth;
const wide = [...document.querySelectorAll('body *')]
  .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > w + 0.5)
  .filter((e) => !e.closest('.visually-hidden'))
  .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`);
return { scrollWidth: root.scrollWidth, clientWidth: w, wide: wide.slice(0, 10) };
"#;

/// The visible, enabled controls in document order, each with its accessible name (label,
/// aria-label(ledby), or own text) and a key to recognise it when focused.
const CONTROLS: &str = r#"
const sel = 'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])';
const key = (e) => e.id || `${e.tagName}:${[...document.querySelectorAll(e.tagName)].indexOf(e)}`;
const name = (e) => {
  const by = e.getAttribute('aria-labelledby');
  if (by) return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
  if (e.getAttribute('aria-label')) return e.getAttribute('aria-label').trim();
  if (e.labels && e.labels.length) return [...e.labels].map((l) => l.textContent).join(' ').trim();
  if (['BUTTON', 'A', 'SUMMARY'].includes(e.tagName)) return e.textContent.trim();
  return e.title || '';
};
// File inputs may be visually hidden behind a styled label: they still take the focus.
const shown = (e) => e.getClientRects().length > 0 || (e.type === 'file' && e.labels?.length);
return [...document.querySelectorAll(sel)]
  .filter((e) => shown(e) && !e.disabled && !e.closest('[hidden], fieldset:disabled'))
  .map((e) => ({ key: key(e), name: name(e) }));
"#;

/// The focused element's key (as in CONTROLS) and whether its focus is drawn.
const FOCUSED: &str = r#"
const e = document.activeElement;
if (!e || e === document.body) return null;
const key = e.id || `${e.tagName}:${[...document.querySelectorAll(e.tagName)].indexOf(e)}`;
// An input that is not rendered itself would show its focus on its label.
const shown = e.getClientRects().length || !e.labels?.length ? e : e.labels[0];
const cs = getComputedStyle(shown);
const drawn = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none';
return { key, drawn };
"#;

fn screen(s: &Session, name: &str) {
    let overflow = s.execute(OVERFLOW, vec![]).unwrap();
    eprintln!("zoom: {name}: scrollWidth {} / clientWidth {}", overflow["scrollWidth"], overflow["clientWidth"]);
    if let Some(dir) = std::env::var_os("CAPTURE_SCREENSHOTS") {
        let png = base64::engine::general_purpose::STANDARD.decode(s.screenshot_base64().unwrap()).unwrap();
        let path = std::path::Path::new(&dir).join(format!("zoom-{name}.png"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("zoom: {name}: screenshot {}", path.display());
    }
    assert!(
        overflow["scrollWidth"].as_u64() <= overflow["clientWidth"].as_u64(),
        "{name}: the page scrolls sideways at 640 px: {overflow}"
    );
    keyboard(s, name);
}

/// Every visible control is named and Tab visits them all, in document order, focus drawn.
fn keyboard(s: &Session, name: &str) {
    let controls: Vec<Value> = serde_json::from_value(s.execute(CONTROLS, vec![]).unwrap()).unwrap();
    assert!(!controls.is_empty(), "{name}: no control found");
    let unnamed: Vec<&Value> = controls.iter().filter(|c| c["name"].as_str().unwrap_or("").is_empty()).collect();
    assert!(unnamed.is_empty(), "{name}: controls without a label or name: {unnamed:?}");

    // Start from the top of the document, then Tab through everything once.
    s.execute("document.activeElement?.blur(); window.scrollTo(0, 0); document.body.focus();", vec![]).unwrap();
    let mut visited: Vec<String> = Vec::new();
    for _ in 0..controls.len() + 5 {
        s.press(TAB).unwrap();
        let Some(f) = s.execute(FOCUSED, vec![]).unwrap().as_object().cloned() else { continue };
        let key = f["key"].as_str().unwrap().to_string();
        if visited.first() == Some(&key) {
            break; // wrapped around
        }
        assert_eq!(f["drawn"], json!(true), "{name}: no visible focus on {key}");
        visited.push(key);
    }
    // Radio buttons of one group are one tab stop: only the checked one is reached.
    let expected: Vec<String> = controls.iter().map(|c| c["key"].as_str().unwrap().to_string()).collect();
    let reached: Vec<&String> = expected.iter().filter(|k| visited.contains(k)).collect();
    let missed: Vec<&String> =
        expected.iter().filter(|k| !visited.contains(k) && !k.starts_with("format-")).collect();
    assert!(missed.is_empty(), "{name}: Tab never reaches {missed:?} (visited {visited:?})");
    // The browser starts from where the focus last was: compare from the first control on.
    let start = visited.iter().position(|k| Some(&k) == reached.first()).unwrap_or(0);
    visited.rotate_left(start);
    let order: Vec<&String> = visited.iter().filter(|k| expected.contains(k)).collect();
    assert_eq!(order, reached, "{name}: Tab does not follow the document order");
}

#[test]
fn readable_at_200_percent_and_operable_by_keyboard() {
    let (_server, browser, _url) = open_page();
    let s = &browser.session;
    // 200 % zoom of a 1280 × 900 window: a 640 × 450 CSS-pixel viewport, 2 device px per CSS px.
    s.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 640, "height": 450, "deviceScaleFactor": 2, "mobile": false}),
    )
    .unwrap();
    let width = s.execute("return document.documentElement.clientWidth;", vec![]).unwrap();
    assert!(width.as_u64().is_some_and(|w| w <= 640), "the viewport is {width} px wide, not 640");
    screen(s, "main");

    // The review, with a table (its column rules are controls) and a file left out.
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_inputs(dir.path(), &["CT_small.dcm", "MR_small.dcm"]);
    let csv = dir.path().join("a-rather-long-table-name-as-hospital-exports-name-them-2026-11-25.csv");
    std::fs::write(&csv, "PatientID,Nom,DateNaissance,Diagnostic principal du séjour\nCT1,Doe,1961-07-04,J18\n").unwrap();
    inputs.push(csv);
    browser.enter(&inputs);
    browser.run_to_review(Duration::from_secs(120));
    screen(s, "review");

    s.find("#confirm").unwrap().click().unwrap();
    browser.wait_download_link(Duration::from_secs(120));
    screen(s, "report");
}
