//! The mapping of one export, for an auditor or a de-identification benchmark's scorer: each
//! original PatientID and UID and what replaced it. It holds original identifiers: it is
//! written beside the export (CLI `--mapping DIR`, the page's download), never into the zip.
//!
//! Recorded only when asked ([`Job::record_mapping`]): the export then reads the UIDs of
//! each DICOM instance before and after its de-identification. A UID is listed when its keyed
//! replacement is in the output, so the table says what the export replaced, whatever rule
//! replaced it, at any depth (elements removed, and standard UIDs, are not listed).

use std::collections::{BTreeMap, HashSet};

use dicom_core::value::Value;
use dicom_core::VR;

use super::{Job, Stage};
use crate::archive::{Archive, Packing};
use crate::error::JobError;
use crate::dicom::Object;
use crate::pseudonym::Keyring;
use crate::report::Outcome;

/// UIDs defined by the standard are never replaced (as in `profile::walk`).
const STANDARD_UID_ROOT: &str = "1.2.840.10008.";

/// The mapping's two tables, rows sorted by original value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Original PatientID → research patient ID, of the exported images and tables.
    pub patients: Vec<(String, String)>,
    /// Original UID → its keyed replacement, of the exported DICOM files.
    pub uids: Vec<(String, String)>,
}

impl Mapping {
    /// The file names of the two tables.
    pub const PATIENT_FILE: &'static str = "patid_mapping.csv";
    pub const UID_FILE: &'static str = "uid_mapping.csv";

    /// The two tables as CSV files: `(name, bytes)`, header `id_old,id_new`.
    pub fn files(&self) -> [(&'static str, Vec<u8>); 2] {
        [(Self::PATIENT_FILE, csv(&self.patients)), (Self::UID_FILE, csv(&self.uids))]
    }

    /// The two files in one zip (the page's single download), dated like the export.
    pub fn zip(&self, export_date: crate::dates::Date) -> Result<Vec<u8>, JobError> {
        let mut archive = Archive::new(export_date);
        for (name, bytes) in self.files() {
            archive.put(name, &bytes, Packing::Deflated)?;
        }
        let mut out = archive.take();
        out.extend(archive.finish()?);
        Ok(out)
    }
}

/// A table as CSV: header `id_old,id_new`, fields quoted where needed (RFC 4180), `\n` ends.
fn csv(rows: &[(String, String)]) -> Vec<u8> {
    let mut writer = ::csv::WriterBuilder::new().terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let records = std::iter::once(("id_old", "id_new")).chain(rows.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    for (old, new) in records {
        writer.write_record([old, new]).expect("writing CSV into memory cannot fail");
    }
    writer.into_inner().expect("writing CSV into memory cannot fail")
}

/// The UIDs of an instance as read, before its de-identification: candidates for the table.
pub(super) struct Originals(Vec<String>);

impl Originals {
    /// UI values at any depth, UID-like runs in UN values (a UID written as UN, or inside a
    /// sequence written as UN, is replaced too), and the meta group's SOP Instance UID.
    pub(super) fn of(object: &Object) -> Originals {
        let mut uids = Vec::new();
        collect(object, &mut uids, true);
        uids.push(trimmed(object.meta().media_storage_sop_instance_uid()).to_string());
        uids.retain(|u| !u.is_empty() && !u.starts_with(STANDARD_UID_ROOT));
        Originals(uids)
    }

    /// Adds to `table` each original whose replacement is among the UIDs of `output`.
    pub(super) fn record(self, output: &Object, keyring: &Keyring, table: &mut BTreeMap<String, String>) {
        let mut written = Vec::new();
        collect(output, &mut written, false);
        written.push(trimmed(output.meta().media_storage_sop_instance_uid()).to_string());
        let written: HashSet<String> = written.into_iter().collect();
        for uid in self.0 {
            if table.contains_key(&uid) {
                continue;
            }
            let new = keyring.uid(&uid);
            if written.contains(&new) {
                table.insert(uid, new);
            }
        }
    }
}

/// The UI values of a data set at any depth, and with `un` the UID-like runs of UN values.
fn collect(dataset: &dicom_object::InMemDicomObject, out: &mut Vec<String>, un: bool) {
    for element in dataset {
        match (element.value(), element.vr()) {
            (Value::Primitive(p), VR::UI) => out.extend(p.to_multi_str().iter().map(|s| trimmed(s).to_string())),
            (Value::Primitive(p), VR::UN) if un => out.extend(uid_runs(&p.to_bytes())),
            (Value::Sequence(seq), _) => seq.items().iter().for_each(|item| collect(item, out, un)),
            _ => {}
        }
    }
}

/// Runs of digits and dots with a dot inside: every UID a UN value may hold (false ones are
/// harmless, their replacement is not in the output).
fn uid_runs(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|b| !(b.is_ascii_digit() || *b == b'.'))
        .filter(|run| run.len() >= 3 && run.contains(&b'.'))
        .map(|run| String::from_utf8_lossy(run).into_owned())
}

fn trimmed(uid: &str) -> &str {
    uid.trim_matches(['\0', ' '])
}

impl Job {
    /// Records the mapping during the export, for [`Job::mapping`]: call before the first
    /// `export` (the UIDs of files already exported would be missing).
    pub fn record_mapping(&mut self) -> Result<(), JobError> {
        let started = self.inputs.iter().any(|i| matches!(i.outcome, Outcome::Exported { .. }));
        if started || matches!(self.stage, Stage::Finished) {
            return Err(JobError::Sequence("record_mapping() comes before the first export"));
        }
        self.uids.get_or_insert_with(BTreeMap::new);
        Ok(())
    }

