//! EHR tables (CSV/TSV exports of the hospital's records), pseudonymised with the same
//! keyed functions as the DICOM side so that both link: a patient-id column becomes
//! exactly [`Keyring::patient`] of the value, a visit column the scan_research_id
//! [`Keyring::visit`] of (patient, visit date), dates follow the export's [`DatePolicy`]
//! with the patient's [`Keyring::date_shift`].
//!
//! Every column has a rule (keep, drop, patient-id, visit, date, birth-date), from a saved
//! [`Profile`] or suggested from its header and values ([`suggest`]). Fail closed: a column
//! without a rule is dropped and reported. Every row is exported, in the input's order;
//! a malformed row (wrong field count) is padded with empty fields or cut to the header's
//! width, and reported with its line number (or the table is skipped, when the settings
//! say so). Output: UTF-8 without BOM, comma-separated, LF line ends, every non-numeric
//! field quoted, dates ISO 8601.
//!
//! [`Keyring::patient`]: crate::pseudonym::Keyring::patient
//! [`Keyring::visit`]: crate::pseudonym::Keyring::visit
//! [`Keyring::date_shift`]: crate::pseudonym::Keyring::date_shift
//! [`DatePolicy`]: crate::dates::DatePolicy

pub mod read;
pub mod sheet;
pub mod suggest;
pub mod values;
mod export;
mod link;
mod plan;
mod report;
mod rules;
mod scan;

use std::collections::BTreeMap;

pub use link::{Dicom, Linkage, Patients, Rows, TableLinkage};
pub use report::{ColumnReport, DateReadings, KAnonymity, Origin, TableReport, K_WARNING};
pub use rules::{profiles_from_json, ColumnRule, DateOrder, Profile, Rule, TableSettings};
pub use scan::{Malformed, ScanError};
use export::Written;
use plan::Plan;
use scan::Scanned;

/// One table: (input, its sheet's position in the workbook; 0 for a CSV). A spreadsheet
/// input holds one table per sheet.
type Key = (usize, usize);

/// The tables of one job, from scan to report.
#[derive(Default)]
pub struct Tables {
    scanned: BTreeMap<Key, Scanned>,
    overrides: BTreeMap<Key, Profile>,
    plans: BTreeMap<Key, Plan>,
    written: BTreeMap<Key, Written>,
    dicom: Dicom,
}

impl Tables {
    /// How many tables an input holds, its hidden sheets' left out (a workbook may hold several).
    pub fn visible_tables(&self, input: usize) -> usize {
        self.of_input(input).filter(|k| !self.scanned[k].hidden).count()
    }

    /// The tables of one input.
    fn of_input(&self, input: usize) -> impl Iterator<Item = Key> + '_ {
        self.scanned.range((input, 0)..=(input, usize::MAX)).map(|(k, _)| *k)
    }
}
