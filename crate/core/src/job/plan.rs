//! The plan: which inputs are exported (duplicates and quarantine), which visit each belongs
//! to, in which order, and under which path of the [layout](crate::layout).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::archive::Archive;
use crate::error::{JobError, Reason};
use crate::dicom::Summary;
use crate::layout::{self, Root};
use crate::nifti;
use crate::profile::Preset;
use crate::report::{Outcome, Why};

use super::{Format, Input, Job, Planned, Settings, Stage, Visit, VisitBy};

/// One planned entry of an input, by the tree it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Dicom(String),
    /// Every slice of a volume has the volume's entries.
    Nifti(layout::Nifti),
    Table(String),
}

impl Target {
    /// The path the plan is sorted by (a volume's, not its sidecar's).
    pub(super) fn path(&self) -> &str {
        match self {
            Target::Dicom(path) | Target::Table(path) => path,
            Target::Nifti(paths) => &paths.volume,
        }
    }

    pub(super) fn root(&self) -> Root {
        match self {
            Target::Dicom(_) => Root::Dicom,
            Target::Nifti(_) => Root::Nifti,
            Target::Table(_) => Root::Ehr,
        }
    }
}

/// Visit key → series (number, UID) → instances.
type Tree = BTreeMap<(String, String), BTreeMap<(i64, String), Vec<usize>>>;

impl Job {
    /// Decides every output path. Call once, after all scans; returns the plan in the
    /// order the files must be exported (the order of paths in the zip).
    pub fn plan(&mut self) -> Result<Vec<Planned>, JobError> {
        if !matches!(self.stage, Stage::Scanning) {
            return Err(JobError::Sequence("plan() called twice"));
        }
        drop_duplicates(&mut self.inputs);
        if !self.settings.include_quarantined {
            quarantine(&mut self.inputs, self.policy.preset == Preset::Mip);
            self.plan_pixels();
        }
        self.plan_faces();
        let mut targets = self.plan_dicom();
        if self.settings.format != Format::Dicom {
            targets.extend(self.plan_nifti());
        }
        // Tables after the visits: their visit columns map to the visits of the images.
        targets.extend(self.plan_tables());
        targets.sort_by(|a, b| a.1.path().cmp(b.1.path()));
        let plan = targets.iter().map(|(input, t)| Planned { input: *input, path: t.path().to_string() }).collect();
        let mut queues: HashMap<usize, VecDeque<Target>> = HashMap::new();
        for (input, target) in targets {
            queues.entry(input).or_default().push_back(target);
        }
        self.stage = Stage::Exporting { archive: Archive::new(self.export_date), plan: queues };
        Ok(plan)
    }

    /// Names every visit of the inputs still to export and numbers its instances, series by
    /// series in slice order: the DICOM tree (no entry when only NIfTI is exported).
    fn plan_dicom(&mut self) -> Vec<(usize, Target)> {
        let mut targets = Vec::new();
        for ((patient_id, key), series) in self.visit_tree() {
            let visit = Visit {
                patient: self.keyring.patient(&patient_id),
                visit: self.keyring.visit(&patient_id, &key),
                shift_days: self.keyring.date_shift(&patient_id),
            };
            let mut number = 0usize;
            for (_, mut members) in series {
                members.sort_by(|&a, &b| slice_order(self.summary(a), self.summary(b)));
                for i in members {
                    number += 1;
                    if self.settings.format != Format::Nifti {
                        targets.push((i, Target::Dicom(self.layout.dicom(&visit.visit, number))));
                    }
                }
            }
            self.visits.insert((patient_id, key), visit);
        }
        targets
    }

