//! The second pass over a planned table: the pseudonymised CSV, and what it found for the
//! report and the linkage.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::{read, sheet, values, ColumnReport, Dicom, Rows, Rule, Tables};
use crate::dates::DatePolicy;
use crate::error::FileError;
use crate::pseudonym::Keyring;

/// What the export of one table found.
#[derive(Default)]
pub(super) struct Written {
    pub(super) patients: BTreeSet<String>,
    pub(super) visit_values: usize,
    pub(super) visits_matched: BTreeSet<String>,
    pub(super) visit_values_matched: usize,
    pub(super) k: Option<usize>,
    pub(super) unlinked: Rows,
    pub(super) without_patient: Rows,
}

impl Written {
    /// Notes one row's patient ID (`None`: the table has no patient-id column); returns it
    /// keyed as the images' PatientIDs are, normalised by the site's rule.
    fn patient(&mut self, row: u64, original: Option<&str>, dicom: &Dicom) -> Option<String> {
        let original = original?;
        if original.is_empty() {
            self.without_patient.add(row);
            return None;
        }
        let patient = dicom.rule.key(original);
        if !dicom.patients.contains(&patient) {
            self.unlinked.add(row);
        }
        self.patients.insert(original.to_string());
        Some(patient)
    }
}

/// The CSV text of one sheet of a spreadsheet.
fn sheet_text(bytes: &[u8], name: &str) -> Result<String, String> {
    let sheets = sheet::read(bytes).map_err(|e| e.to_string())?;
    let one = sheets.into_iter().find(|s| s.name == name).ok_or(format!("no sheet {name:?}"))?;
    sheet::to_csv(&one.rows)
}

impl Tables {
    /// Second pass over one planned table (of an input, by the path [`Tables::plan`] gave
    /// it): the pseudonymised CSV.
    pub fn export(&mut self, input: usize, path: &str, bytes: &[u8], keyring: &Keyring, policy: DatePolicy) -> Result<Vec<u8>, FileError> {
        let key = self.of_input(input).find(|k| self.plans.get(k).is_some_and(|p| p.path == path)).expect("export() of planned tables only");
        let s = &self.scanned[&key];
        if <[u8; 32]>::from(Sha256::digest(bytes)) != s.fingerprint {
            return Err(FileError::Changed);
        }
        let plan = self.plans.get_mut(&key).expect("export() of planned tables only");
        let text = match &s.sheet {
            Some(name) => std::borrow::Cow::Owned(sheet_text(bytes, name).map_err(FileError::Table)?),
            None => read::decode(bytes).map_err(FileError::Table)?.text,
        };
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::NonNumeric)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let table_error = |e: csv::Error| FileError::Table(e.to_string());
        let kept: Vec<usize> = (0..plan.columns.len()).filter(|&i| plan.columns[i].output.is_some()).collect();
        writer.write_record(kept.iter().map(|&i| plan.columns[i].output.as_deref().unwrap_or_default())).map_err(table_error)?;
        let quasi: Vec<usize> = kept.iter().copied().filter(|&i| plan.columns[i].quasi_identifier).collect();
        let mut groups: HashMap<Vec<String>, usize> = HashMap::new();
        let mut written = Written::default();
        let mut unreadable = vec![0usize; plan.columns.len()];
        let mut cells = vec![String::new(); plan.columns.len()];
        for (row, record) in (1..).zip(read::records(&text, s.delimiter).skip(1)) {
            let (_, record) = record.map_err(FileError::Table)?;
            let original = plan.patient.map(|p| record.get(p).unwrap_or("").trim());
            let patient = written.patient(row, original, &self.dicom);
            for &i in &kept {
                let value = record.get(i).unwrap_or("");
                let (cell, readable) = transform(&plan.columns[i], value, patient.as_deref(), keyring, policy, &self.dicom, &mut written);
                unreadable[i] += !readable as usize;
                cells[i] = cell;
            }
            if !quasi.is_empty() {
                *groups.entry(quasi.iter().map(|&i| cells[i].clone()).collect()).or_default() += 1;
            }
            writer.write_record(kept.iter().map(|&i| &cells[i])).map_err(table_error)?;
        }
        written.k = groups.values().min().copied();
        for (c, n) in plan.columns.iter_mut().zip(unreadable) {
            c.unreadable_values = n;
        }
        self.written.insert(key, written);
        writer.into_inner().map_err(|e| FileError::Table(e.to_string()))
    }

    /// The original patient IDs of the tables written so far (their patient-id column, trimmed).
    pub fn written_patients(&self) -> impl Iterator<Item = &String> {
        self.written.values().flat_map(|w| &w.patients)
    }
}

