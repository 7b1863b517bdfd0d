//! One export: inputs are scanned once (headers only), the plan fixes every output
//! path, then each planned input is read again, de-identified and appended to the zip.
//!
//! Two passes keep memory bounded by one file (the caller reads files one at a time)
//! and make the output independent of the order of inputs: visits, series and file
//! names are decided from the whole batch, and entries are written in path order.
//!
//! The steps live in their own files: [`scan`] (first pass), [`plan`] (duplicates,
//! quarantine, visits, paths), [`export`] (second pass, one function per format, the
//! `.ready` marker), [`report`]; the paths themselves come from [`crate::layout`].

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Deserialize;

use crate::archive::Archive;
use crate::dates::{self, Date, DatePolicy};
use crate::error::JobError;
use crate::dicom::Summary;
use crate::layout::{Layout, Root};
use crate::nifti;
use crate::patient_id::PatientIdRule;
use crate::profile::{Opt, Policy, Preset};
use crate::pseudonym::Keyring;
use crate::report::{Audit, Outcome, Why};
use crate::table::{self, Tables};

mod export;
mod face;
mod mapping;
mod pixels;
mod plan;
mod redact;
mod report;
mod review;
mod scan;
pub use face::{FacePreview, FaceSeries};
pub use mapping::Mapping;
pub use pixels::{PixelPreview, PixelSeries};
pub use review::Review;

use plan::{visit_key, Target};

/// What the export produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Dicom,
    Nifti,
    Both,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Dicom => "dicom",
            Format::Nifti => "nifti",
            Format::Both => "both",
        }
    }
}

/// What makes a visit (one scan_research_id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitBy {
    /// One patient on one day (StudyDate).
    #[default]
    Date,
    /// One study (StudyInstanceUID).
    Study,
}

/// The user's choices for one export. Unknown keys are ignored so that a newer
/// page's settings file still loads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    pub format: Format,
    pub preset: Preset,
    /// Annex E options on top of the preset's, by kebab-case name.
    pub options: Vec<Opt>,
    /// Date policy; `None` = the preset's (mip: month, basic: remove).
    pub dates: Option<DatePolicy>,
    pub visit_by: VisitBy,
    /// Export the files that would be quarantined (burned-in text...) anyway.
    pub include_quarantined: bool,
    /// EHR tables: saved rule profiles and output options.
    pub ehr: table::TableSettings,
    /// Layout: an empty `.ready` file in each daily folder, written after all its other
    /// entries (the platform's ingestion waits for it).
    pub ready_marker: bool,
    /// Layout: a yearly level above the daily folder, `<YYYY>/<YYYYMMDD>`.
    pub year_folder: bool,
    /// NIfTI volumes gzip-compressed (`.nii.gz`) rather than plain `.nii` (the default).
    pub nifti_gzip: bool,
    /// How a PatientID, of the images and of the tables alike, is normalised before it is
    /// keyed (trimmed always; leading zeros, case, separators as chosen).
    pub patient_id_normalise: PatientIdRule,
    /// Clean Pixel Data: the site's rule file (the built-in layouts apply as well).
    pub pixel_rules: Option<crate::redact::PixelRules>,
    /// Clean Pixel Data: the detector adds the text it finds on each frame (default on).
    pub pixel_detect: On,
    /// Clean Pixel Data: an image no rule matches is exported only with boxes the user accepts
    /// on the review (the page); without it, the detector's boxes are accepted (the CLI).
    pub pixel_review: bool,
}

/// A setting that is on unless the settings say `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct On(pub bool);

impl Default for On {
    fn default() -> On {
        On(true)
    }
}

impl Settings {
    pub fn from_json(text: &str) -> Result<Settings, JobError> {
        serde_json::from_str(text).map_err(|e| JobError::Settings(e.to_string()))
    }
}

/// One input as the scan saw it.
struct Input {
    name: String,
    size: u64,
    summary: Option<Summary>,
    outcome: Outcome,
    /// The code of a skipped or quarantined outcome.
    why: Option<Why>,
    /// The pixel cleaning of an exported image (Clean Pixel Data Option).
    redaction: Option<crate::report::Redaction>,
    /// Its face was removed (Clean Recognizable Visual Features Option).
    defaced: bool,
}

impl Input {
    fn skip(&mut self, why: Why, reason: String) {
        self.outcome = Outcome::Skipped { reason };
        self.why = Some(why);
    }
}

