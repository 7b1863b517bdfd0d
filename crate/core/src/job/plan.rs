//! The plan: which inputs are exported (duplicates and quarantine), which visit each belongs
//! to, in which order, and under which path of the [layout](crate::layout).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::archive::Archive;
use crate::error::{JobError, Reason};
use crate::instance::{self, Summary};
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
        }
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
        let slices: Vec<(usize, &nifti::Slice)> = self
            .slices
            .iter()
            .filter(|(&i, _)| self.inputs[i].outcome == Outcome::Pending)
            .map(|(&i, s)| (i, s))
            .collect();
        let mut volumes = nifti::plan(&slices, &self.policy);
        let mut taken = BTreeSet::new();
        let mut steps = Vec::new();
        for volume in &mut volumes {
            if let Some(problem) = &volume.problem {
                if self.settings.format == Format::Nifti {
                    for &i in &volume.members {
                        let why = Why::new(Reason::NiftiNotConverted, problem.to_string());
                        self.inputs[i].skip(why, format!("not converted to NIfTI: {problem}"));
                    }
                }
                continue;
            }
            let visit = &self.visits[&visit_key(self.summary(volume.members[0]), &self.settings)].visit;
            let paths = self.layout.nifti_unique(visit, &volume.stem(), &mut taken);
            volume.path = Some(paths.volume.clone());
            steps.extend(volume.members.iter().map(|&input| (input, Target::Nifti(paths.clone()))));
        }
        self.nifti = Some(nifti::Converter::new(volumes, !self.settings.nifti_gzip));
        steps
    }

    /// The EHR tables' paths; a table the settings skip (malformed rows) is reported.
    fn plan_tables(&mut self) -> Vec<(usize, Target)> {
        let planned = self.tables.plan(&self.settings.ehr, self.policy.dates, self.dicom(), self.layout.day());
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
    } else if let Some(why) = instance::risky_sop_class(&s.sop_class) {
        Some((Why::new(Reason::RiskySopClass, s.sop_class.clone()), format!("SOP class {}: {why}", s.sop_class)))
    } else if mip && !s.image_type.iter().any(|t| t == "PRIMARY") {
        let types = s.image_type.join("\\");
        let reason = format!("not a PRIMARY image (ImageType {types:?}); the mip preset exports primary images only");
        Some((Why::new(Reason::NotPrimary, types), reason))
    } else {
        None
    }
}
