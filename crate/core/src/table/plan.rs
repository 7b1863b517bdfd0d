//! Between scan and export: the rule of every column and the output path of every table.

use std::collections::{HashMap, HashSet};

use super::scan::sanitize;
use super::{read, suggest, ColumnReport, Key, ColumnRule, DateReadings, Dicom, Origin, Profile, Rule, TableReport, TableSettings, Tables};
use crate::dates::DatePolicy;
use crate::patient_id;

/// One table as planned: its path and the rule of each input column.
pub(super) struct Plan {
    pub(super) path: String,
    pub(super) columns: Vec<ColumnReport>,
    pub(super) patient: Option<usize>,
    /// Written: false for a hidden sheet's table until a profile names it.
    pub(super) chosen: bool,
}

impl Tables {
    /// Rules given by the user for one table (the page's review), before `plan`: for the
    /// input's table the profile names (`table`: a workbook's sheet), else its first visible
    /// one. For a hidden sheet's table, the profile chooses it.
    pub fn set_profile(&mut self, input: usize, profile: Profile) {
        let named = self.of_input(input).find(|k| profile.table.as_deref() == Some(self.scanned[k].table.as_str()));
        if let Some(key) = named.or_else(|| self.of_input(input).find(|k| !self.scanned[k].hidden)) {
            self.overrides.insert(key, profile);
            if let Some(plan) = self.plans.get_mut(&key) {
                plan.chosen = true;
            }
        }
    }

    /// After `plan`, before the table's export: decides its columns again (the user's rules
    /// set after the review). Its path does not depend on the rules.
    pub fn replan(&mut self, input: usize, settings: &TableSettings, policy: DatePolicy) {
        for key in self.of_input(input).collect::<Vec<_>>() {
            if !self.plans.contains_key(&key) || self.written.contains_key(&key) {
                continue;
            }
            let (columns, patient) = self.columns(key, settings, policy, &self.dicom);
            if let Some(plan) = self.plans.get_mut(&key) {
                plan.columns = columns;
                plan.patient = patient;
            }
        }
    }

    /// Whether the planned table at `path` is to be written: false for a hidden sheet's
    /// table that no profile chose (the job then writes nothing for it).
    pub fn chosen(&self, input: usize, path: &str) -> bool {
        self.of_input(input).filter_map(|k| self.plans.get(&k)).any(|p| p.path == path && p.chosen)
    }

    /// The profile that applies to a table: the user's for this input, else the settings'
    /// for this table name, else the one sharing the most column names (at least half).
    fn profile<'a>(&'a self, key: Key, settings: &'a TableSettings) -> Option<&'a Profile> {
        let s = &self.scanned[&key];
        if let Some(p) = self.overrides.get(&key) {
            return Some(p);
        }
        if let Some(p) = settings.profiles.iter().find(|p| p.table.as_deref() == Some(s.table.as_str())) {
            return Some(p);
        }
        let header: HashSet<&String> = s.header.iter().collect();
        let overlap = |p: &Profile| p.columns.iter().filter(|c| header.contains(&c.name)).count();
        settings
            .profiles
            .iter()
            .filter(|p| p.table.is_none())
            .map(|p| (overlap(p), p))
            .filter(|(n, _)| *n > 0 && n * 2 >= s.header.len())
            .fold(None::<(usize, &Profile)>, |best, (n, p)| if best.is_some_and(|(b, _)| b >= n) { best } else { Some((n, p)) })
            .map(|(_, p)| p)
    }

    /// The rule of every column of one table, and the index of its patient-id column.
    pub(super) fn columns(&self, key: Key, settings: &TableSettings, policy: DatePolicy, dicom: &Dicom) -> (Vec<ColumnReport>, Option<usize>) {
        let mut columns = self.proposed(key, settings, dicom);
        let patient = columns.iter().position(|c| c.rule == Rule::PatientId);
        settle(&mut columns, patient, settings, policy);
        (columns, patient)
    }

    /// Each column's rule as the profile gives it (fail closed on a column it does not name),
    /// else as suggested from its header and values; no output name yet.
    fn proposed(&self, key: Key, settings: &TableSettings, dicom: &Dicom) -> Vec<ColumnReport> {
        let s = &self.scanned[&key];
        let profile = self.profile(key, settings);
        // By name, first rule wins (as a search in order would): thousands of columns stay linear.
        let rules: HashMap<&String, &ColumnRule> =
            profile.map(|p| p.columns.iter().rev().map(|c| (&c.name, c)).collect()).unwrap_or_default();
        s.header
            .iter()
            .zip(&s.stats)
            .map(|(name, stats)| {
                let (rule, origin, reason, quasi_identifier, date_order) = match profile {
                    Some(_) => match rules.get(name) {
                        Some(c) => (c.rule, Origin::Profile, "from the profile".to_string(), c.quasi_identifier, c.date_order),
                        None => (Rule::Drop, Origin::FailClosed, "no rule in the profile: dropped".to_string(), false, None),
                    },
                    None => {
                        let g = suggest::suggest(name, stats, dicom);
                        (g.rule, Origin::Suggested, g.reason, g.quasi_identifier, None)
                    }
                };
                let date_readings = stats.ambiguous_date().and_then(DateReadings::of);
                ColumnReport {
                    name: name.clone(),
                    output: None,
                    rule,
                    origin,
                    reason,
                    quasi_identifier,
                    unreadable_values: 0,
                    samples: stats.samples.clone(),
                    ambiguous_dates: date_readings.is_some(),
                    date_order,
                    date_readings,
                }
            })
            .collect()
    }

