//! DICOM → NIfTI-1, as dcm2niix converts (voxel order, affine, data type), with a
//! BIDS-style JSON sidecar filtered through the de-identification policy.
//!
//! Works in the two passes of the job: the scan reads each file's
//! header into a [`Slice`]; [`plan`] groups the slices into volumes and fixes each
//! volume's header (geometry, data type) and the place of every slice in it; the export
//! then hands over one parsed file at a time ([`Converter::add`]), which copies its pixels
//! straight into the place of the volume's output buffer, and returns the finished
//! `.json` + `.nii` when the volume's last slice has arrived. Memory is one series; or one
//! file, for a volume whose files arrive in voxel order with samples of a size the scan
//! checked (most series): it is written as its files arrive ([`Output::Stream`]).
//!
//! dcm2niix's conventions, measured against its 1.0.20260724 build: slices ascending
//! along the normal of ImageOrientationPatient (cross product of row and column
//! directions); rows stored bottom-up (dcm2niix flips Y), so the affine's second column
//! points against the DICOM column direction; LPS → RAS; qform = sform = scanner
//! (code 1); repeated positions become volumes in acquisition order.

mod bids;
mod complex;
mod convert;
mod csa;
mod enhanced;
mod fieldmap;
mod diffusion;
mod ge_block;
mod geometry;
mod head;
mod header;
mod mosaic;
mod plan;
mod sidecar;
mod slice;
mod summary;
mod slots;
mod timing;
mod suffix;
mod tilt;
pub mod voxels;
mod xray;

// A frame's samples: decoded in `codec` (the pixel cleaning decodes them too).
use crate::codec::frame as pixels;

pub use convert::{Broken, Converter, Finished, Output, VolumeReport};
pub use diffusion::{GradientPaths, GradientTexts, Table};
pub use head::{MAX_VOXEL_MM, MIN_SLICES};
pub use header::{DataType, Header, VOX_OFFSET};
pub use plan::{plan, sanitise, Volume};
pub use slice::Slice;
pub use summary::VolumeSummary;

/// The files of `folder` of ../shared/dcm_qa (beside the repository, as CI has it), sorted by
/// name, or `None` with a note where the data is absent: the unit tests on real scanner data.
#[cfg(test)]
pub(crate) fn dcm_qa_files(folder: &str) -> Option<Vec<std::path::PathBuf>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dcm_qa").join(folder);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is absent", dir.display());
        return None;
    };
    let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    Some(files)
}

/// A finished `.nii` as written: as is, or gzip-compressed for `.nii.gz` (no name and a
/// zero time in the gzip header, so the same volume always gives the same bytes).
pub fn pack(nii: Vec<u8>, gzip: bool) -> Vec<u8> {
    if !gzip {
        return nii;
    }
    use std::io::Write;
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(nii.len() / 2), flate2::Compression::default());
    encoder
        .write_all(&nii)
        .and_then(|()| encoder.try_finish())
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}
