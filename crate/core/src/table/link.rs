//! How the tables link to the images: what the DICOM inputs tell the tables, and the
//! linkage part of the report (research IDs and row numbers only).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Tables;
use crate::dicom::Summary;
use crate::patient_id::{self, NearMiss, PatientIdRule};
use crate::pseudonym::Keyring;

/// What the DICOM inputs tell the tables: PatientIDs and visits, and how IDs are normalised.
#[derive(Debug, Clone, Default)]
pub struct Dicom {
    /// The PatientIDs as keyed (normalised by `rule`).
    pub patients: BTreeSet<String>,
    /// The PatientIDs as read, for the near misses ([`patient_id::near_misses`]).
    pub originals: BTreeSet<String>,
    /// (PatientID as keyed, visit key: StudyDate `YYYYMMDD`) -> scan_research_id.
    pub visits: BTreeMap<(String, String), String>,
    /// The site's patient ID normalisation, applied to the tables' IDs as to these.
    pub rule: PatientIdRule,
    /// (PatientID as keyed, StudyDate) -> the scan_research_id of that day's visit; `None`
    /// when the patient has several visits that day (`--visit-by study`).
    pub dates: BTreeMap<(String, String), Option<String>>,
}

impl Dicom {
    /// From the summaries of the DICOM inputs that are exported; `key` is the job's visit key
    /// (its patient normalised by `rule`).
    pub fn collect<'a>(
        summaries: impl Iterator<Item = &'a Summary>,
        key: impl Fn(&Summary) -> (String, String),
        keyring: &Keyring,
        rule: &PatientIdRule,
    ) -> Dicom {
        let mut dicom = Dicom { rule: rule.clone(), ..Dicom::default() };
        for s in summaries {
            dicom.originals.insert(s.patient_id.clone());
            let (patient, visit) = key(s);
            let id = dicom.visits.entry((patient.clone(), visit)).or_insert_with_key(|(p, v)| keyring.visit(p, v)).clone();
            if let Some(date) = &s.study_date {
                dicom.add_date(&patient, date, id);
            }
            dicom.patients.insert(patient);
        }
        dicom
    }

    /// Notes the visit of one study date; two visits on one day (`--visit-by study`) make it
    /// ambiguous: then a table's date links to neither.
    pub(super) fn add_date(&mut self, patient: &str, date: &str, id: String) {
        let entry = self.dates.entry((patient.to_string(), date.to_string())).or_insert_with(|| Some(id.clone()));
        if entry.as_ref() != Some(&id) {
            *entry = None;
        }
    }

    /// The scan_research_id of the images' visit a table's visit value names: by study date
    /// (whatever makes a visit), else by visit key.
    pub(super) fn visit(&self, patient: &str, key: &str) -> Option<&String> {
        let k = (patient.to_string(), key.to_string());
        match self.dates.get(&k) {
            Some(id) => id.as_ref(),
            None => self.visits.get(&k),
        }
    }

    /// Whether a table's ID, normalised, is a PatientID of the images.
    pub fn has_patient(&self, id: &str) -> bool {
        self.patients.contains(&self.rule.key(id))
    }
}

/// Patients of one side of the linkage, by research ID only.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patients {
    pub count: usize,
    pub patient_research_ids: Vec<String>,
}

/// How the tables link to the images: no original identifier, research IDs only.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linkage {
    pub both: Patients,
    pub tables_only: Patients,
    pub images_only: Patients,
    /// Non-empty cells of visit columns, and how many named a visit of the images.
    pub visit_values: usize,
    pub visit_values_matched: usize,
    pub scan_research_ids_matched: Vec<String>,
    /// Table patient IDs, of all tables, that a normalisation not chosen would link.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<NearMiss>,
    /// Per table with a patient-id column, the rows that link to no image.
    pub tables: Vec<TableLinkage>,
}

/// Row numbers (1: the first row after the header; the exported CSV has the same rows in
/// the same order), as ranges of consecutive rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rows {
    pub count: usize,
    /// `[first, last]`, ascending.
    pub ranges: Vec<[u64; 2]>,
}

impl Rows {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a row after every row added so far.
    pub(super) fn add(&mut self, row: u64) {
        self.count += 1;
        match self.ranges.last_mut() {
            Some(last) if last[1] + 1 == row => last[1] = row,
            _ => self.ranges.push([row, row]),
        }
    }

    /// `2, 5-9`, at most `max` ranges then `…`: for the CLI's line.
    pub fn text(&self, max: usize) -> String {
        let range = |r: &[u64; 2]| if r[0] == r[1] { r[0].to_string() } else { format!("{}-{}", r[0], r[1]) };
        let mut text = self.ranges.iter().take(max).map(range).collect::<Vec<_>>().join(", ");
        if self.ranges.len() > max {
            text.push_str(", …");
        }
        text
    }
}

