//! The Clean Recognizable Visual Features Option (PS3.15 E.3.2): the face removed from the
//! voxels of 3D head scans. The plan names the head scans (`nifti::Volume::shows_face`); each
//! is read once more and registered to the head template (`face_add`, `face_fit`: the review
//! shows the region), then exported with the region's voxels set to zero (or the volume's
//! lowest stored value where that is negative): its NIfTI volume (`clear_volume`) and its DICOM files, rewritten natively
//! (`export_defaced`). A chosen scan whose face could not be placed is not written at all.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::deface::{self, Fit, Grid, Modality, Picture};
use crate::dicom::{self, Plane, Split};
use crate::error::{FileError, JobError};
use crate::nifti::{self, voxels};
use crate::profile::Opt;
use crate::redact::{write, Image};
use crate::report::Outcome;

use super::export::{archive, parse_for_nifti};
use super::redact::write_entry;
use super::Job;

/// A head scan of the plan, as the review lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceSeries {
    pub key: String,
    /// SeriesNumber and SeriesDescription, for the user's screen (never exported from here).
    pub label: String,
    pub modality: String,
    /// Its files, each to hand to [`Job::face_add`].
    pub inputs: Vec<usize>,
    pub dims: [usize; 3],
    pub voxel: [f32; 3],
    /// The face is removed on export (the default; the review may untick it).
    pub chosen: bool,
    /// Registered: its face is placed.
    pub fitted: bool,
    /// Why its face could not be placed (it is then held back while chosen).
    pub failed: Option<String>,
}

/// The review's pictures of a registered head scan and the size of the region.
#[derive(Debug, Clone, PartialEq)]
pub struct FacePreview {
    pub sagittal: Picture,
    pub axial: Picture,
    pub voxels: usize,
}

/// One head scan of the plan.
pub(super) struct FacePlan {
    volume: nifti::Volume,
    label: String,
    modality: String,
    chosen: bool,
    state: FaceState,
}

enum FaceState {
    /// Its files are being read for the registration.
    Reading(Option<Box<nifti::Converter>>),
    /// All read: the `.nii` to register.
    Read(Vec<u8>),
    /// Shared with the export of each of its files.
    Fitted(Arc<Fitted>),
    Failed(String),
}

/// A placed face: the region over the stored volume's grid, and what its voxels become.
struct Fitted {
    fit: Fit,
    grid: Grid,
    mask: Vec<bool>,
    /// What its voxels become: 0, or the volume's lowest stored value where that is negative.
    fill: f64,
}

impl Job {
    /// With the option: the head scans among the volumes the pending DICOM inputs make (the
    /// plan's step after the quarantine, before the NIfTI volumes).
    pub(super) fn plan_faces(&mut self) {
        if !self.policy.options.contains(&Opt::CleanVisualFeatures) {
            return;
        }
        let volumes = nifti::plan(&self.volume_slices());
        let mut seen = BTreeSet::new();
        for volume in volumes {
            let first = volume.members[0];
            let summary = self.summary(first);
            // A tilted CT's corrected volume has the stored volume's files.
            if !seen.insert(volume.members.clone()) || !volume.shows_face(&self.slices[&first], summary.body_part.as_deref()) {
                continue;
            }
            let label = [summary.series_number.map(|n| n.to_string()), summary.series_description.clone()];
            let label = label.into_iter().flatten().collect::<Vec<_>>().join(" ");
            let modality = summary.modality.clone().unwrap_or_default();
            let scan = self.faces.len();
            volume.members.iter().for_each(|&i| _ = self.face_of.insert(i, scan));
            self.faces.push(FacePlan { volume, label, modality, chosen: true, state: FaceState::Reading(None) });
        }
    }

    /// The slices of the DICOM inputs still to export whose pixels are not cleaned otherwise.
    pub(super) fn volume_slices(&self) -> Vec<(usize, &nifti::Slice)> {
        self.slices
            .iter()
            .filter(|(&i, _)| self.inputs[i].outcome == Outcome::Pending && !self.pixels.contains_key(&i))
            .map(|(&i, s)| (i, s))
            .collect()
    }

