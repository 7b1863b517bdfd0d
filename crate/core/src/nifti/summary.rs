//! What the review shows of one planned volume: what a researcher checks before the export
//! (dimensions, voxel size, repetition time, number of volumes, slice timing, gradients).

use serde::Serialize;

use super::Volume;

/// One planned NIfTI volume as the review lists it under its series.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSummary {
    /// The `.nii` file name (without its folders).
    pub file: String,
    /// Voxels along i, j, k.
    pub dimensions: [usize; 3],
    /// Voxel size along i, j, k (mm).
    pub voxel_size: [f32; 3],
    /// Time points (1 for a 3D volume).
    pub volumes: usize,
    /// RepetitionTime (s), when the images state it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_time: Option<f32>,
    /// Whether the sidecar will hold SliceTiming (fMRI needs it for slice-time correction).
    pub slice_timing: bool,
    /// The gradients of a diffusion volume (its `.bval`/`.bvec`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusion: Option<Diffusion>,
    /// Why it will not be converted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A diffusion volume's gradients as the review shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diffusion {
    /// Distinct directions among the diffusion-weighted time points.
    pub directions: usize,
    /// Distinct b-values (s/mm²), ascending.
    pub b_values: Vec<f64>,
}

impl Volume {
    /// The review's line of this volume.
    pub fn summary(&self) -> VolumeSummary {
        let file = self.path.as_deref().map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        let header = self.header.as_ref();
        VolumeSummary {
            file: file.unwrap_or_else(|| format!("{}.nii", self.stem())),
            dimensions: header.map_or([0; 3], |h| [h.dim[0], h.dim[1], h.dim[2]]),
            voxel_size: header.map_or([0.0; 3], |h| [h.pixdim[0], h.pixdim[1], h.pixdim[2]]),
            volumes: header.map_or(self.volumes, |h| h.dim[3].max(1)),
            repetition_time: header.map(|h| h.pixdim[3]).filter(|tr| *tr > 0.0),
            slice_timing: self.slice_timing.is_some(),
            diffusion: self.diffusion.as_ref().map(|table| table.shells()),
            problem: self.problem.clone(),
        }
    }
}
