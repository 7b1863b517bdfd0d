//! The second pass: each planned input is read again, de-identified and appended to the zip,
//! by the format of its entry; with `ready_marker`, each daily folder gets its `.ready` once
//! the export has moved past it.

use std::collections::{BTreeMap, VecDeque};

use crate::archive::{Archive, Packing};
use crate::error::{FileError, JobError, Reason};
use crate::dicom::{self, Summary};
use crate::layout;
use crate::nifti;
use crate::profile::{self, Subject};
use crate::report::{Outcome, Why};

use super::{mapping, visit_key, Input, Job, Stage, Target};

const NOT_EXPORTING: &str = "export() needs plan() first and comes before finish()";

impl Job {
    /// Second pass over one planned input: de-identifies it and appends it to the
    /// archive. Returns the zip bytes to append to the output (empty when the file
    /// turned out unusable: it is then reported as skipped and the export goes on).
    /// With `ready_marker`, the `.ready` file of a daily folder is written once the plan
    /// has moved past that folder (entries are in path order), or by `finish`.
    pub fn export(&mut self, input: usize, bytes: &[u8]) -> Result<Vec<u8>, JobError> {
        Ok(self.export_parts(input, bytes)?.concat())
    }

    /// [`Job::export`], its bytes as buffers to append one after the other: a NIfTI volume
    /// is handed out as it was built, not copied into a buffer of the archive's (the page
    /// and the CLI write the parts; a copy would double the page's memory for a large series).
    pub fn export_parts(&mut self, input: usize, bytes: &[u8]) -> Result<Vec<Vec<u8>>, JobError> {
        let mut all = Vec::new();
        self.export_read(input, Ok(bytes), &mut |parts| all.extend(parts))?;
        Ok(all)
    }

    /// [`Job::export_parts`], its buffers handed to `out` as they are made: an image cleaned of
    /// burned-in text comes frame by frame, so a caller that writes them at once holds one
    /// frame, not the whole cine.
    pub fn export_each(&mut self, input: usize, bytes: &[u8], out: &mut dyn FnMut(Vec<Vec<u8>>)) -> Result<(), JobError> {
        self.export_read(input, Ok(bytes), out)
    }

    /// In place of [`Job::export_parts`] for a planned input that could not be read again:
    /// it is reported as skipped with `reason` (and its NIfTI volume as not written).
    pub fn export_unreadable(&mut self, input: usize, reason: &str) -> Result<Vec<Vec<u8>>, JobError> {
        let mut all = Vec::new();
        self.export_read(input, Err(reason), &mut |parts| all.extend(parts))?;
        Ok(all)
    }

    /// One entry, preceded by the `.ready` marker of the folder it leaves, if any.
    fn export_read(&mut self, input: usize, bytes: Result<&[u8], &str>, out: &mut dyn FnMut(Vec<Vec<u8>>)) -> Result<(), JobError> {
        if !self.settings.ready_marker {
            return self.export_entry(input, bytes, out);
        }
        let Stage::Exporting { plan, .. } = &self.stage else {
            return Err(JobError::Sequence(NOT_EXPORTING));
        };
        let folder = plan.get(&input).and_then(VecDeque::front).map(Target::root);
        if matches!((self.unmarked, folder), (Some(done), Some(next)) if done != next) {
            out(vec![self.write_ready_marker()?]);
        }
        let mut wrote = false;
        self.export_entry(input, bytes, &mut |parts| {
            wrote |= parts.iter().any(|p| !p.is_empty());
            out(parts)
        })?;
        if wrote {
            self.unmarked = folder;
        }
        Ok(())
    }

    /// The `.ready` entry of the daily folder whose entries are all written, if any.
    fn write_ready_marker(&mut self) -> Result<Vec<u8>, JobError> {
        let (Some(root), Stage::Exporting { archive, .. }) = (self.unmarked.take(), &mut self.stage) else {
            return Ok(Vec::new());
        };
        archive.add(&self.layout.ready(root), b"", Packing::Stored)
    }

