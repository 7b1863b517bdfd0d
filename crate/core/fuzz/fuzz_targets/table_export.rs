//! CSV/TSV and spreadsheet ingest + pseudonymisation: the input is read under a `.csv`, a
//! `.txt` name (the `.txt` path checks that the text looks tabular first) and an `.xlsx`
//! name (a workbook, by its content: one table per sheet, hidden sheets chosen by a
//! profile naming them), with the suggested rules and the shift date policy (which needs
//! the patient column). Every planned table of every input is exported by its path.
#![no_main]

use capture::table::{Dicom, TableSettings, Tables};
use capture::DatePolicy;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut tables = Tables::default();
    let scanned: Vec<usize> =
        [(0, "visits.csv"), (1, "notes.txt"), (2, "labs.xlsx")].into_iter().filter(|(i, name)| tables.scan(*i, name, data).is_ok()).map(|(i, _)| i).collect();
    // Chooses the hidden sheet `Notes` of a workbook named labs (an empty profile: all dropped).
    let chosen = capture::table::Profile { table: Some("labs_Notes".into()), columns: Vec::new() };
    let settings = TableSettings { profiles: vec![chosen], ..TableSettings::default() };
    let _ = tables.review(&settings, DatePolicy::Shift, &Dicom::default());
    for (input, path) in tables.plan(&settings, DatePolicy::Shift, Dicom::default(), common::DATE) {
        assert!(scanned.contains(&input));
        if let Ok(path) = path {
            if tables.chosen(input, &path) {
                let _ = tables.export(input, &path, data, common::keyring(), DatePolicy::Shift);
            }
        }
    }
    let _ = tables.report(common::keyring());
});
