//! An EHR table on the review screen: the user changes one column's rule (to drop), the zip's
//! CSV then lacks that column, the linkage summary is shown after the export, and the zip is
//! byte-identical to the CLI's with the same rules (`--ehr-profile`) and the layout settings
//! (`.ready` marker, yearly folder) chosen on the page.
//!
//! Needs the built page, chromedriver and Chromium like the acceptance test.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn a_column_set_to_drop_on_the_review_is_left_out_of_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_inputs(dir.path(), &["CT_small.dcm"]);
    let table = dir.path().join("visits.csv");
    // CT_small's PatientID is 1CT1: one patient in both, one in the table only.
    std::fs::write(&table, "PatientID,score,weight\n1CT1,3,70\nXY99,4,80\n").unwrap();
    inputs.push(table.canonicalize().unwrap());
    let date = today();

    let (_server, browser, _) = open_page();
    let s = &browser.session;
    s.find("#secret").unwrap().send_keys(PASSPHRASE).unwrap();
    s.find("#ready-marker").unwrap().click().unwrap();
    s.find("#year-folder").unwrap().click().unwrap();
    browser.select_files(&inputs);
    s.find("#run").unwrap().click().unwrap();

    // The review lists the table's columns with their rules; set "score" to drop.
    browser.wait_enabled_or_report("#confirm", Duration::from_secs(120));
    let rules = s
        .execute(
            "return [...document.querySelectorAll('#review-tables select.rule')]
               .map((e) => [e.dataset.column, e.value]);",
            vec![],
        )
        .unwrap();
    let rules: Vec<(String, String)> = serde_json::from_value(rules).unwrap();
    let rule = |c: &str| rules.iter().find(|(n, _)| n == c).map(|(_, r)| r.clone()).unwrap_or_default();
    assert_eq!(rule("PatientID"), "patient-id", "{rules:?}");
    assert_ne!(rule("score"), "drop", "{rules:?}");
    s.execute(
        "const e = document.querySelector('#review-tables select.rule[data-column=\"score\"]');
         e.value = 'drop'; e.dispatchEvent(new Event('change'));",
        vec![],
    )
    .unwrap();
    // Mark "weight" as a quasi-identifier: the k-anonymity hint counts it after the export.
    s.execute(
        "const q = document.querySelector('#review-tables input.quasi[data-column=\"weight\"]');
         if (q.checked) throw new Error('weight already marked'); q.click();",
        vec![],
    )
    .unwrap();
    let review = browser.confirm_review(Duration::from_secs(10));
    assert_eq!(review["tables"], 1, "{review}");
    let zip = browser.download_zip(Duration::from_secs(120));

    // The CSV lacks the column; the layout settings apply.
    let entries = capture_tests::scan::entries(&zip);
    let year = &date[..4];
    let csv_path = format!("EHR/{year}/{date}/visits.csv");
    let csv = entries.iter().find(|(n, _)| *n == csv_path).map(|(_, d)| String::from_utf8(d.clone()).unwrap());
    let csv = csv.unwrap_or_else(|| panic!("no {csv_path} in {:?}", entries.iter().map(|e| &e.0).collect::<Vec<_>>()));
    let header = csv.lines().next().unwrap();
    assert!(!header.contains("score") && header.contains("PatientID"), "CSV header {header:?}");
    assert_eq!(entries.last().unwrap().0, format!("EHR/{year}/{date}/.ready"));
    assert!(entries.iter().any(|(n, _)| *n == format!("DICOM/{year}/{date}/.ready")));

    // The linkage summary after the export.
    let linkage = s
        .execute("const d = document.getElementById('report-linkage').dataset; return {both: +d.both, tablesOnly: +d.tablesOnly, imagesOnly: +d.imagesOnly};", vec![])
        .unwrap();
    assert_eq!(linkage, serde_json::json!({"both": 1, "tablesOnly": 1, "imagesOnly": 0}));
    assert!(!s.find("#report-tables-block").unwrap().property("hidden").unwrap().as_bool().unwrap());
    // Two rows with two different weights: k = 1 for the marked column.
    let warning = s.find("#report-tables .k-warning").and_then(|w| w.text()).unwrap_or_default();
    assert!(warning.contains("weight") && warning.contains(" 1 "), "k-anonymity warning {warning:?}");

    // The CLI with the same rules as a profile gives the same bytes.
    let work = tempfile::tempdir().unwrap();
    let written = work.path().join("profiles.json");
    let layout = ["--ready-marker", "--year-folder"];
    let first = [&layout[..], &["--ehr-write-profiles", written.to_str().unwrap()]].concat();
    cli::export(&inputs, &date, &first);
    let mut profiles: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    for column in profiles[0]["columns"].as_array_mut().unwrap() {
        if column["name"] == "score" {
            column["rule"] = "drop".into();
        }
        if column["name"] == "weight" {
            column["quasiIdentifier"] = true.into();
        }
    }
    let edited = work.path().join("edited.json");
    std::fs::write(&edited, profiles.to_string()).unwrap();
    let second = [&layout[..], &["--ehr-profile", edited.to_str().unwrap()]].concat();
    assert_same_zip(&zip, &cli::export(&inputs, &date, &second).zip, "edited table rules");
}