/// One cell under its rule: the output value, and whether the rule could read the input.
fn transform(
    column: &ColumnReport,
    value: &str,
    patient: Option<&str>,
    keyring: &Keyring,
    policy: DatePolicy,
    dicom: &Dicom,
    written: &mut Written,
) -> (String, bool) {
    let (rule, order) = (column.rule, column.date_order.unwrap_or_default());
    let v = value.trim();
    if v.is_empty() || rule == Rule::Keep {
        return (if rule == Rule::Keep { value.to_string() } else { String::new() }, true);
    }
    match rule {
        Rule::Keep | Rule::Drop => (String::new(), true),
        Rule::PatientId => (keyring.patient(&dicom.rule.key(v)), true),
        Rule::Visit => {
            let Some(p) = patient else { return (String::new(), false) };
            written.visit_values += 1;
            let key = values::parse_date_in(v, order).map_or_else(|| v.to_string(), |d| d.to_da());
            // The images' visit of that date (by day: the very keyed ID), else the keyed ID.
            let Some(id) = dicom.visit(p, &key) else { return (keyring.visit(p, &key), true) };
            written.visit_values_matched += 1;
            written.visits_matched.insert(id.clone());
            (id.clone(), true)
        }
        Rule::Date => match values::parse_date_in(v, order) {
            Some(date) => {
                let shift = match (policy, patient) {
                    (DatePolicy::Shift, Some(p)) => keyring.date_shift(p),
                    (DatePolicy::Shift, None) => return (String::new(), false),
                    _ => 0,
                };
                (policy.apply(date, shift).map(values::iso).unwrap_or_default(), true)
            }
            None => (String::new(), false),
        },
        Rule::BirthDate => {
            let year = values::parse_date(v).map(|d| d.year).or_else(|| values::parse_year(v));
            match (year, policy) {
                (None, _) => (String::new(), false),
                (Some(_), DatePolicy::Remove) => (String::new(), true),
                (Some(y), _) => (format!("{y:04}"), true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient_id::{self, NearMiss, PatientIdRule};
    use crate::table::link::images;
    use crate::table::{profiles_from_json, Origin, TableReport, TableSettings};

    fn export(table: &str, bytes: &[u8], settings: &TableSettings, policy: DatePolicy, dicom: Dicom) -> (String, TableReport) {
        let keyring = Keyring::from_secret(b"unit");
        let mut tables = Tables::default();
        tables.scan(0, table, bytes).unwrap();
        let plan = tables.plan(settings, policy, dicom, &crate::layout::Layout::new(crate::dates::Date::parse_da("20261124").unwrap(), false, false));
        assert_eq!(plan[0].1.as_deref(), Ok("EHR/20261124/t.csv"));
        let csv = String::from_utf8(tables.export(0, "EHR/20261124/t.csv", bytes, &keyring, policy).unwrap()).unwrap();
        (csv, tables.report(&keyring).0.remove(0))
    }

    /// A table's IDs are keyed as the images' are: trimmed always, normalised as chosen; rows
    /// that link to no image are reported by number, near misses by option and count.
    #[test]
    fn table_ids_are_normalised_and_unlinked_rows_numbered() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: profiles_from_json(r#"{"columns": [{"name": "ipp", "rule": "patient-id"}, {"name": "n", "rule": "keep"}]}"#).unwrap(),
            ..TableSettings::default()
        };
        let input = b"ipp,n\n00123,1\n 123 ,2\n,3\n999,4\n456,5\n";
        let zeros = PatientIdRule::from(vec![patient_id::Normalise::LeadingZeros]);
        let (csv, report) = export("t.csv", input, &settings, DatePolicy::Month, images(&["123", "456"], zeros));
        let (p123, p999, p456) = (k.patient("123"), k.patient("999"), k.patient("456"));
        assert_eq!(csv, format!("\"ipp\",\"n\"\n\"{p123}\",1\n\"{p123}\",2\n\"\",3\n\"{p999}\",4\n\"{p456}\",5\n"));
        assert!(report.near_misses.is_empty());

        let (csv, report) = export("t.csv", input, &settings, DatePolicy::Month, images(&["123", "456"], PatientIdRule::default()));
        assert!(csv.contains(&k.patient("00123")) && csv.contains(&p123), "without the option 00123 is another patient");
        assert_eq!(report.near_misses, [NearMiss { options: vec![patient_id::Normalise::LeadingZeros], patient_ids: 1 }]);
    }

    #[test]
    fn rules_rewrite_cells_and_fail_closed() {
        let k = Keyring::from_secret(b"unit");
        let settings = TableSettings {
            profiles: vec![profiles_from_json(
                r#"{"columns": [{"name": "ipp", "rule": "patient-id"}, {"name": "visit", "rule": "visit"},
                   {"name": "dob", "rule": "birth-date", "quasiIdentifier": true}, {"name": "score", "rule": "keep"},
                   {"name": "lab", "rule": "date"}]}"#,
            )
            .unwrap()
            .remove(0)],
            ..TableSettings::default()
        };
        let mut dicom = Dicom::default();
        dicom.visits.insert(("42".into(), "20240105".into()), k.visit("42", "20240105"));
        let input = "ipp;visit;dob;score;lab;secret\n42;05.01.2024;1980-02-03;3,5;bad;x\n";
        let (csv, report) = export("a/t.csv", input.as_bytes(), &settings, DatePolicy::Month, dicom);
        let expected = format!(
            "\"ipp\",\"visit\",\"dob\",\"score\",\"lab\"\n\"{}\",\"{}\",1980,\"3,5\",\"\"\n",
            k.patient("42"),
            k.visit("42", "20240105")
        );
        assert_eq!(csv, expected);
        let secret = report.columns.iter().find(|c| c.name == "secret").unwrap();
        assert_eq!((secret.rule, secret.origin), (Rule::Drop, Origin::FailClosed));
        assert_eq!(report.columns[4].unreadable_values, 1);
        assert_eq!(report.k_anonymity.as_ref().map(|k| k.k), Some(1));
    }
}
