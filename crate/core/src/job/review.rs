//! What the user checks before the zip is written: per research patient, each visit with
//! its scan_research_id and series (modality, description as it will be written, image
//! count), and every input left out with the reason. It holds original identifiers
//! (PatientID, StudyDate, file names) for the screen and the hospital's re-identification
//! table: it never goes into the zip.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{visit_key, Job, Stage};
use crate::error::JobError;
use crate::dicom::Summary;
use crate::profile::{Action, Code, Policy};
use crate::report::Outcome;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewCounts {
    pub inputs: usize,
    /// DICOM instances planned (one per input, whatever the format).
    pub images: usize,
    pub tables: usize,
    pub skipped: usize,
    pub quarantined: usize,
    pub patients: usize,
    pub visits: usize,
    pub series: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesReview {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_number: Option<i64>,
    pub modality: String,
    /// SeriesDescription as read; `descriptionAction` says what the export does with it.
    pub description: String,
    pub images: usize,
    /// The NIfTI volumes planned from the series (NIfTI exports only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nifti: Vec<crate::nifti::VolumeSummary>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitReview {
    pub scan_research_id: String,
    /// The original StudyDate (screen and re-identification table only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_date: Option<String>,
    pub images: usize,
    pub series: Vec<SeriesReview>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientReview {
    pub patient_research_id: String,
    /// The original PatientID (screen and re-identification table only).
    pub original_patient_id: String,
    pub visits: Vec<VisitReview>,
}

/// An input that will not be exported, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub input: usize,
    pub name: String,
    pub size: u64,
    /// `skipped` or `quarantined`.
    pub outcome: &'static str,
    pub reason: String,
    /// The reason's code and variable part (report::Why).
    #[serde(flatten)]
    pub why: Option<crate::report::Why>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub counts: ReviewCounts,
    /// What the export does with SeriesDescription under the settings: `kept`, `cleaned`,
    /// `removed` or `replaced`.
    pub description_action: &'static str,
    pub patients: Vec<PatientReview>,
    pub excluded: Vec<Excluded>,
}

/// (PatientID normalised, visit key) -> (series number, series UID) -> series.
type Tree = BTreeMap<(String, String), BTreeMap<(i64, String), SeriesReview>>;
/// (PatientID normalised, visit key) -> the original StudyDate and PatientID.
type Originals = BTreeMap<(String, String), (Option<String>, String)>;

impl Job {
    /// The review of the plan: call after [`Job::plan`], before the first `export`.
    pub fn review(&self) -> Result<Review, JobError> {
        if matches!(self.stage, Stage::Scanning) {
            return Err(JobError::Sequence("review() needs plan() first"));
        }
        let mut counts = ReviewCounts { inputs: self.inputs.len(), ..ReviewCounts::default() };
        let mut excluded = Vec::new();
        let (mut tree, mut originals) = (Tree::new(), Originals::new());
        for (i, input) in self.inputs.iter().enumerate() {
            // An image awaiting the user's boxes (Clean Pixel Data) counts as held back until then.
            let awaiting = self.awaiting_boxes(i);
            let (outcome, reason, why) = match (&input.outcome, awaiting) {
                (Outcome::Skipped { reason }, _) => ("skipped", reason, input.why.clone()),
                (Outcome::Quarantined { reason }, _) => ("quarantined", reason, input.why.clone()),
                (Outcome::Pending, Some((why, reason))) => ("quarantined", reason, Some(why.clone())),
                (Outcome::Pending | Outcome::Exported { .. }, _) => {
                    match &input.summary {
                        Some(s) => {
                            counts.images += 1;
                            add_image(s, visit_key(s, &self.settings), &mut tree, &mut originals);
                        }
                        None => counts.tables += self.tables.visible_tables(i),
                    }
                    continue;
                }
            };
            if outcome == "skipped" {
                counts.skipped += 1;
            } else {
                counts.quarantined += 1;
            }
            excluded.push(Excluded {
                input: i,
                name: input.name.clone(),
                size: input.size,
                outcome,
                reason: reason.clone(),
                why,
            });
        }
        self.add_volumes(&mut tree);
        let patients = self.review_patients(tree, originals, &mut counts);
        counts.patients = patients.len();
        Ok(Review { counts, description_action: description_action(&self.policy), patients, excluded })
    }

    /// Each planned NIfTI volume under the series of its first file.
    fn add_volumes(&self, tree: &mut Tree) {
        let Some(converter) = &self.nifti else { return };
        for volume in converter.volumes() {
            let Some(&first) = volume.members.first() else { continue };
            let s = self.summary(first);
            let series = tree
                .get_mut(&visit_key(s, &self.settings))
                .and_then(|series| series.get_mut(&(s.series_number.unwrap_or(i64::MAX), s.series_uid.clone())));
            if let Some(series) = series {
                series.nifti.push(volume.summary());
            }
        }
    }

    /// The planned visits by research patient, with their series; counts visits and series.
    fn review_patients(&self, tree: Tree, mut originals: Originals, counts: &mut ReviewCounts) -> Vec<PatientReview> {
        let mut patients: BTreeMap<String, PatientReview> = BTreeMap::new();
        for (key, series) in tree {
            let Some(visit) = self.visits.get(&key) else {
                continue;
            };
            counts.visits += 1;
            counts.series += series.len();
            // The PatientID as read (the key holds it normalised).
            let (study_date, original) = originals.remove(&key).unwrap_or_default();
            let patient = patients
                .entry(visit.patient.clone())
                .or_insert_with(|| PatientReview {
                    patient_research_id: visit.patient.clone(),
                    original_patient_id: original,
                    visits: Vec::new(),
                });
            let series: Vec<SeriesReview> = series.into_values().collect();
            patient.visits.push(VisitReview {
                scan_research_id: visit.visit.clone(),
                study_date,
                images: series.iter().map(|s| s.images).sum(),
                series,
            });
        }
        patients.into_values().collect()
    }
}

/// One planned image counted in its series; its visit's first image gives the originals.
fn add_image(s: &Summary, key: (String, String), tree: &mut Tree, originals: &mut Originals) {
    originals.entry(key.clone()).or_insert_with(|| (s.study_date.clone(), s.patient_id.clone()));
    let series = tree
        .entry(key)
        .or_default()
        .entry((s.series_number.unwrap_or(i64::MAX), s.series_uid.clone()))
        .or_insert_with(|| SeriesReview {
            series_number: s.series_number,
            modality: s.modality.clone().unwrap_or_default(),
            description: s.series_description.clone().unwrap_or_default(),
            images: 0,
            nifti: Vec::new(),
        });
    series.images += 1;
}

/// What the export does with SeriesDescription under the policy.
fn description_action(policy: &Policy) -> &'static str {
    match policy.action(dicom_dictionary_std::tags::SERIES_DESCRIPTION) {
        Action::Code(Code::K) => "kept",
        Action::Code(Code::C) => "cleaned",
        Action::Code(Code::X | Code::Z | Code::XZ) => "removed",
        _ => "replaced",
    }
}

#[cfg(test)]
mod tests {
    use crate::job::{Job, Settings};

    #[test]
    fn review_needs_the_plan_and_lists_every_input_left_out() {
        let mut job = Job::new(Settings::default(), b"secret", "20261124").unwrap();
        job.scan("notes.txt", b"not a dicom file, not a table either");
        assert!(job.review().is_err());
        job.plan().unwrap();
        let review = job.review().unwrap();
        assert_eq!(review.counts.inputs, 1);
        assert_eq!(review.counts.skipped, 1);
        assert_eq!(review.excluded[0].name, "notes.txt");
        assert_eq!(review.excluded[0].outcome, "skipped");
        assert!(review.patients.is_empty());
        assert_eq!(review.description_action, "cleaned"); // the mip preset keeps it, cleaned of identifiers
    }
}