    /// The head scans of the plan, in plan order.
    pub fn face_series(&self) -> Vec<FaceSeries> {
        self.faces
            .iter()
            .enumerate()
            .map(|(scan, plan)| {
                let header = plan.volume.header.as_ref();
                FaceSeries {
                    key: scan.to_string(),
                    label: plan.label.clone(),
                    modality: plan.modality.clone(),
                    inputs: plan.volume.members.clone(),
                    dims: header.map(|h| [h.dim[0], h.dim[1], h.dim[2]]).unwrap_or_default(),
                    voxel: header.map(|h| [h.pixdim[0], h.pixdim[1], h.pixdim[2]]).unwrap_or_default(),
                    chosen: plan.chosen,
                    fitted: matches!(plan.state, FaceState::Fitted(_)),
                    failed: match &plan.state {
                        FaceState::Failed(why) => Some(why.clone()),
                        _ => None,
                    },
                }
            })
            .collect()
    }

    /// One file of head scan `key`, read again for its registration (after `plan`, before
    /// `face_fit`); a file that no longer reads as scanned fails the scan's registration.
    pub fn face_add(&mut self, key: &str, input: usize, bytes: &[u8]) -> Result<(), JobError> {
        let summary = self.inputs.get(input).and_then(|i| i.summary.clone()).ok_or(JobError::UnknownInput(input))?;
        let plan = face_scan(&mut self.faces, key)?;
        if !plan.volume.members.contains(&input) {
            return Err(JobError::UnknownInput(input));
        }
        let FaceState::Reading(converter) = &mut plan.state else { return Ok(()) };
        let split = parse_for_nifti(Ok(bytes), &summary);
        let object = split.as_ref().map(|s| (&s.object, s.native_pixels())).map_err(Clone::clone);
        let volume = &plan.volume;
        let converter = converter.get_or_insert_with(|| Box::new(nifti::Converter::new(vec![volume.clone()], false)));
        plan.state = match converter.add(input, object, &self.policy) {
            Ok(nifti::Output::Whole(done)) => match done.result {
                Ok((_, nii)) => FaceState::Read(nii),
                Err(why) => FaceState::Failed(why),
            },
            Ok(_) => return Ok(()),
            Err(broken) => FaceState::Failed(broken.why),
        };
        Ok(())
    }

    /// Registers head scan `key` once all its files were added: its face is placed, and the
    /// review's pictures returned; or why not (the scan is then held back while chosen).
    pub fn face_fit(&mut self, key: &str) -> Result<FacePreview, JobError> {
        let plan = face_scan(&mut self.faces, key)?;
        let state = std::mem::replace(&mut plan.state, FaceState::Failed(String::new()));
        let (state, preview) = match state {
            FaceState::Read(nii) => fit_volume(&nii, modality(&plan.modality)),
            FaceState::Reading(_) => (FaceState::Failed("not all of its files could be read".into()), None),
            done => (done, None),
        };
        plan.state = state;
        match (&plan.state, preview) {
            (_, Some(preview)) => Ok(preview),
            (FaceState::Failed(why), None) => Err(JobError::FaceNotFitted(why.clone())),
            _ => Err(JobError::Sequence("face_fit() comes once per head scan")),
        }
    }

    /// The review's choice for head scan `key`: its face removed (the default) or kept.
    pub fn choose_face(&mut self, key: &str, remove: bool) -> Result<(), JobError> {
        let plan = face_scan(&mut self.faces, key)?;
        plan.chosen = remove;
        Ok(())
    }

    /// The chosen head scan `input` belongs to, if any.
    fn face_plan(&self, input: usize) -> Option<&FacePlan> {
        self.face_of.get(&input).and_then(|&scan| self.faces.get(scan)).filter(|plan| plan.chosen)
    }

    /// Whether `input`'s DICOM file goes through [`Job::export_defaced`].
    pub(super) fn defacing(&self, input: usize) -> bool {
        self.face_plan(input).is_some()
    }

