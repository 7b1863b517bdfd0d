//! The tables' part of the report: each table's columns as applied, its malformed rows and
//! its k-anonymity hint.

use serde::Serialize;

use super::{values, ColumnRule, Key, DateOrder, Linkage, Malformed, Profile, Rule, Tables};
use crate::patient_id::{self, NearMiss};
use crate::pseudonym::Keyring;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Profile,
    Suggested,
    /// No rule for the column: dropped.
    FailClosed,
}

/// One column's rule as applied, for the report and the page's review.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnReport {
    pub name: String,
    /// The header in the output; absent when the column is dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    pub rule: Rule,
    pub origin: Origin,
    pub reason: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quasi_identifier: bool,
    /// Values the rule could not read (dates that are no date, a shift without a patient):
    /// written empty.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable_values: usize,
    /// A few original values, for the screen only ([`Tables::review`]); never in the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<String>,
    /// A date or visit column whose dates all read both day first and month first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ambiguous_dates: bool,
    /// How its dates with the year last are read, when the profile chose (else day first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_order: Option<DateOrder>,
    /// The two readings of one of its values, for the screen only; never in the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_readings: Option<DateReadings>,
}

/// One original value of an ambiguous date column read both ways (ISO 8601).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DateReadings {
    pub sample: String,
    pub day_first: String,
    pub month_first: String,
}

impl DateReadings {
    pub fn of(sample: &str) -> Option<DateReadings> {
        let read = |order| values::parse_date_in(sample, order).map(values::iso);
        Some(DateReadings { sample: sample.to_string(), day_first: read(DateOrder::DayFirst)?, month_first: read(DateOrder::MonthFirst)? })
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The smallest group of rows sharing the values of the quasi-identifier columns.
#[derive(Debug, Clone, Serialize)]
pub struct KAnonymity {
    pub columns: Vec<String>,
    pub k: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Below this group size the report warns.
pub const K_WARNING: usize = 5;

/// One table in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    /// Index of the input (scan order).
    pub input: usize,
    /// The sheet, for a spreadsheet's table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// A hidden sheet's table: in the review only, exported when chosen.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    pub name: String,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub encoding: String,
    pub delimiter: String,
    /// A spreadsheet's hidden sheets, left out of the export (names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden_sheets: Vec<String>,
    pub rows: usize,
    pub columns: Vec<ColumnReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malformed_rows: Vec<Malformed>,
    /// The rules as a profile (the format `--ehr-profile` reads): save it to reuse them.
    pub profile: Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_anonymity: Option<KAnonymity>,
    /// Patient IDs of the table that link to no image but would under a normalisation not
    /// chosen (counts only). In the review, counted on the column's first distinct values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<NearMiss>,
}

fn delimiter_name(d: u8) -> String {
    if d == b'\t' { "tab".into() } else { (d as char).to_string() }
}

impl Tables {
    /// The tables' part of the report and the linkage (present when there are tables).
    pub fn report(&self, keyring: &Keyring) -> (Vec<TableReport>, Option<Linkage>) {
        let mut reports = Vec::new();
        for (&key, s) in &self.scanned {
            let Some(plan) = self.plans.get(&key).filter(|p| p.chosen) else { continue };
            let written = self.written.get(&key);
            let mut columns = plan.columns.clone();
            columns.iter_mut().for_each(|c| {
                c.samples.clear();
                c.date_readings = None;
            });
            let mut report = self.report_of(key, columns, written.map(|_| plan.path.clone()));
            report.k_anonymity = written.and_then(|w| w.k).map(|k| KAnonymity {
                columns: plan.columns.iter().filter(|c| c.quasi_identifier && c.output.is_some()).map(|c| c.name.clone()).collect(),
                k,
                warning: (k < K_WARNING).then(|| {
                    format!("k = {k} < {K_WARNING}: some combination of these values occurs in only {k} row(s); re-identification risk")
                }),
            });
            if let Some(w) = written {
                report.near_misses = patient_id::near_misses(&self.dicom.rule, &w.patients, &self.dicom.originals);
            }
            debug_assert_eq!(report.rows, s.rows);
            reports.push(report);
        }
        let linkage = (!self.scanned.is_empty()).then(|| self.linkage(keyring));
        (reports, linkage)
    }

    pub(super) fn report_of(&self, key: Key, columns: Vec<ColumnReport>, path: Option<String>) -> TableReport {
        let s = &self.scanned[&key];
        let profile = Profile {
            table: Some(s.table.clone()),
            columns: columns
                .iter()
                .map(|c| ColumnRule { name: c.name.clone(), rule: c.rule, quasi_identifier: c.quasi_identifier, date_order: c.date_order })
                .collect(),
        };
        TableReport {
            input: key.0,
            sheet: s.sheet.clone(),
            hidden: s.hidden,
            name: s.name.clone(),
            table: s.table.clone(),
            path,
            encoding: s.encoding.clone(),
            delimiter: delimiter_name(s.delimiter),
            hidden_sheets: s.hidden_sheets.clone(),
            rows: s.rows,
            columns,
            malformed_rows: s.malformed.clone(),
            profile,
            k_anonymity: None,
            near_misses: Vec::new(),
        }
    }

}