    /// The input's next planned entry, written by its format.
    fn export_entry(&mut self, input: usize, bytes: Result<&[u8], &str>, out: &mut dyn FnMut(Vec<Vec<u8>>)) -> Result<(), JobError> {
        let Stage::Exporting { plan, .. } = &mut self.stage else {
            return Err(JobError::Sequence(NOT_EXPORTING));
        };
        let target = plan.get_mut(&input).and_then(VecDeque::pop_front).ok_or(JobError::UnknownInput(input))?;
        let parts = match (target, bytes) {
            (Target::Nifti(paths), bytes) => self.export_nifti(input, paths, bytes)?,
            (_, Err(reason)) => {
                self.inputs[input].skip(Why::new(Reason::Unreadable, reason.to_string()), unreadable(reason));
                Vec::new()
            }
            (Target::Table(path), Ok(bytes)) => self.export_table(input, path, bytes)?,
            (Target::Dicom(path), Ok(bytes)) if self.pixels.contains_key(&input) => return self.export_cleaned(input, path, bytes, out),
            (Target::Dicom(path), Ok(bytes)) if self.defacing(input) => return self.export_defaced(input, path, bytes, out),
            (Target::Dicom(path), Ok(bytes)) => self.export_dicom(input, path, bytes)?,
        };
        out(parts);
        Ok(())
    }

    /// One DICOM file, de-identified for its visit; held back when the audit still finds
    /// one of its input's identifiers.
    fn export_dicom(&mut self, input: usize, path: String, bytes: &[u8]) -> Result<Vec<Vec<u8>>, JobError> {
        match self.deidentify_counted(input, bytes, |_| Ok(()), |_, _| Ok(()))? {
            Ok((attributes, pixel_data, ())) => {
                let archive = archive(&mut self.stage)?;
                let chunk = archive.add_parts(&path, &[&attributes, pixel_data], Packing::Stored)?;
                self.inputs[input].outcome = Outcome::Exported { path };
                Ok(vec![chunk])
            }
            Err(e) => {
                self.inputs[input].skip(e.why(), e.to_string());
                Ok(Vec::new())
            }
        }
    }

