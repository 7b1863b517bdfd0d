//! The face removal through the job, on a head scan generated from the embedded template (2 mm
//! axial MR slices): which voxels both outputs lose, what they record, and what happens when
//! the face cannot be placed or is kept.

use std::io::Read;

use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::VR;
use dicom_dictionary_std::tags;

use crate::deface;
use crate::dicom::{self, text};
use crate::error::Reason;
use crate::job::{Format, Job, Settings};
use crate::profile::{Opt, Preset};
use crate::redact::tests::{described, file, EXPLICIT};
use crate::report::Outcome;

/// Axial slices (2 mm, 12-bit MR, MRAcquisitionType 3D) of `head`'s voxels, one file each;
/// `flat` replaces the head by a uniform cube (no face to find).
fn head_series(flat: bool) -> Vec<Vec<u8>> {
    let head = deface::template_head();
    let [nx, ny, nz] = head.grid.dims;
    let a = head.grid.affine;
    let (columns, rows) = (nx.to_string(), ny.to_string());
    (0..nz)
        .map(|k| {
            // The template's voxels are axis-aligned: column i, row j, slice k; LPS = (−R, −A, S).
            let ras = |i: usize, j: usize| [a[0][0] * i as f64 + a[0][3], a[1][1] * j as f64 + a[1][3], a[2][2] * k as f64 + a[2][3]];
            let first = ras(0, 0);
            let position = format!("{}\\{}\\{}", -first[0], -first[1], first[2]);
            let orientation = format!("{}\\0\\0\\0\\{}\\0", -a[0][0].signum(), -a[1][1].signum());
            let spacing = format!("{}\\{}", a[1][1].abs(), a[0][0].abs());
            let (sop, number) = (format!("1.2.826.0.1.3680043.10.5437.91.{k}"), (k + 1).to_string());
            let mut attributes = described("MONOCHROME2", "1", "16", "0", (&columns, &rows), "1");
            attributes.extend([
                (tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()),
                (tags::MODALITY, VR::CS, "MR"),
                (tags::MR_ACQUISITION_TYPE, VR::CS, "3D"),
                (tags::STUDY_DATE, VR::DA, "20240611"),
                (tags::PATIENT_ID, VR::LO, "P1"),
                (tags::PATIENT_NAME, VR::PN, "Fàçè^Hélène"),
                (tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.1"),
                (tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.2"),
                (tags::SERIES_NUMBER, VR::IS, "5"),
                (tags::INSTANCE_NUMBER, VR::IS, number.as_str()),
                (tags::IMAGE_POSITION_PATIENT, VR::DS, position.as_str()),
                (tags::IMAGE_ORIENTATION_PATIENT, VR::DS, orientation.as_str()),
                (tags::PIXEL_SPACING, VR::DS, spacing.as_str()),
                (tags::SLICE_THICKNESS, VR::DS, "2"),
            ]);
            let pixels: Vec<u16> = (0..nx * ny)
                .map(|p| match flat {
                    true => 800,
                    false => (head.data[p + nx * ny * k] * 12.0) as u16 + 3,
                })
                .collect();
            file(EXPLICIT, &attributes, Value::Primitive(PrimitiveValue::U16(pixels.into())))
        })
        .collect()
}

/// The zip's entries by name.
fn entries(zip: Vec<u8>) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut read = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    (0..read.len())
        .map(|i| {
            let mut entry = read.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

/// An export of `files` (format both), the head scan's face placed and `remove`d or kept;
/// `None` for the option off.
fn export(files: &[Vec<u8>], remove: Option<bool>) -> (Job, std::collections::BTreeMap<String, Vec<u8>>) {
    let options = if remove.is_some() { vec![Opt::CleanVisualFeatures] } else { Vec::new() };
    let settings = Settings { format: Format::Both, preset: Preset::Basic, options, ..Settings::default() };
    let mut job = Job::new(settings, b"secret", "20261204").unwrap();
    for (i, bytes) in files.iter().enumerate() {
        job.scan(&format!("{i}.dcm"), bytes);
    }
    let plan = job.plan().unwrap();
    for series in job.face_series() {
        for &input in &series.inputs {
            job.face_add(&series.key, input, &files[input]).unwrap();
        }
        let _ = job.face_fit(&series.key);
        job.choose_face(&series.key, remove.unwrap_or(true)).unwrap();
    }
    let mut zip = Vec::new();
    for step in plan {
        zip.extend(job.export(step.input, &files[step.input]).unwrap());
    }
    zip.extend(job.finish().unwrap());
    (job, entries(zip))
}

fn codes(object: &dicom::Object) -> Vec<String> {
    let Ok(Value::Sequence(s)) = object.element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE).map(|e| e.value()) else { return Vec::new() };
    s.items().iter().filter_map(|i| text(i, tags::CODE_VALUE)).collect()
}

/// The stored samples of a DICOM entry and of the `.nii` entry.
fn samples(bytes: &[u8]) -> Vec<u16> {
    let object = dicom::parse(bytes, false).unwrap();
    let data = object.element(tags::PIXEL_DATA).unwrap().value().to_bytes().unwrap().into_owned();
    data.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()
}

/// The face goes from both outputs, the same voxels from each, set to the volume's lowest
/// value; the rest is untouched; both record 113102, and the report says so.
#[test]
fn a_head_scan_loses_the_same_face_voxels_in_both_outputs() {
    let files = head_series(false);
    let (job, out) = export(&files, Some(true));
    let series = job.face_series();
    assert_eq!((series.len(), series[0].fitted, series[0].inputs.len()), (1, true, files.len()), "{series:?}");
    let (mut changed, mut kept) = (0usize, 0usize);
    let dicoms: Vec<_> = out.iter().filter(|(name, _)| name.ends_with(".dcm")).collect();
    assert_eq!(dicoms.len(), files.len());
    for ((_, written), original) in dicoms.iter().zip(&files) {
        let object = dicom::parse(written, false).unwrap();
        assert_eq!(codes(&object).last().map(String::as_str), Some("113102"));
        for (after, before) in samples(written).into_iter().zip(samples(original)) {
            if after == before {
                kept += 1;
            } else {
                assert_eq!(after, 0, "a changed sample is cleared");
                changed += 1;
            }
        }
    }
    let (_, nii) = out.iter().find(|(name, _)| name.ends_with(".nii")).unwrap();
    let voxels = crate::nifti::voxels::read(nii).unwrap();
    let cleared = voxels.stored.iter().filter(|&&v| v == 0.0).count();
    assert!(changed > 10_000 && kept > 4 * changed, "{changed} changed, {kept} kept");
    assert_eq!(cleared, changed, "the NIfTI volume lost {cleared} voxels, the DICOM files {changed}");
    let (_, json) = out.iter().find(|(name, _)| name.ends_with(".json")).unwrap();
    assert!(String::from_utf8_lossy(json).contains("113102"));
    assert!(job.inputs.iter().all(|i| i.defaced && matches!(i.outcome, Outcome::Exported { .. })));
}

/// Kept on the review: the export is the one without the option, byte for byte.
#[test]
fn a_head_scan_whose_face_is_kept_is_exported_as_without_the_option() {
    let files = head_series(false);
    let (_, kept) = export(&files, Some(false));
    let (_, without) = export(&files, None);
    assert_eq!(kept, without);
}

/// A volume with no head in it: the face cannot be placed, and nothing of it is written.
#[test]
fn a_head_scan_whose_face_cannot_be_placed_is_held_back() {
    let files = head_series(true);
    let (job, out) = export(&files, Some(true));
    assert!(job.face_series()[0].failed.is_some());
    assert!(out.keys().all(|name| !name.ends_with(".dcm") && !name.ends_with(".nii")), "{:?}", out.keys());
    assert!(job.inputs.iter().all(|i| i.why.as_ref().map(|w| w.code) == Some(Reason::FaceNotRemoved)));
}