    /// The policy of the NIfTI volume `input` is in: with the option recorded when its face
    /// is removed.
    pub(super) fn volume_policy(&self, input: usize) -> Option<crate::profile::Policy> {
        self.face_plan(input).map(|_| self.policy.applying(Opt::CleanVisualFeatures))
    }

    /// A finished NIfTI volume of `input`'s head scan with its face cleared, or why it cannot
    /// be written; `Ok(None)` when the volume is not a chosen head scan's.
    pub(super) fn clear_volume(&self, input: usize, nii: &mut [u8]) -> Result<Option<usize>, String> {
        let Some(plan) = self.face_plan(input) else { return Ok(None) };
        let fitted = fitted(plan)?;
        let read = voxels::read(nii).ok_or("not a 3D scalar volume")?;
        let grid = Grid { dims: read.dims, affine: read.affine };
        // The stored volume's own grid: the region the DICOM files get; another (tilt-corrected) its own.
        let other;
        let mask = match grid == fitted.grid {
            true => &fitted.mask,
            false => {
                other = fitted.fit.mask(&grid);
                &other
            }
        };
        voxels::set(nii, mask, fitted.fill).map(Some).ok_or_else(|| "not a 3D scalar volume".to_string())
    }

    /// One DICOM file of a chosen head scan: de-identified as the DICOM export does, its
    /// frames decoded one at a time, the face's pixels set as the volume's voxels are, and
    /// written natively with 113102 recorded; held back when the face was not placed.
    pub(super) fn export_defaced<'b>(&mut self, input: usize, path: String, bytes: &'b [u8], out: &mut dyn FnMut(Vec<Vec<u8>>)) -> Result<(), JobError> {
        let plan = self.face_plan(input).ok_or(JobError::UnknownInput(input))?;
        let fitted = match fitted(plan) {
            Ok(fitted) => fitted,
            Err(why) => {
                let e = FileError::FaceNotRemoved(why);
                self.inputs[input].skip(e.why(), e.to_string());
                return Ok(());
            }
        };
        let Some(mask) = FrameMask::new(&fitted) else {
            let e = FileError::FaceNotRemoved("its volume's grid cannot be inverted".into());
            self.inputs[input].skip(e.why(), e.to_string());
            return Ok(());
        };
        let fill = fitted.fill;
        let prepare = |split: &Split<'b>| open_defaced(split, bytes);
        let Some((attributes, opened)) = self.deidentify_rewritten(input, bytes, Opt::CleanVisualFeatures, prepare)? else {
            return Ok(());
        };
        let (columns, rows) = (opened.image.format.columns, opened.image.format.rows);
        let fill_frame = &mut |f: usize, frame: &mut [u8]| {
            let region = mask.plane(&opened.planes[f], columns, rows);
            opened.image.fill_where(frame, &region, fill as i64);
        };
        write_entry(archive(&mut self.stage)?, &path, attributes, (&opened.image, opened.length), fill_frame, out)?;
        self.inputs[input].defaced = true;
        self.inputs[input].outcome = Outcome::Exported { path };
        Ok(())
    }
}

/// Head scan `key` of `faces` (its place in the plan's list, as `face_series` names it).
fn face_scan<'a>(faces: &'a mut [FacePlan], key: &str) -> Result<&'a mut FacePlan, JobError> {
    let scan = key.parse::<usize>().ok();
    scan.and_then(|scan| faces.get_mut(scan)).ok_or_else(|| JobError::UnknownFaceSeries(key.to_string()))
}

/// The placed face of a chosen head scan, or why there is none.
fn fitted(plan: &FacePlan) -> Result<Arc<Fitted>, String> {
    match &plan.state {
        FaceState::Fitted(fitted) => Ok(fitted.clone()),
        FaceState::Failed(why) => Err(why.clone()),
        _ => Err("its head scan was not registered before the export".into()),
    }
}

fn modality(name: &str) -> Modality {
    match name {
        "CT" => Modality::Ct,
        _ => Modality::Mr,
    }
}