    /// [`Job::mapping`]'s two files in one zip (the page's single download), dated as the export.
    pub fn mapping_zip(&self) -> Result<Vec<u8>, JobError> {
        self.mapping()?.zip(self.export_date)
    }

    /// The mapping of the finished export: the patient IDs of every exported image and table
    /// (empty ones have no row), the UIDs recorded since [`Job::record_mapping`].
    pub fn mapping(&self) -> Result<Mapping, JobError> {
        let (Some(uids), Stage::Finished) = (&self.uids, &self.stage) else {
            return Err(JobError::Sequence("mapping() needs record_mapping() before the export, and finish()"));
        };
        let mut patients = BTreeMap::new();
        let images = self.inputs.iter().filter(|i| matches!(i.outcome, Outcome::Exported { .. })).filter_map(|i| i.summary.as_ref());
        for id in images.map(|s| &s.patient_id).chain(self.tables.written_patients()) {
            if !id.is_empty() && !patients.contains_key(id) {
                // Keyed as the export keyed it: normalised by the site's rule.
                patients.insert(id.clone(), self.keyring.patient(&self.settings.patient_id_normalise.key(id)));
            }
        }
        Ok(Mapping { patients: patients.into_iter().collect(), uids: uids.clone().into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, Settings};
    use crate::profile::Preset;
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, Length, Tag};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;

    fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, vr, PrimitiveValue::from(value))
    }

    /// A CT image whose UIDs sit at the top level, in a sequence, in a UN value and (its
    /// instance UID) in the meta group only; a private UID that the export removes.
    fn file(patient: &str, instance: &str) -> Vec<u8> {
        let reference = InMemDicomObject::from_element_iter([
            text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
            text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.9"),
        ]);
        let object = InMemDicomObject::from_element_iter([
            text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
            text(tags::STUDY_DATE, VR::DA, "20240315"),
            text(tags::PATIENT_ID, VR::LO, patient),
            text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.1"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.2"),
            DataElement::new(tags::FRAME_OF_REFERENCE_UID, VR::UN, PrimitiveValue::from(&b"1.2.3.3\0"[..])),
            text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY"),
            DataElement::new(tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::new(vec![reference], Length::UNDEFINED)),
            text(Tag(0x0009, 0x0010), VR::LO, "ACME"),
            text(Tag(0x0009, 0x1001), VR::UI, "1.2.3.8"),
        ]);
        let meta = crate::dicom::meta("1.2.840.10008.5.1.4.1.1.2", instance, "1.2.840.10008.1.2.1").unwrap();
        crate::dicom::encode(&object.with_exact_meta(meta)).unwrap()
    }

    fn export(inputs: &[(&str, Vec<u8>)], record: bool) -> Job {
        let settings = Settings { preset: Preset::Basic, ..Settings::default() };
        let mut job = Job::new(settings, b"secret", "20261124").unwrap();
        inputs.iter().for_each(|(name, bytes)| _ = job.scan(name, bytes));
        let plan = job.plan().unwrap();
        if record {
            job.record_mapping().unwrap();
        }
        for step in plan {
            job.export(step.input, &inputs[step.input].1).unwrap();
        }
        job.finish().unwrap();
        job
    }

    /// Every UID the export replaced, at any depth and in the meta group, maps to its keyed
    /// replacement; standard and removed UIDs are not listed; patient IDs map to research IDs.
    #[test]
    fn mapping_lists_what_the_export_replaced() {
        let inputs = [("a.dcm", file("PID 1", "1.2.3.4")), ("b.dcm", file("PID,\"2\"", "1.2.3.5"))];
        let job = export(&inputs, true);
        let mapping = job.mapping().unwrap();
        let keyring = Keyring::from_secret(b"secret");
        let uids: Vec<&str> = mapping.uids.iter().map(|(old, _)| old.as_str()).collect();
        assert_eq!(uids, ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5", "1.2.3.9"]);
        assert!(mapping.uids.iter().all(|(old, new)| *new == keyring.uid(old)));
        let patients = [("PID 1", keyring.patient("PID 1")), ("PID,\"2\"", keyring.patient("PID,\"2\""))];
        assert_eq!(mapping.patients, patients.clone().map(|(a, b)| (a.to_string(), b)));
        let csv = String::from_utf8(mapping.files()[0].1.clone()).unwrap();
        assert_eq!(csv, format!("id_old,id_new\nPID 1,{}\n\"PID,\"\"2\"\"\",{}\n", patients[0].1, patients[1].1));
        assert!(String::from_utf8(mapping.files()[1].1.clone()).unwrap().starts_with("id_old,id_new\n1.2.3.1,2.25."));
    }

    /// Without record_mapping before the export there is no mapping, nor once it started.
    #[test]
    fn mapping_is_recorded_only_when_asked_before_the_export() {
        let inputs = [("a.dcm", file("PID 1", "1.2.3.4"))];
        assert!(export(&inputs, false).mapping().is_err());
        let mut job = Job::new(Settings::default(), b"secret", "20261124").unwrap();
        job.scan("a.dcm", &inputs[0].1);
        let step = job.plan().unwrap().remove(0);
        job.export(step.input, &inputs[0].1).unwrap();
        assert!(job.record_mapping().is_err());
    }

    #[test]
    fn the_zip_holds_the_two_tables() {
        let mapping = Mapping { patients: vec![("1".into(), "P1".into())], uids: vec![("1.2".into(), "2.25.1".into())] };
        let zip = mapping.zip(crate::dates::Date::parse_da("20261124").unwrap()).unwrap();
        let mut read = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut names: Vec<String> = read.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, [Mapping::PATIENT_FILE, Mapping::UID_FILE]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut read.by_name(Mapping::UID_FILE).unwrap(), &mut text).unwrap();
        assert_eq!(text, "id_old,id_new\n1.2,2.25.1\n");
    }
}
