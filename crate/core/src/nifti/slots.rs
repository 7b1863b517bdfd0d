//! Which image fills each slice slot of a planned volume (a file, a frame of an enhanced
//! file, a tile of a mosaic), for the data that varies per image: SliceTiming and the
//! diffusion gradients, gathered in voxel order.

use std::collections::BTreeMap;

use super::diffusion::{self, Table};
use super::plan::Volume;
use super::slice::{Frame, Slice};
use super::timing;

/// The image in one slot: its input, its header, and its frame (enhanced files, mosaics).
pub(super) struct Source<'a> {
    pub(super) input: usize,
    pub(super) slice: &'a Slice,
    pub(super) frame: Option<&'a Frame>,
}

/// The source of each slot (`slices × volumes`, voxel order) of a planned `volume` whose
/// `members` are in acquisition order.
fn sources<'a>(volume: &Volume, members: &[(usize, &'a Slice)]) -> Vec<Option<Source<'a>>> {
    let slots = volume.slices * volume.volumes;
    let by_input: BTreeMap<usize, &Slice> = members.iter().copied().collect();
    let source = |member: usize, frame: usize| -> Option<Source<'a>> {
        let input = *volume.members.get(member)?;
        let slice = *by_input.get(&input)?;
        Some(Source { input, slice, frame: slice.frame_list.get(frame) })
    };
    let frames = volume.frames.max(1);
    if volume.frame_places.is_empty() {
        return (0..slots).map(|s| source(s / frames, s % frames)).collect();
    }
    let mut out: Vec<Option<Source>> = (0..slots).map(|_| None).collect();
    for (f, place) in volume.frame_places.iter().enumerate() {
        if let Some(slot) = place.and_then(|(slot, _)| out.get_mut(slot)) {
            *slot = source(f / frames, f % frames);
        }
    }
    out
}

/// Sets the volume's SliceTiming and diffusion table from its images (`members` in
/// acquisition order).
pub(super) fn per_image(volume: &mut Volume, members: &[(usize, &Slice)]) {
    if volume.problem.is_some() {
        return;
    }
    let sources = sources(volume, members);
    let acquisition: Vec<usize> = members.iter().map(|m| m.0).collect();
    volume.slice_timing = timing::seconds(&sources, volume.slices, volume.volumes, &acquisition);
    let Some(Some(first)) = sources.first() else { return };
    let gradients: Vec<_> = (0..volume.volumes)
        .map(|t| {
            let s = sources.get(t * volume.slices)?.as_ref()?;
            s.frame.and_then(|f| f.gradient).or(s.slice.gradient)
        })
        .collect();
    let frame = diffusion::Frame {
        orientation: first.slice.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        phase_columns: first.slice.phase_rows == Some(false),
        descending: volume.slices > 1 && acquisition.first() != Some(&first.input) && first.frame.is_none(),
        mosaic_flipped: first.slice.mosaic && first.slice.normal_sign < 0.0,
    };
    volume.diffusion = Table::of(&gradients, &frame);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slices of the files of dcm_qa's `folder` (sorted by name), or `None` (with a
    /// message) where ../shared/dcm_qa is absent.
    fn dcm_qa(folder: &str) -> Option<Vec<Slice>> {
        let paths = super::super::dcm_qa_files(folder)?;
        let slice = |p: &std::path::PathBuf| Some(Slice::of(&crate::dicom::parse(&std::fs::read(p).ok()?, true).ok()?));
        Some(paths.iter().filter_map(slice).collect())
    }

    /// The 21 files of XA30's series 10 (one diffusion volume each), taken as the 4D volume
    /// dcm2niix makes of them: its b-values and directions as dcm2niix writes them.
    #[test]
    fn xa30_enhanced_diffusion_matches_dcm2niix() {
        let Some(slices) = dcm_qa("xa30/In/10_DWI_dir80_PA") else { return };
        let frame = diffusion::Frame {
            orientation: slices[0].orientation.expect("oriented"),
            phase_columns: slices[0].phase_rows == Some(false),
            descending: false,
            mosaic_flipped: false,
        };
        let gradients: Vec<_> = slices.iter().map(|s| s.frame_list[0].gradient).collect();
        let texts = Table::of(&gradients, &frame).expect("a diffusion table").texts();
        assert!(texts.bval.starts_with("0 2500 2500 2500 "), "{}", texts.bval);
        let lines: Vec<&str> = texts.bvec.lines().collect();
        assert!(lines[0].starts_with("0 0.999999 0 -0.0320824 0.856458 "), "{}", lines[0]);
        assert!(lines[1].starts_with("0 0 0.999999 0.800318 0.493825 "), "{}", lines[1]);
        assert!(lines[2].starts_with("0 0.00159999 0.00159999 -0.598717 0.150387 "), "{}", lines[2]);
    }

    /// XA30's BOLD run: each frame's TimeAfterStart, offsets from the first slice (dcm2niix:
    /// 0, 0.535, 0.09, 0.625 …, multiband 3).
    #[test]
    fn xa30_frame_times_are_read() {
        let Some(slices) = dcm_qa("xa30/In/7_func-bold_task-fa_run-1") else { return };
        let times: Vec<f64> = slices[0].frame_list.iter().map(|f| f.time.expect("a time")).collect();
        let offsets: Vec<f64> = times.iter().map(|t| ((t - times[0]) / 1000.0 * 1e4).round() / 1e4).collect();
        assert_eq!(offsets[..4], [0.0, 0.535, 0.09, 0.625]);
    }
}