/// How the rows of one table link to the images: row numbers only, never an ID.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableLinkage {
    /// The input's name, as in the report's `tables`.
    pub name: String,
    pub path: String,
    /// Rows whose patient ID is no PatientID of the images.
    pub unlinked_rows: Rows,
    /// Rows with an empty patient ID.
    #[serde(skip_serializing_if = "Rows::is_empty")]
    pub rows_without_patient_id: Rows,
}

impl Tables {
    /// Which patients are in the tables, the images or both (by research ID), how the visit
    /// values matched, the near misses, and each table's rows that link to no image.
    pub(super) fn linkage(&self, keyring: &Keyring) -> Linkage {
        let rule = &self.dicom.rule;
        let originals: BTreeSet<&String> = self.written.values().flat_map(|w| &w.patients).collect();
        let tables: BTreeSet<String> = originals.iter().map(|p| rule.key(p)).collect();
        let images = &self.dicom.patients;
        let group = |ids: Vec<&String>| {
            let mut ids: Vec<String> = ids.into_iter().map(|p| keyring.patient(p)).collect();
            ids.sort();
            Patients { count: ids.len(), patient_research_ids: ids }
        };
        let mut linkage = Linkage {
            both: group(tables.intersection(images).collect()),
            tables_only: group(tables.difference(images).collect()),
            images_only: group(images.difference(&tables).collect()),
            near_misses: patient_id::near_misses(rule, originals, &self.dicom.originals),
            ..Linkage::default()
        };
        let mut matched = BTreeSet::new();
        for (input, w) in &self.written {
            linkage.visit_values += w.visit_values;
            linkage.visit_values_matched += w.visit_values_matched;
            matched.extend(w.visits_matched.iter().cloned());
            if self.plans[input].patient.is_some() {
                linkage.tables.push(TableLinkage {
                    name: self.scanned[input].name.clone(),
                    path: self.plans[input].path.clone(),
                    unlinked_rows: w.unlinked.clone(),
                    rows_without_patient_id: w.without_patient.clone(),
                });
            }
        }
        linkage.scan_research_ids_matched = matched.into_iter().collect();
        linkage
    }
}

/// The images of these PatientIDs (as read), keyed by `rule`.
#[cfg(test)]
pub(super) fn images(ids: &[&str], rule: PatientIdRule) -> Dicom {
    let patients = ids.iter().map(|i| rule.key(i)).collect();
    Dicom { patients, originals: ids.iter().map(|i| i.to_string()).collect(), rule, ..Dicom::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::DatePolicy;
    use crate::table::{profiles_from_json, TableSettings};

    #[test]
    fn linkage_names_unlinked_rows_by_number() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: profiles_from_json(r#"{"columns": [{"name": "ipp", "rule": "patient-id"}]}"#).unwrap(),
            ..TableSettings::default()
        };
        let input = b"ipp,n\n00123,1\n 123 ,2\n,3\n999,4\n998,5\n456,6\n";
        let mut tables = Tables::default();
        tables.scan(0, "t.csv", input).unwrap();
        tables.plan(&settings, DatePolicy::Month, images(&["123", "456"], PatientIdRule::default()), &crate::layout::Layout::new(crate::dates::Date::parse_da("20261124").unwrap(), false, false));
        tables.export(0, "EHR/20261124/t.csv", input, &k, DatePolicy::Month).unwrap();
        let linkage = tables.report(&k).1.unwrap();
        let t = &linkage.tables[0];
        assert_eq!((t.name.as_str(), t.unlinked_rows.count, t.unlinked_rows.ranges.as_slice()), ("t.csv", 3, &[[1, 1], [4, 5]][..]));
        assert_eq!((t.unlinked_rows.text(9).as_str(), t.unlinked_rows.text(1).as_str()), ("1, 4-5", "1, …"));
        assert_eq!(t.rows_without_patient_id.ranges, [[3, 3]]);
        assert_eq!((linkage.both.count, linkage.tables_only.count, linkage.near_misses[0].patient_ids), (2, 3, 1));
        let json = serde_json::to_string(&linkage).unwrap();
        assert!(!json.contains("00123") && !json.contains("999"), "no original ID in the linkage: {json}");
    }

    /// A visit date names the images' visit of that day, whatever makes a visit; two visits
    /// that day (by study) name neither.
    #[test]
    fn visit_dates_name_the_visit_of_that_day() {
        let mut dicom = Dicom::default();
        dicom.visits.insert(("1".into(), "study:9".into()), "VSTUDY9".into());
        dicom.add_date("1", "20240105", "VSTUDY9".into());
        dicom.add_date("2", "20240105", "VA".into());
        dicom.add_date("2", "20240105", "VB".into());
        assert_eq!(dicom.visit("1", "20240105").map(String::as_str), Some("VSTUDY9"));
        assert_eq!(dicom.visit("1", "study:9").map(String::as_str), Some("VSTUDY9"), "by visit key as before");
        assert_eq!(dicom.visit("2", "20240105"), None, "ambiguous: no link");
        assert_eq!(dicom.visit("1", "20240106"), None);
    }
}
