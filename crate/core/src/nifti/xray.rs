//! X-ray series: images carrying XRayExposure (0018,1152), almost every scanner's CT.
//!
//! dcm2niix reads XRayExposure into its echo time when no EchoTime came before it, and marks
//! the image `isXRay` (nii_dicom.cpp, `kXRayExposure`). Under its default merge mode (`-m 2`)
//! `isSameSet` (nii_dicom_batch.cpp) then stacks two images of one SeriesInstanceUID as soon
//! as maker, modality, DERIVED or not, SeriesNumber, study and size (rows, columns, frames)
//! agree: ImageType, echo, exposure, coil, protocol name and orientation are not looked at.
//! A scout of the series' size becomes a slice of the volume; three scout planes one
//! volume of three slices.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::geometry::{dot, sub};
use super::plan::Volume;
use super::slice::Slice;
use crate::dicom::{number, text};

/// XRayExposure.
const X_RAY_EXPOSURE: Tag = Tag(0x0018, 0x1152);

/// Whether dcm2niix takes the image for an X-ray one: XRayExposure present, no non-zero
/// EchoTime before it.
pub(super) fn is_x_ray(ds: &InMemDicomObject) -> bool {
    let present = ds.element_opt(X_RAY_EXPOSURE).ok().flatten().is_some();
    present && number(ds, tags::ECHO_TIME).is_none_or(|te| te == 0.0)
}

/// What must agree for dcm2niix to stack two X-ray images (within a SeriesNumber, which
/// the plan groups by): the SeriesInstanceUID, DERIVED or not (ImageType), and the size.
pub(super) fn split_key(ds: &InMemDicomObject) -> String {
    let t = |tag| text(ds, tag).unwrap_or_default();
    let derived = t(tags::IMAGE_TYPE).to_ascii_uppercase().contains("DERIVED");
    let frames = text(ds, tags::NUMBER_OF_FRAMES).unwrap_or_else(|| "1".into());
    format!(
        "{}|x-ray|derived={derived}|{}x{}x{}",
        t(tags::SERIES_INSTANCE_UID),
        t(tags::ROWS),
        t(tags::COLUMNS),
        frames.trim()
    )
}

/// Whether the images of `members` lie in planes of different orientations.
pub(super) fn mixed(members: &[(usize, &Slice)]) -> bool {
    let first = members[0].1.orientation;
    members.iter().any(|m| match (m.1.orientation, first) {
        (Some(a), Some(b)) => a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-4),
        _ => false,
    })
}

/// dcm2niix's stack of X-ray images of different orientations (measured on generated
/// series, 1.0.20260724): in InstanceNumber order, then stably sorted along the first
/// image's normal (its warning "Instance Number order is not spatial"); each image copied
/// as a slice as it is stored; the slice axis the first image's normal times the distance
/// between the first two slices' positions (0 when they coincide, as a scout and the
/// first axial slice often do). `Ok` (slices, spacing along the affine's slice axis,
/// origin); the header's pixdim keeps SliceThickness when that distance is 0.
/// Positions that repeat evenly would make dcm2niix a 4D (or one-slice) volume: not done.
pub(super) fn stack(
    volume: &mut Volume,
    members: &[(usize, &Slice)],
    normal: [f64; 3],
) -> Result<(usize, f64, [f64; 3]), String> {
    let first = members[0].1;
    let p0 = first.position.expect("checked");
    let same = |p: [f64; 3]| p.iter().zip(p0).all(|(a, b)| (*a as f32 - b as f32).abs() <= f32::EPSILON);
    let n = members.len();
    let repeats = members.iter().filter(|m| m.1.position.is_some_and(same)).count();
    if repeats > 1 && n % repeats == 0 {
        return Err(format!(
            "X-ray images of several orientations, {repeats} of {n} at one position (dcm2niix would make a 4D volume): not converted yet"
        ));
    }
    let along = |k: usize| dot(members[k].1.position.expect("checked"), normal);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| along(a).total_cmp(&along(b)));
    volume.members = order.iter().map(|&k| members[k].0).collect();
    let position = |k: usize| members[order[k]].1.position.expect("checked");
    let gap = sub(position(1), position(0));
    // dcm2niix's `intersliceDistance`, in single precision.
    let dz = gap.iter().map(|v| (*v as f32) * (*v as f32)).sum::<f32>().sqrt() as f64;
    volume.warnings.push(format!(
        "X-ray images of several orientations (a scout?) stacked into one volume as dcm2niix does (XRayExposure); slice spacing {dz:.3} mm"
    ));
    Ok((n, dz, position(0)))
}
