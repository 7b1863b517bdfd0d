//! Which volumes may show a face (the Clean Recognizable Visual Features Option): 3D scans
//! of the head, fine enough for a surface rendering to be recognised.

use super::plan::Volume;
use super::slice::Slice;

/// BodyPartExamined values (PS3.16 CID 4031 and their usual variants) of a scan that takes in
/// the face; a scan naming any other part is left alone, one naming none is taken.
const HEAD_PARTS: [&str; 15] = [
    "HEAD", "BRAIN", "SKULL", "HEADNECK", "NECK", "FACE", "ORBIT", "SINUS", "JAW", "TMJ", "IAC", "EAR", "NOSE", "MOUTH", "CRANE",
];

/// The fewest slices along each axis, and the coarsest voxel (mm), of a volume taken: the
/// issue's "about 60 slices, under 2 mm", with room for the 2 mm 3D T1s scanners often make.
pub const MIN_SLICES: usize = 60;
pub const MAX_VOXEL_MM: f32 = 2.5;

impl Volume {
    /// A volume of one 3D head scan that may show a face: MR acquired in 3D, or CT; one time
    /// point of at least [`MIN_SLICES`] along every axis with voxels of at most
    /// [`MAX_VOXEL_MM`]; and no BodyPartExamined naming another part of the body.
    pub fn shows_face(&self, first: &Slice, body_part: Option<&str>) -> bool {
        let Some(header) = &self.header else { return false };
        let kind = (first.modality == "MR" && first.acquisition_3d) || first.modality == "CT";
        let fine = header.dim[..3].iter().all(|&n| n >= MIN_SLICES)
            && header.pixdim[..3].iter().all(|&mm| mm > 0.0 && mm <= MAX_VOXEL_MM);
        let head = body_part.is_none_or(|part| {
            let part = part.trim().to_ascii_uppercase();
            part.is_empty() || HEAD_PARTS.iter().any(|h| part.contains(h))
        });
        self.problem.is_none() && self.volumes == 1 && header.dim[3] <= 1 && kind && fine && head
    }

    /// Written once complete, never as its files arrive: its voxels are changed before.
    pub fn write_whole(&mut self) {
        self.streamable = false;
    }
}