    /// The DICOM inputs still to export by visit and series, in maps keyed by content, not
    /// input order.
    fn visit_tree(&self) -> Tree {
        let mut tree = Tree::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let (Some(s), Outcome::Pending) = (&input.summary, &input.outcome) else { continue };
            let series_key = (s.series_number.unwrap_or(i64::MAX), s.series_uid.clone());
            tree.entry(visit_key(s, &self.settings)).or_default().entry(series_key).or_default().push(i);
        }
        tree
    }

    /// The NIfTI volumes of the DICOM inputs still to export: one plan step per slice,
    /// all with the volume's paths, in voxel order. Volumes that cannot be converted are
    /// reported (and, without the DICOM tree, their files skipped).
    fn plan_nifti(&mut self) -> Vec<(usize, Target)> {
        // Images whose pixels are cleaned are exported as DICOM only.
        let mut volumes = nifti::plan(&self.volume_slices());
        let names = self.nifti_names(&volumes);
        let mut steps = Vec::new();
        for (volume, paths) in volumes.iter_mut().zip(names) {
            if self.face_of.contains_key(&volume.members[0]) {
                volume.write_whole();
            }
            if let Some(problem) = &volume.problem {
                if self.settings.format == Format::Nifti {
                    for &i in &volume.members {
                        let why = Why::new(Reason::NiftiNotConverted, problem.to_string());
                        self.inputs[i].skip(why, format!("not converted to NIfTI: {problem}"));
                    }
                }
                continue;
            }
            let paths = paths.expect("a converted volume is named");
            volume.path = Some(paths.volume.clone());
            if volume.diffusion.is_some() {
                volume.gradient_paths = Some(nifti::GradientPaths { bval: paths.bval.clone(), bvec: paths.bvec.clone() });
            }
            steps.extend(volume.members.iter().map(|&input| (input, Target::Nifti(paths.clone()))));
        }
        self.nifti = Some(nifti::Converter::new(volumes, !self.settings.nifti_gzip));
        steps
    }

    /// The paths of each converted volume: a name taken in its visit goes to the volume
    /// dcm2niix writes first (see `Volume::name_rank`), the others get `a`, `b`…
    fn nifti_names(&self, volumes: &[nifti::Volume]) -> Vec<Option<layout::Nifti>> {
        let mut order: Vec<usize> = (0..volumes.len()).filter(|&v| volumes[v].problem.is_none()).collect();
        order.sort_by(|&a, &b| volumes[a].name_rank.cmp(&volumes[b].name_rank));
        let mut taken = BTreeSet::new();
        let mut names = vec![None; volumes.len()];
        for v in order {
            let visit = &self.visits[&visit_key(self.summary(volumes[v].members[0]), &self.settings)].visit;
            names[v] = Some(self.layout.nifti_unique(visit, &volumes[v].stem(), &mut taken));
        }
        names
    }

    /// The EHR tables' paths; a table the settings skip (malformed rows) is reported.
    fn plan_tables(&mut self) -> Vec<(usize, Target)> {
        let planned = self.tables.plan(&self.settings.ehr, self.policy.dates, self.dicom(), &self.layout);
        let mut targets = Vec::new();
        for (input, path) in planned {
            match path {
                Ok(path) => targets.push((input, Target::Table(path))),
                Err(reason) => self.inputs[input].skip(Why::new(Reason::TableMalformed, reason.clone()), reason),
            }
        }
        targets
    }
}

/// What identifies a visit: one patient (the PatientID normalised as the settings say) on
/// one day (StudyDate), or one study (by choice, or when the date is missing).
pub(super) fn visit_key(s: &Summary, settings: &Settings) -> (String, String) {
    let key = match (&s.study_date, settings.visit_by) {
        (Some(date), VisitBy::Date) => date.clone(),
        _ => format!("study:{}", s.study_uid),
    };
    (settings.patient_id_normalise.key(&s.patient_id), key)
}

/// Slice order within a series: InstanceNumber, then position along the normal,
/// then the SOP Instance UID so that ties still resolve the same way every time.
fn slice_order(sa: &Summary, sb: &Summary) -> Ordering {
    sa.instance_number
        .unwrap_or(i64::MAX)
        .cmp(&sb.instance_number.unwrap_or(i64::MAX))
        .then(sa.slice_position.unwrap_or(0.0).total_cmp(&sb.slice_position.unwrap_or(0.0)))
        .then_with(|| sa.sop_instance_uid.cmp(&sb.sop_instance_uid))
}

/// The same instance dropped twice (two copies of one file) is exported once.
/// The copy kept is the one with the smallest name, whatever the drop order.
fn drop_duplicates(inputs: &mut [Input]) {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| inputs[a].name.cmp(&inputs[b].name).then(a.cmp(&b)));
    for i in order {
        let (Some(s), Outcome::Pending) = (&inputs[i].summary, &inputs[i].outcome) else { continue };
        match first.get(&s.sop_instance_uid) {
            Some(&kept) => {
                let kept = inputs[kept].name.clone();
                let reason = format!("duplicate of {kept} (same SOP Instance UID)");
                inputs[i].skip(Why::new(Reason::Duplicate, kept), reason);
            }
            None => {
                first.insert(s.sop_instance_uid.clone(), i);
            }
        }
    }
}