    /// One DICOM input de-identified for its visit (see [`deidentify_dicom`]), counted by the
    /// output audit when the audit ran.
    pub(super) fn deidentify_counted<'b, T>(
        &mut self,
        input: usize,
        bytes: &'b [u8],
        prepare: impl FnOnce(&dicom::Split<'b>) -> Result<T, FileError>,
        adjust: impl FnOnce(&mut dicom::Object, &T) -> Result<(), FileError>,
    ) -> Result<Result<Deidentified<'b, T>, FileError>, JobError> {
        let summary = self.inputs[input].summary.as_ref().ok_or(JobError::UnknownInput(input))?;
        // (A held-back input has no visit unless the plan gave it one.)
        let visit = self.visits.get(&visit_key(summary, &self.settings)).ok_or(JobError::UnknownInput(input))?;
        let subject = Subject {
            keyring: &self.keyring,
            policy: &self.policy,
            patient: &visit.patient,
            visit: &visit.visit,
            shift_days: visit.shift_days,
        };
        let encoded = deidentify_dicom(bytes, summary, &subject, self.uids.as_mut(), prepare, adjust);
        if matches!(encoded, Ok(_) | Err(FileError::Identifiable { .. })) {
            self.audit.files += 1;
            self.audit.held_back += usize::from(encoded.is_err());
        }
        Ok(encoded)
    }

    /// One EHR table, pseudonymised as its plan says. A workbook's input has one per sheet:
    /// its outcome is the last table's path, unless one of its tables was skipped.
    fn export_table(&mut self, input: usize, path: String, bytes: &[u8]) -> Result<Vec<Vec<u8>>, JobError> {
        if !self.tables.chosen(input, &path) {
            return Ok(Vec::new()); // a hidden sheet left out
        }
        let archive = archive(&mut self.stage)?;
        let (chunk, outcome, why) = match self.tables.export(input, &path, bytes, &self.keyring, self.policy.dates) {
            Ok(csv) => (archive.add(&path, &csv, Packing::Deflated)?, Outcome::Exported { path }, None),
            Err(e) => (Vec::new(), Outcome::Skipped { reason: e.to_string() }, Some(e.why())),
        };
        if !matches!(self.inputs[input].outcome, Outcome::Skipped { .. }) {
            self.inputs[input].outcome = outcome;
            self.inputs[input].why = why;
        }
        Ok(vec![chunk])
    }

    /// One slice of a NIfTI volume: the volume is written (sidecar, then `.nii`) whole once
    /// complete, or as its files arrive; its members are then reported by how it ended. A head
    /// scan's volume loses its face first (Clean Recognizable Visual Features).
    fn export_nifti(&mut self, input: usize, paths: layout::Nifti, bytes: Result<&[u8], &str>) -> Result<Vec<Vec<u8>>, JobError> {
        let summary = self.inputs[input].summary.as_ref().ok_or(JobError::UnknownInput(input))?;
        let split = parse_for_nifti(bytes, summary);
        let object = split.as_ref().map(|s| (&s.object, s.native_pixels())).map_err(Clone::clone);
        let policy = self.volume_policy(input);
        let converter = self.nifti.as_mut().ok_or(JobError::UnknownInput(input))?;
        let output = converter.add(input, object, policy.as_ref().unwrap_or(&self.policy));
        let (mut defaced, mut refused) = (false, None);
        let output = match output {
            Ok(nifti::Output::Whole(mut done)) => {
                match self.clear_finished(input, done.result) {
                    Ok((result, cleared)) => (done.result, defaced) = (result, cleared),
                    Err(e) => (done.result, refused) = (Err(e.to_string()), Some(e)),
                }
                Ok(nifti::Output::Whole(done))
            }
            other => other,
        };
        let (Some(converter), Stage::Exporting { archive, .. }) = (self.nifti.as_mut(), &mut self.stage) else {
            return Err(JobError::UnknownInput(input));
        };
        let (volume, written) = match output {
            Ok(nifti::Output::Nothing) => return Ok(Vec::new()),
            Ok(nifti::Output::Whole(done)) => {
                let gradients = gradient_texts(converter, done.volume);
                (done.volume, write_whole(archive, &paths, done.result, gradients, self.settings.nifti_gzip)?)
            }
            Ok(nifti::Output::Stream { volume, start, bytes, last }) => {
                let gradients = start.is_some().then(|| gradient_texts(converter, volume)).flatten();
                write_stream(archive, &paths, start.map(|s| (s, gradients)), bytes)?;
                if !last {
                    return Ok(archive.take_parts());
                }
                (volume, Ok(()))
            }
            Err(broken) => {
                let path = converter.volumes()[broken.volume].path.clone().unwrap_or_default();
                return Err(JobError::VolumeIncomplete { path, why: broken.why });
            }
        };
        let members = &converter.volumes()[volume].members;
        let cleared = defaced && written.is_ok();
        members.iter().for_each(|&m| self.inputs[m].defaced |= cleared);
        record_volume(&mut self.inputs, members, paths.volume, written);
        if let Some(e) = refused {
            for &m in members {
                if !matches!(self.inputs[m].outcome, Outcome::Exported { .. }) {
                    self.inputs[m].skip(e.why(), e.to_string());
                }
            }
        }
        Ok(archive.take_parts())
    }

    /// A finished volume of a chosen head scan with its face cleared (and whether it was), or
    /// why it is not written; any other volume as it is.
    fn clear_finished(&self, input: usize, result: Converted) -> Result<(Converted, bool), FileError> {
        let Ok((json, mut nii)) = result else { return Ok((result, false)) };
        match self.clear_volume(input, &mut nii) {
            Ok(cleared) => Ok((Ok((json, nii)), cleared.is_some())),
            Err(why) => Err(FileError::FaceNotRemoved(why)),
        }
    }

    /// Closes the archive; returns its last bytes.
    pub fn finish(&mut self) -> Result<Vec<u8>, JobError> {
        let Stage::Exporting { .. } = self.stage else {
            return Err(JobError::Sequence("finish() needs plan() first, and comes once"));
        };
        // A volume written as its files arrived must not end short in the zip.
        if let Some(v) = self.nifti.as_ref().and_then(nifti::Converter::started_unfinished) {
            let path = self.nifti.as_ref().and_then(|n| n.volumes()[v].path.clone()).unwrap_or_default();
            return Err(JobError::VolumeIncomplete { path, why: "the export ended before its last file".into() });
        }
        let marker = self.write_ready_marker()?;
        let Stage::Exporting { archive, .. } = std::mem::replace(&mut self.stage, Stage::Finished) else {
            unreachable!("checked above")
        };
        for input in &mut self.inputs {
            if input.outcome == Outcome::Pending {
                input.skip(Why::new(Reason::NotReached, None), "not exported: the export ended before this file".into());
            }
        }
        let mut end = marker;
        end.extend(archive.finish()?);
        Ok(end)
    }
}

pub(super) fn archive(stage: &mut Stage) -> Result<&mut Archive, JobError> {
    match stage {
        Stage::Exporting { archive, .. } => Ok(archive),
        _ => Err(JobError::Sequence(NOT_EXPORTING)),
    }
}