/// The registration of a head scan's `.nii`: its state after, and the review's pictures.
fn fit_volume(nii: &[u8], modality: Modality) -> (FaceState, Option<FacePreview>) {
    let Some(read) = voxels::read(nii) else {
        return (FaceState::Failed("not a 3D scalar volume".into()), None);
    };
    let grid = Grid { dims: read.dims, affine: read.affine };
    let (slope, inter) = read.rescale;
    // Zero, or the lowest stored value where that is below (signed CT: air or padding).
    let fill = read.stored.iter().copied().fold(0.0, f64::min);
    let data = read.stored.iter().map(|&v| (v * slope + inter) as f32).collect();
    let volume = deface::Volume { grid, data };
    match deface::fit(&volume, modality) {
        Ok(fit) => {
            let mask = fit.mask(&volume.grid);
            let pictures = deface::previews(&volume, &mask);
            let preview = FacePreview { sagittal: pictures.sagittal, axial: pictures.axial, voxels: pictures.voxels };
            (FaceState::Fitted(Arc::new(Fitted { fit, grid: volume.grid, mask, fill })), Some(preview))
        }
        Err(e) => (FaceState::Failed(e.to_string()), None),
    }
}

/// The region over a DICOM frame: each pixel's centre looked up in the stored volume's region
/// (the voxel it is), so that the DICOM files and the NIfTI volume lose the same voxels.
struct FrameMask<'a> {
    fitted: &'a Fitted,
    /// RAS mm → voxel (i, j, k): the grid's affine inverted.
    inverse: [[f64; 4]; 3],
}

impl<'a> FrameMask<'a> {
    /// `None` for a singular grid (the scan's registration would have refused it).
    fn new(fitted: &'a Fitted) -> Option<FrameMask<'a>> {
        Some(FrameMask { fitted, inverse: deface::inverse(&fitted.grid.affine)? })
    }

    fn plane(&self, plane: &Plane, columns: usize, rows: usize) -> Vec<bool> {
        let [nx, ny, nz] = self.fitted.grid.dims;
        let mut out = Vec::with_capacity(columns * rows);
        for r in 0..rows {
            for c in 0..columns {
                let [x, y, z] = plane.point(c as f64, r as f64);
                let ras = [-x, -y, z];
                let v: [f64; 3] = std::array::from_fn(|a| (0..3).map(|b| self.inverse[a][b] * ras[b]).sum::<f64>() + self.inverse[a][3]);
                let [i, j, k] = v.map(|x| x.round());
                let inside = i >= 0.0 && j >= 0.0 && k >= 0.0 && (i as usize) < nx && (j as usize) < ny && (k as usize) < nz;
                out.push(match inside {
                    true => self.fitted.mask[i as usize + nx * (j as usize + ny * k as usize)],
                    false => self.fitted.fit.face(ras),
                });
            }
        }
        out
    }
}

/// A head scan's DICOM file opened for clearing: its image, each frame's plane, and the
/// Pixel Data value's length.
struct Defaced<'b> {
    image: Image<'b>,
    planes: Vec<Plane>,
    length: u32,
}

impl<'b> super::redact::Rewritten<'b> for Defaced<'b> {
    fn image(&self) -> &Image<'b> {
        &self.image
    }
}

/// Opens the image; compressed frames are decoded once first, so that no entry is started
/// that a frame could leave short.
fn open_defaced<'b>(split: &Split<'b>, bytes: &'b [u8]) -> Result<Defaced<'b>, FileError> {
    let not_removed = |why: String| FileError::FaceNotRemoved(why);
    let image = Image::open(split, bytes).map_err(|e| not_removed(e.to_string()))?;
    let format = &image.format;
    let planes = dicom::frame_planes(&split.object, format.frames).ok_or_else(|| not_removed("a frame has no position".into()))?;
    let length = write::pixel_length(format.frames, format.output_len()).ok_or_else(|| not_removed("too large".into()))?;
    if image.compressed() {
        for f in 0..format.frames {
            image.frame(f).map_err(|e| not_removed(e.to_string()))?;
        }
    }
    Ok(Defaced { image, planes, length })
}

#[cfg(test)]
#[path = "face_tests.rs"]
mod through_the_job;