/// Holds back the instances not exported without the user's opt-in, each with the reason.
fn quarantine(inputs: &mut [Input], mip: bool) {
    for input in inputs {
        let (Some(s), Outcome::Pending) = (&input.summary, &input.outcome) else { continue };
        if let Some((why, reason)) = quarantine_reason(s, mip) {
            input.outcome = Outcome::Quarantined { reason };
            input.why = Some(why);
        }
    }
}

/// Why an instance is quarantined: burned-in text, a risky SOP class, or (mip preset) an
/// image that is not PRIMARY.
fn quarantine_reason(s: &Summary, mip: bool) -> Option<(Why, String)> {
    if s.burned_in {
        let reason = "burned-in annotation (BurnedInAnnotation = YES): the pixels may show identifying text";
        Some((Why::new(Reason::BurnedIn, None), reason.to_string()))
    } else if let Some(why) = risky_sop_class(&s.sop_class) {
        Some((Why::new(Reason::RiskySopClass, s.sop_class.clone()), format!("SOP class {}: {why}", s.sop_class)))
    } else if mip && !s.image_type.iter().any(|t| t == "PRIMARY") {
        let types = s.image_type.join("\\");
        let reason = format!("not a PRIMARY image (ImageType {types:?}); the mip preset exports primary images only");
        Some((Why::new(Reason::NotPrimary, types), reason))
    } else {
        None
    }
}

