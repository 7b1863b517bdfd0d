//! The report of one export: every input with its outcome, the counts and the visits.
//! The same JSON is written by the CLI (`--report`) and shown by the page. It names
//! original files, so it stays with the hospital and never goes into the zip.

use serde::Serialize;

pub use crate::error::{Reason, Why};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Read, but not yet written (only seen while a job runs).
    Pending,
    Exported { path: String },
    Skipped { reason: String },
    Quarantined { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// With a skipped or quarantined outcome: its code.
    #[serde(flatten)]
    pub why: Option<Why>,
    /// With an exported image whose pixels were cleaned (Clean Pixel Data Option): the boxes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
    /// An exported image or volume whose face was removed (Clean Recognizable Visual Features).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub defaced: bool,
}

/// What the Clean Pixel Data Option did to one exported image: the boxes blacked out on every
/// frame and sample, and where they came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redaction {
    /// Every box filled, in pixel coordinates, sorted.
    pub boxes: Vec<crate::redact::Rect>,
    pub frames: usize,
    /// The names of the rules that matched the image (and gave boxes).
    pub rules: Vec<String>,
    /// Boxes the detector found (over all frames, before they were merged with the others).
    pub detected: usize,
    /// The boxes are the user's, accepted on the review screen.
    pub accepted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub inputs: usize,
    pub exported: usize,
    pub skipped: usize,
    pub quarantined: usize,
}

/// The output audit: de-identified files searched for every identifier of their input,
/// and those held back because one was found (each is in `files` with `identifier-found`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub files: usize,
    pub held_back: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitEntry {
    pub scan_research_id: String,
    pub patient_research_id: String,
    pub series: usize,
    pub files: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub export_date: String,
    pub format: String,
    pub preset: &'static str,
    /// The Annex E options in force, the preset's included.
    pub options: Vec<&'static str>,
    pub dates: &'static str,
    pub files: Vec<FileEntry>,
    pub counts: Counts,
    /// The output audit of the DICOM files written.
    pub audit: Audit,
    pub visits: Vec<VisitEntry>,
    /// The EHR tables: rules per column, malformed rows, k-anonymity hint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<crate::table::TableReport>,
    /// Patients and visits of the tables linked to the images (research IDs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linkage: Option<crate::table::Linkage>,
    /// The NIfTI volumes (`--format nifti|both`): written where, or why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nifti: Vec<crate::nifti::VolumeReport>,
}

impl Report {
    pub fn count(files: &[FileEntry]) -> Counts {
        let mut counts = Counts { inputs: files.len(), ..Counts::default() };
        for f in files {
            match f.outcome {
                Outcome::Exported { .. } => counts.exported += 1,
                Outcome::Skipped { .. } | Outcome::Pending => counts.skipped += 1,
                Outcome::Quarantined { .. } => counts.quarantined += 1,
            }
        }
        counts
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report is plain data")
    }
}
