//! The report of an export: every input's outcome, the visits exported, the tables and the
//! NIfTI volumes.

use std::collections::{BTreeMap, BTreeSet};

use crate::nifti;
use crate::report::{FileEntry, Outcome, Report, VisitEntry};

use super::{visit_key, Job};

impl Job {
    /// The report as it stands (complete after `finish`).
    pub fn report(&self) -> Report {
        let files: Vec<FileEntry> = self
            .inputs
            .iter()
            .map(|i| FileEntry {
                name: i.name.clone(),
                size: i.size,
                outcome: i.outcome.clone(),
                why: i.why.clone(),
                redaction: i.redaction.clone(),
                defaced: i.defaced,
            })
            .collect();
        let (tables, linkage) = self.tables.report(&self.keyring);
        Report {
            tool: "capture",
            version: env!("CARGO_PKG_VERSION"),
            export_date: self.export_date.to_da(),
            format: self.settings.format.name().to_string(),
            preset: self.policy.preset.name(),
            options: self.policy.options.iter().map(|o| o.name()).collect(),
            dates: self.policy.dates.name(),
            counts: Report::count(&files),
            audit: self.audit.clone(),
            files,
            visits: self.visit_entries(),
            tables,
            linkage,
            nifti: self.nifti.as_ref().map(nifti::Converter::report).unwrap_or_default(),
        }
    }

    /// The visits with exported images, by scan_research_id: their files and series.
    fn visit_entries(&self) -> Vec<VisitEntry> {
        let mut visits: BTreeMap<&str, VisitEntry> = BTreeMap::new();
        let mut series: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for input in &self.inputs {
            let (Some(s), Outcome::Exported { .. }) = (&input.summary, &input.outcome) else {
                continue;
            };
            let visit = &self.visits[&visit_key(s, &self.settings)];
            let entry = visits.entry(&visit.visit).or_insert_with(|| VisitEntry {
                scan_research_id: visit.visit.clone(),
                patient_research_id: visit.patient.clone(),
                series: 0,
                files: 0,
            });
            entry.files += 1;
            series.entry(&visit.visit).or_default().insert(&s.series_uid);
        }
        for (id, entry) in visits.iter_mut() {
            entry.series = series[id].len();
        }
        visits.into_values().collect()
    }
}
