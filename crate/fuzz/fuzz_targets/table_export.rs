//! CSV/TSV ingest + pseudonymisation: the input is one table, read under a `.csv` and a
//! `.txt` name (the `.txt` path checks that the text looks tabular first), with the
//! suggested rules and the shift date policy (which needs the patient column).
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
    let settings = TableSettings::default();
    let _ = tables.review(&settings, DatePolicy::Shift, &Dicom::default());
    for (input, path) in tables.plan(&settings, DatePolicy::Shift, Dicom::default(), common::DATE) {
        assert!(scanned.contains(&input));
        if path.is_ok() {
            let _ = tables.export(input, data, common::keyring(), DatePolicy::Shift);
        }
    }
    let _ = tables.report(common::keyring());
});