/// What [`Job::scan_prefix`] made of a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Recorded: the input's index.
    Input(usize),
    /// Nothing recorded: scan again with at least this many bytes of the file (at most its size).
    NeedMore(u64),
}

/// One output file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index of the input, in scan order.
    pub input: usize,
    /// Path inside the zip.
    pub path: String,
}

/// The research IDs of one visit.
struct Visit {
    patient: String,
    visit: String,
    shift_days: i64,
}

enum Stage {
    Scanning,
    /// The entries of each input, in plan order (two with `--format both`).
    Exporting { archive: Archive, plan: HashMap<usize, VecDeque<Target>> },
    Finished,
}

pub struct Job {
    keyring: Keyring,
    policy: Policy,
    export_date: Date,
    /// The paths of the export tree, from the export date and the layout settings.
    layout: Layout,
    settings: Settings,
    inputs: Vec<Input>,
    /// Research IDs of each visit, by visit key; filled by `plan`.
    visits: BTreeMap<(String, String), Visit>,
    stage: Stage,
    /// The EHR tables among the inputs.
    tables: Tables,
    /// NIfTI: the header of each DICOM input (scan), then the volumes being filled (plan).
    slices: BTreeMap<usize, nifti::Slice>,
    nifti: Option<nifti::Converter>,
    /// With `ready_marker`: the root whose daily folder has entries written and still lacks
    /// its marker.
    unmarked: Option<Root>,
    /// De-identified files searched for their input's identifiers, and those held back.
    audit: Audit,
    /// Original UID → replacement, of the DICOM files exported since `record_mapping`.
    uids: Option<BTreeMap<String, String>>,
    /// Clean Pixel Data: the held-back images it exports, by input (filled by `plan`).
    pixels: BTreeMap<usize, pixels::PixelPlan>,
    /// Clean Recognizable Visual Features: the head scans (their key is their place here),
    /// and each member's head scan (filled by `plan`).
    faces: Vec<face::FacePlan>,
    face_of: BTreeMap<usize, usize>,
}

impl Job {
    /// `secret` is the site secret's bytes; `export_date` today's date as `YYYYMMDD`.
    pub fn new(settings: Settings, secret: &[u8], export_date: &str) -> Result<Job, JobError> {
        Job::with_keyring(settings, Keyring::from_secret(secret), export_date)
    }

    /// As [`Job::new`], with the secret's key already derived (PBKDF2 is slow on purpose:
    /// a caller running many jobs with one secret derives it once).
    pub fn with_keyring(settings: Settings, keyring: Keyring, export_date: &str) -> Result<Job, JobError> {
        let export_date = dates::export_date(export_date)?;
        Ok(Job {
            keyring,
            policy: Policy::new(settings.preset, &settings.options, settings.dates),
            export_date,
            layout: Layout::new(export_date, settings.year_folder, settings.nifti_gzip),
            settings,
            inputs: Vec::new(),
            visits: BTreeMap::new(),
            stage: Stage::Scanning,
            tables: Tables::default(),
            slices: BTreeMap::new(),
            nifti: None,
            unmarked: None,
            audit: Audit::default(),
            uids: None,
            pixels: BTreeMap::new(),
            faces: Vec::new(),
            face_of: BTreeMap::new(),
        })
    }

    /// The PatientIDs and visits of the DICOM inputs still to export, for the tables.
    fn dicom(&self) -> table::Dicom {
        let summaries = self
            .inputs
            .iter()
            .filter(|i| i.outcome == Outcome::Pending)
            .filter_map(|i| i.summary.as_ref());
        table::Dicom::collect(
            summaries,
            |s| visit_key(s, &self.settings),
            &self.keyring,
            &self.settings.patient_id_normalise,
        )
    }

    /// The rules each table would get now, with a few original values per column for the
    /// screen: call after the scans, before `plan`.
    pub fn table_review(&self) -> Vec<table::TableReport> {
        self.tables
            .review(&self.settings.ehr, self.policy.dates, &self.dicom())
    }

    /// The user's rules for one table (confirmed in the review): before `plan`, or after it
    /// and before the table's export (the page edits them on the review screen).
    pub fn set_table_profile(&mut self, input: usize, profile: table::Profile) {
        self.tables.set_profile(input, profile);
        self.tables
            .replan(input, &self.settings.ehr, self.policy.dates);
    }

    fn summary(&self, i: usize) -> &Summary {
        self.inputs[i].summary.as_ref().expect("planned inputs have a summary")
    }
}