/// An ambiguous date column (every day and month 12 or less) shows one value read both ways
/// and a choice; month first chosen on the review reaches the zip's CSV (under the mip
/// preset's month policy: 04.07.2023 → 2023-04-01, not 2023-07-01).
#[test]
fn month_first_chosen_on_the_review_reads_ambiguous_dates_month_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_inputs(dir.path(), &["CT_small.dcm"]);
    let table = dir.path().join("samples.csv");
    std::fs::write(&table, "PatientID,sampled\n1CT1,04.07.2023\nXY99,01.02.2024\n").unwrap();
    inputs.push(table.canonicalize().unwrap());
    let date = today();

    let (_server, browser, _) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    browser.run_to_review(Duration::from_secs(120));
    let shown = s
        .execute(
            "const e = document.querySelector('#review-tables select.date-order[data-column=\"sampled\"]');
             if (!e) return null;
             const text = e.closest('.date-order-choice').querySelector('p').textContent;
             e.value = 'month-first'; e.dispatchEvent(new Event('change'));
             return text;",
            vec![],
        )
        .unwrap();
    let shown = shown.as_str().unwrap_or_default().to_string();
    assert!(shown.contains("04.07.2023") && shown.contains("2023-07-04") && shown.contains("2023-04-07"), "{shown:?}");
    browser.confirm_review(Duration::from_secs(10));
    let zip = browser.download_zip(Duration::from_secs(120));
    let entries = capture_tests::scan::entries(&zip);
    let csv_path = format!("EHR/{date}/samples.csv");
    let csv = entries.iter().find(|(n, _)| *n == csv_path).map(|(_, d)| String::from_utf8(d.clone()).unwrap());
    let csv = csv.unwrap_or_else(|| panic!("no {csv_path} in {:?}", entries.iter().map(|e| &e.0).collect::<Vec<_>>()));
    assert!(csv.contains("\"2023-04-01\"") && csv.contains("\"2024-01-01\"") && !csv.contains("2023-07"), "{csv}");
}

/// A workbook of two visible sheets and a hidden one: the review lists three tables, the
/// hidden one with a box; ticked, its CSV joins the two visible sheets' in the zip.
#[test]
fn a_hidden_sheet_ticked_on_the_review_is_exported_with_the_visible_ones() {
    use capture::table::sheet::samples;
    let sheet = |header: &str, value: &str| {
        format!(
            r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>PatientID</t></is></c><c r="B1" t="inlineStr"><is><t>{header}</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>1CT1</t></is></c><c r="B2" t="inlineStr"><is><t>{value}</t></is></c></row></sheetData></worksheet>"#
        )
    };
    let (visits, labs, notes) = (sheet("Ward", "W2"), sheet("Hb", "13.5"), sheet("Code", "X1"));
    let book = samples::xlsx_of(&[("Visits", false, &visits), ("Labs", false, &labs), ("Notes", true, &notes)]);
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_inputs(dir.path(), &["CT_small.dcm"]);
    let path = dir.path().join("book.xlsx");
    std::fs::write(&path, book).unwrap();
    inputs.push(path.canonicalize().unwrap());
    let date = today();

    let (_server, browser, _) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    browser.run_to_review(Duration::from_secs(120));
    let listed = s
        .execute(
            "const boxes = [...document.querySelectorAll('#review-tables input.hidden-sheet')].map((b) => b.dataset.table);
             document.querySelector('#review-tables input.hidden-sheet').click();
             return [document.querySelectorAll('#review-tables .review-table').length, boxes];",
            vec![],
        )
        .unwrap();
    assert_eq!(listed, serde_json::json!([3, ["book_Notes"]]));
    browser.confirm_review(Duration::from_secs(10));
    let zip = browser.download_zip(Duration::from_secs(120));
    let mut csvs: Vec<String> = capture_tests::scan::entries(&zip).into_iter().map(|e| e.0).filter(|n| n.starts_with("EHR/")).collect();
    csvs.sort();
    let expected: Vec<String> = ["book_Labs", "book_Notes", "book_Visits"].iter().map(|t| format!("EHR/{date}/{t}.csv")).collect();
    assert_eq!(csvs, expected);

    // The CLI given the page's applied rules (the report's tables[].profile, the hidden sheet's
    // included) writes the same bytes.
    s.find("#download-report").unwrap().click().unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(browser.wait_downloaded("json", Duration::from_secs(30))).unwrap()).unwrap();
    let profiles: Vec<&Value> = report["tables"].as_array().expect("the report's tables").iter().map(|t| &t["profile"]).collect();
    assert_eq!(profiles.len(), 3, "a profile for each exported table: {profiles:?}");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("profiles.json");
    std::fs::write(&file, serde_json::to_string(&profiles).unwrap()).unwrap();
    assert_same_zip(&zip, &cli::export(&inputs, &date, &["--ehr-profile", file.to_str().unwrap()]).zip, "a workbook's tables");
}