fn unreadable(reason: &str) -> String {
    format!("could not be read for the export: {reason}")
}

/// A finished volume: its sidecar and `.nii`, or why it was not converted.
type Converted = Result<(Vec<u8>, Vec<u8>), String>;

/// A de-identified input: its encoded attributes, the Pixel Data element split off after them,
/// and what `prepare` made of the file.
pub(super) type Deidentified<'b, T> = (Vec<u8>, &'b [u8], T);

/// One DICOM input de-identified: its encoded attributes, and the Pixel Data element to write
/// after them as the file holds it where it ends the file (dicom::Split). `prepare` reads the
/// parsed file first (the pixel cleaning opens its image), `adjust` changes the de-identified
/// object before it is encoded (the cleaned pixels' description). With `uids` (the mapping is
/// recorded), the UIDs it replaced are added to it.
fn deidentify_dicom<'b, T>(
    bytes: &'b [u8],
    summary: &Summary,
    subject: &Subject,
    uids: Option<&mut BTreeMap<String, String>>,
    prepare: impl FnOnce(&dicom::Split<'b>) -> Result<T, FileError>,
    adjust: impl FnOnce(&mut dicom::Object, &T) -> Result<(), FileError>,
) -> Result<Deidentified<'b, T>, FileError> {
    let split = dicom::parse_split(bytes, false)?;
    if Summary::of(&split.object) != *summary {
        return Err(FileError::Changed);
    }
    let prepared = prepare(&split)?;
    let originals = uids.is_some().then(|| mapping::Originals::of(&split.object));
    let mut clean = profile::deidentify(split.object, subject)?;
    adjust(&mut clean, &prepared)?;
    let attributes = dicom::encode(&clean)?;
    if let (Some(originals), Some(uids)) = (originals, uids) {
        originals.record(&clean, subject.keyring, uids);
    }
    Ok((attributes, split.pixel_data, prepared))
}

/// A NIfTI member parsed whole, with the header the scan saw, or why not (as reported).
/// Native samples are placed from the file's bytes (dicom::Split); compressed ones are
/// decoded from the whole object.
pub(super) fn parse_for_nifti<'b>(bytes: Result<&'b [u8], &str>, summary: &Summary) -> Result<dicom::Split<'b>, String> {
    let bytes = bytes.map_err(unreadable)?;
    dicom::parse_split(bytes, true)
        .and_then(|s| if Summary::of(&s.object) == *summary { Ok(s) } else { Err(FileError::Changed) })
        .map_err(|e| e.to_string())
}

/// The `.bval`/`.bvec` texts of planned volume `v`, if it is a diffusion volume.
fn gradient_texts(converter: &nifti::Converter, v: usize) -> Option<nifti::GradientTexts> {
    converter.volumes()[v].diffusion.as_ref().map(nifti::Table::texts)
}

/// A diffusion volume's `.bval` and `.bvec`, before its sidecar (entries in path order).
fn write_gradients(archive: &mut Archive, paths: &layout::Nifti, gradients: Option<nifti::GradientTexts>) -> Result<(), JobError> {
    if let Some(texts) = gradients {
        archive.put(&paths.bval, texts.bval.as_bytes(), Packing::Deflated)?;
        archive.put(&paths.bvec, texts.bvec.as_bytes(), Packing::Deflated)?;
    }
    Ok(())
}

/// A volume converted whole: its `.bval`/`.bvec` (diffusion), its sidecar, then the `.nii`
/// stored as dcm2niix -z n writes it (`.nii.gz` is the compressed choice). The inner error
/// is why it was not converted.
fn write_whole(
    archive: &mut Archive,
    paths: &layout::Nifti,
    result: Result<(Vec<u8>, Vec<u8>), String>,
    gradients: Option<nifti::GradientTexts>,
    gzip: bool,
) -> Result<Result<(), String>, JobError> {
    let (json, volume) = match result {
        Ok(converted) => converted,
        Err(why) => return Ok(Err(why)),
    };
    let volume = nifti::pack(volume, gzip);
    write_gradients(archive, paths, gradients)?;
    archive.put(&paths.sidecar, &json, Packing::Deflated)?;
    archive.put_owned(&paths.volume, volume)?;
    Ok(Ok(()))
}

/// The next bytes of a volume written as its files arrive; its first file starts the entry,
/// after the `.bval`/`.bvec` (diffusion) and the sidecar.
type StreamStart = ((Vec<u8>, usize), Option<nifti::GradientTexts>);