/// Why an instance should not be exported without the user's explicit opt-in: SOP classes
/// whose pixels usually carry identifying text or whose content is a document.
fn risky_sop_class(sop_class: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("1.2.840.10008.5.1.4.1.1.7", "secondary capture (screenshots often show patient details)"),
        ("1.2.840.10008.5.1.4.1.1.6.", "ultrasound (patient details are usually burned into the image)"),
        ("1.2.840.10008.5.1.4.1.1.3.1", "ultrasound multi-frame (patient details are usually burned into the image)"),
        ("1.2.840.10008.5.1.4.1.1.104.", "encapsulated document (PDF, CDA...)"),
        ("1.2.840.10008.5.1.4.1.1.77.1.", "visible light photograph or video"),
        ("1.2.840.10008.5.1.4.1.1.88.", "structured report (free-text content)"),
    ];
    PREFIXES.iter().find(|(p, _)| sop_class == p.trim_end_matches('.') || sop_class.starts_with(p)).map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient_id::Normalise;

    fn summary(patient: &str, sop: &str) -> Summary {
        Summary {
            patient_id: patient.into(),
            study_date: Some("20240315".into()),
            study_uid: "1.2.3.1".into(),
            series_uid: "1.2.3.2".into(),
            series_number: Some(1),
            sop_instance_uid: sop.into(),
            instance_number: None,
            sop_class: "1.2.840.10008.5.1.4.1.1.2".into(),
            burned_in: false,
            image_type: vec!["ORIGINAL".into(), "PRIMARY".into()],
            modality: Some("CT".into()),
            slice_position: None,
            ..Summary::default()
        }
    }

    fn input(name: &str, summary: Option<Summary>) -> Input {
        Input { name: name.into(), size: 1, summary, outcome: Outcome::Pending, why: None, redaction: None, defaced: false }
    }

    fn code(input: &Input) -> Option<Reason> {
        input.why.as_ref().map(|w| w.code)
    }

    #[test]
    fn a_duplicate_keeps_the_copy_with_the_smallest_name() {
        let mut inputs = vec![
            input("b.dcm", Some(summary("P", "1.9.1"))),
            input("a.dcm", Some(summary("P", "1.9.1"))),
            input("c.dcm", Some(summary("P", "1.9.2"))),
            input("notes.txt", None),
        ];
        drop_duplicates(&mut inputs);
        assert_eq!(inputs[0].outcome, Outcome::Skipped { reason: "duplicate of a.dcm (same SOP Instance UID)".into() });
        assert_eq!(inputs[0].why, Some(Why::new(Reason::Duplicate, "a.dcm".to_string())));
        assert!([1, 2, 3].iter().all(|&i| inputs[i].outcome == Outcome::Pending));
    }

    #[test]
    fn a_duplicate_of_a_skipped_input_is_kept() {
        let mut inputs = vec![input("a.dcm", Some(summary("P", "1.9.1"))), input("b.dcm", Some(summary("P", "1.9.1")))];
        inputs[0].skip(Why::new(Reason::Unreadable, None), "unreadable".into());
        drop_duplicates(&mut inputs);
        assert_eq!(inputs[1].outcome, Outcome::Pending);
    }

    #[test]
    fn quarantine_holds_back_burned_in_risky_and_derived_images() {
        let burned = Summary { burned_in: true, ..summary("P", "1") };
        let capture = Summary { sop_class: "1.2.840.10008.5.1.4.1.1.7".into(), ..summary("P", "2") };
        let derived = Summary { image_type: vec!["DERIVED".into(), "SECONDARY".into()], ..summary("P", "3") };
        let plain = summary("P", "4");
        let names = ["burned", "capture", "derived", "plain"];
        let inputs = |mip| {
            let mut inputs: Vec<Input> = [&burned, &capture, &derived, &plain].iter().zip(names).map(|(s, n)| input(n, Some((*s).clone()))).collect();
            quarantine(&mut inputs, mip);
            inputs
        };
        let mip = inputs(true);
        assert_eq!(mip.iter().map(code).collect::<Vec<_>>(), [Some(Reason::BurnedIn), Some(Reason::RiskySopClass), Some(Reason::NotPrimary), None]);
        assert!(matches!(&mip[2].outcome, Outcome::Quarantined { reason } if reason.contains("\"DERIVED\\\\SECONDARY\"")));
        assert_eq!(mip[3].outcome, Outcome::Pending);
        // Only the mip preset asks for PRIMARY images.
        assert_eq!(inputs(false).iter().map(code).collect::<Vec<_>>(), [Some(Reason::BurnedIn), Some(Reason::RiskySopClass), None, None]);
    }

    #[test]
    fn quarantine_leaves_inputs_already_left_out() {
        let mut inputs = vec![input("a.dcm", Some(Summary { burned_in: true, ..summary("P", "1") }))];
        inputs[0].skip(Why::new(Reason::Duplicate, None), "duplicate".into());
        quarantine(&mut inputs, true);
        assert_eq!(code(&inputs[0]), Some(Reason::Duplicate));
    }

    #[test]
    fn a_visit_is_a_patient_on_a_day_or_a_study() {
        let by_date = Settings::default();
        let s = summary("P1", "1");
        assert_eq!(visit_key(&s, &by_date), ("P1".into(), "20240315".into()));
        let undated = Summary { study_date: None, ..s.clone() };
        assert_eq!(visit_key(&undated, &by_date), ("P1".into(), "study:1.2.3.1".into()));
        let by_study = Settings { visit_by: VisitBy::Study, ..Settings::default() };
        assert_eq!(visit_key(&s, &by_study), ("P1".into(), "study:1.2.3.1".into()));
    }

    #[test]
    fn a_visit_keys_the_patient_id_as_normalised() {
        let plain = Settings::default();
        let zeros = Settings { patient_id_normalise: vec![Normalise::LeadingZeros].into(), ..Settings::default() };
        let (a, b) = (summary(" 00123 ", "1"), summary("123", "2"));
        assert_eq!(visit_key(&a, &plain).0, "00123");
        assert_ne!(visit_key(&a, &plain), visit_key(&b, &plain));
        assert_eq!(visit_key(&a, &zeros), visit_key(&b, &zeros));
    }

    #[test]
    fn slices_sort_by_instance_number_then_position_then_uid() {
        let slice = |sop: &str, number: Option<i64>, position: Option<f64>| Summary {
            instance_number: number,
            slice_position: position,
            ..summary("P", sop)
        };
        let mut slices = vec![
            slice("1.5", None, None),
            slice("1.4", Some(2), Some(-5.0)),
            slice("1.3", Some(1), Some(10.0)),
            slice("1.2", Some(1), Some(-10.0)),
            slice("1.1", Some(1), Some(-10.0)),
            slice("1.0", Some(1), None),
        ];
        slices.sort_by(slice_order);
        let order: Vec<&str> = slices.iter().map(|s| s.sop_instance_uid.as_str()).collect();
        // No position counts as 0, no number as the last.
        assert_eq!(order, ["1.1", "1.2", "1.0", "1.3", "1.4", "1.5"]);
    }

    #[test]
    fn targets_sort_by_path_and_know_their_root() {
        let layout = crate::layout::Layout::new(crate::dates::Date::parse_da("20261124").unwrap(), true, false);
        let nifti = Target::Nifti(layout.nifti("V1", "1_t1", 1));
        assert_eq!(nifti.path(), "NIFTI/2026/20261124/V1/1_t1.nii");
        assert_eq!(nifti.root(), Root::Nifti);
        assert_eq!(Target::Dicom(layout.dicom("V1", 1)).root(), Root::Dicom);
        assert_eq!(Target::Table(layout.table("t")).root(), Root::Ehr);
    }
}