    /// The rules each table would get now, with a few original values per column: for the
    /// page to show before `plan` (on screen only). `dicom` as in [`Tables::plan`].
    pub fn review(&self, settings: &TableSettings, policy: DatePolicy, dicom: &Dicom) -> Vec<TableReport> {
        let review = |key: Key| {
            let (columns, patient) = self.columns(key, settings, policy, dicom);
            let mut report = self.report_of(key, columns, None);
            if let Some(p) = patient {
                report.near_misses = patient_id::near_misses(&dicom.rule, &self.scanned[&key].stats[p].distinct, &dicom.originals);
            }
            report
        };
        self.scanned.keys().map(|&key| review(key)).collect()
    }

    /// Fixes the rules and output path of every table: `EHR/<date>/<table>.csv`, names made
    /// unique in the order of (table name, input name). Returns, per table, its input and its
    /// path or why it is skipped. A hidden sheet's table is planned too (the page chooses it
    /// after the plan) but written only when chosen ([`Tables::chosen`]).
    pub fn plan(&mut self, settings: &TableSettings, policy: DatePolicy, dicom: Dicom, layout: &crate::layout::Layout) -> Vec<(usize, Result<String, String>)> {
        let mut order: Vec<Key> = self.scanned.keys().copied().collect();
        order.sort_by(|a, b| {
            let (sa, sb) = (&self.scanned[a], &self.scanned[b]);
            (&sa.table, &sa.name, sa.fingerprint).cmp(&(&sb.table, &sb.name, sb.fingerprint))
        });
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for key in order {
            let s = &self.scanned[&key];
            if settings.skip_malformed && !s.malformed.is_empty() {
                let lines: Vec<String> = s.malformed.iter().take(10).map(|m| m.line.to_string()).collect();
                out.push((key.0, Err(format!("table with {} malformed rows (lines {}...): skipped as the settings ask", s.malformed.len(), lines.join(", ")))));
                continue;
            }
            let name = read::unique(&mut names, s.table.clone());
            let path = layout.table(&name);
            let (columns, patient) = self.columns(key, settings, policy, &dicom);
            let named = settings.profiles.iter().any(|p| p.table.as_deref() == Some(s.table.as_str()));
            let chosen = !s.hidden || named || self.overrides.contains_key(&key);
            self.plans.insert(key, Plan { path: path.clone(), columns, patient, chosen });
            out.push((key.0, Ok(path)));
        }
        self.dicom = dicom;
        out
    }
}

/// Drops the rules that need a patient-id column the table lacks, notes dates the policy
/// removes, and names the kept columns in the output (unique, sanitised if asked).
fn settle(columns: &mut [ColumnReport], patient: Option<usize>, settings: &TableSettings, policy: DatePolicy) {
    let mut taken = HashSet::new();
    for c in columns {
        let needs_patient = c.rule == Rule::Visit || (c.rule == Rule::Date && policy == DatePolicy::Shift);
        if needs_patient && patient.is_none() {
            c.reason = format!("{} needs a patient-id column in the same table: dropped", if c.rule == Rule::Visit { "a visit" } else { "a shifted date" });
            c.rule = Rule::Drop;
        }
        if !matches!(c.rule, Rule::Date | Rule::Visit) {
            // Only these read the day and month (a birth date keeps its year).
            c.ambiguous_dates = false;
            c.date_readings = None;
        }
        if c.rule == Rule::Date && policy == DatePolicy::Remove {
            c.reason = format!("{}; dates removed by the date policy", c.reason);
        }
        if c.rule != Rule::Drop {
            let base = if settings.sanitize_headers { sanitize(&c.name, &[]) } else { c.name.clone() };
            let base = if base.is_empty() { "column".to_string() } else { base };
            c.output = Some(read::unique(&mut taken, base));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pseudonym::Keyring;
    use crate::table::profiles_from_json;

    #[test]
    fn rules_set_after_the_plan_apply_to_the_export() {
        let keyring = Keyring::from_secret(b"unit");
        let settings = TableSettings::default();
        let bytes = b"name,score\nAda,2\n";
        let mut tables = Tables::default();
        tables.scan(0, "t.csv", bytes).unwrap();
        tables.plan(&settings, DatePolicy::Month, Dicom::default(), &crate::layout::Layout::new(crate::dates::Date::parse_da("20261124").unwrap(), false, false));
        let profile = profiles_from_json(r#"{"columns": [{"name": "score", "rule": "keep"}]}"#).unwrap().remove(0);
        tables.set_profile(0, profile);
        tables.replan(0, &settings, DatePolicy::Month);
        let csv = String::from_utf8(tables.export(0, "EHR/20261124/t.csv", bytes, &keyring, DatePolicy::Month).unwrap()).unwrap();
        assert_eq!(csv, "\"score\"\n2\n");
    }
}