fn write_stream(archive: &mut Archive, paths: &layout::Nifti, start: Option<StreamStart>, bytes: Vec<u8>) -> Result<(), JobError> {
    if let Some(((json, size), gradients)) = start {
        write_gradients(archive, paths, gradients)?;
        archive.put(&paths.sidecar, &json, Packing::Deflated)?;
        archive.start_entry(&paths.volume, size)?;
    }
    archive.write_owned(bytes)
}

/// The members of a finished volume, not already exported (to DICOM), are reported as
/// exported to it or as not converted.
fn record_volume(inputs: &mut [Input], members: &[usize], path: String, written: Result<(), String>) {
    let (outcome, why) = match written {
        Ok(()) => (Outcome::Exported { path }, None),
        Err(why) => {
            let reason = format!("not converted to NIfTI: {why}");
            (Outcome::Skipped { reason }, Some(Why::new(Reason::NiftiNotConverted, why)))
        }
    };
    for &member in members {
        if !matches!(inputs[member].outcome, Outcome::Exported { .. }) {
            inputs[member].outcome = outcome.clone();
            inputs[member].why = why.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;

    use crate::job::{Job, Settings};
    use crate::report::Outcome;

    /// A small CT image of patient P1, without pixels.
    fn image(instance: &str, number: &str) -> Vec<u8> {
        let text = |tag, vr, value: &str| DataElement::new(tag, vr, PrimitiveValue::from(value));
        let object = InMemDicomObject::from_element_iter([
            text(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
            text(tags::SOP_INSTANCE_UID, VR::UI, instance),
            text(tags::STUDY_DATE, VR::DA, "20240315"),
            text(tags::PATIENT_ID, VR::LO, "P1"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.1"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.2"),
            text(tags::INSTANCE_NUMBER, VR::IS, number),
            text(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY"),
        ]);
        let meta = crate::dicom::meta("1.2.840.10008.5.1.4.1.1.2", instance, "1.2.840.10008.1.2.1").unwrap();
        crate::dicom::encode(&object.with_exact_meta(meta)).unwrap()
    }

    /// Exports `inputs` in plan order; the zip's entry names, in zip order, and the job.
    fn export(settings: Settings, inputs: &[(&str, Vec<u8>)]) -> (Vec<String>, Job) {
        let mut job = Job::new(settings, b"secret", "20261124").unwrap();
        inputs.iter().for_each(|(name, bytes)| _ = job.scan(name, bytes));
        let mut zip = Vec::new();
        for step in job.plan().unwrap() {
            zip.extend(job.export(step.input, &inputs[step.input].1).unwrap());
        }
        zip.extend(job.finish().unwrap());
        let mut read = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let names = (0..read.len()).map(|i| read.by_index(i).unwrap().name().unwrap().to_string()).collect();
        (names, job)
    }

    #[test]
    fn each_daily_folder_ends_with_its_ready_marker() {
        let settings = Settings { ready_marker: true, year_folder: true, ..Settings::default() };
        let inputs = [("b.dcm", image("1.2.3.10", "2")), ("a.dcm", image("1.2.3.11", "1")), ("t.csv", b"a,b\n1,2\n".to_vec())];
        let (names, job) = export(settings, &inputs);
        let visit = &job.visits.values().next().unwrap().visit;
        let expected = [
            format!("DICOM/2026/20261124/{visit}/0001.dcm"),
            format!("DICOM/2026/20261124/{visit}/0002.dcm"),
            "DICOM/2026/20261124/.ready".to_string(),
            "EHR/2026/20261124/t.csv".to_string(),
            "EHR/2026/20261124/.ready".to_string(),
        ];
        assert_eq!(names, expected);
        // Slice order, not input order: a.dcm (instance 1) is the first file.
        assert_eq!(job.inputs[1].outcome, Outcome::Exported { path: expected[0].clone() });
        assert_eq!(job.inputs[0].outcome, Outcome::Exported { path: expected[1].clone() });
    }

    #[test]
    fn a_missing_file_at_the_export_is_skipped_and_the_export_goes_on() {
        let mut job = Job::new(Settings::default(), b"secret", "20261124").unwrap();
        job.scan("a.dcm", &image("1.2.3.10", "1"));
        job.plan().unwrap();
        assert!(job.export_unreadable(0, "gone").unwrap().is_empty());
        job.finish().unwrap();
        assert_eq!(job.inputs[0].outcome, Outcome::Skipped { reason: "could not be read for the export: gone".into() });
    }
}
