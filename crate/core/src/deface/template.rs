//! The embedded head template: pydeface 2.1.0's head silhouette and face mask, nilearn
//! 0.14.1's MNI152 brain (gm + wm) dilated as a guard, on a 2 mm grid (data/make_template.py
//! builds it; licences beside it in data/). The T1 intensities serve generated heads only.

use std::io::Read;
use std::sync::OnceLock;

use super::affine::{self, Mat};

/// zlib: b"DFT2", dims (u16 ×3), voxel → RAS (12 f64), then face fraction and flags (u8).
const DATA: &[u8] = include_bytes!("data/template.bin");

/// zlib: the T1 intensities (u8) on the same grid, for synthetic heads (tests, the benchmark's
/// generated scans; the export never reads them, so the page's wasm leaves them out).
pub fn t1() -> Vec<u8> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&include_bytes!("data/template_t1.bin")[..]).read_to_end(&mut raw).expect("t1");
    raw
}

/// Flag bits of a template voxel.
pub const HEAD: u8 = 1;
pub const GUARD: u8 = 2;
/// Up to 15 mm above the face region's top edge: the rest of the eyes and the brows.
pub const EYES: u8 = 4;

/// How far the region runs on beyond the template grid's front and bottom, in template mm
/// (the grid cuts pydeface's region there, not the anatomy): [front, bottom]. Measured against
/// the oracle (tests/deface) on its four heads: 12 mm at the bottom left 2 voxels of a chin,
/// 14 mm reached 35 voxels past 15 mm from its region; 4 mm at the front is air only.
pub const OPEN_MM: [f64; 2] = [4.0, 13.0];
/// A point is in the region from this much face fraction (of 255, trilinear): a quarter, so
/// the region's edge lies half a template voxel outside pydeface's (the side that removes).
const FACE_FROM: f64 = 64.0;

pub struct Template {
    pub dims: [usize; 3],
    /// Voxel → RAS mm, and its inverse.
    pub affine: Mat,
    pub inverse: Mat,
    /// Fraction (0..255) of the voxel in pydeface's face region.
    pub face: Vec<u8>,
    pub flags: Vec<u8>,
    /// Where any face can be, per axis in voxel coordinates (a quick rejection; open beyond the
    /// grid's front and bottom).
    face_box: [[f64; 2]; 3],
}

/// The template, parsed once.
pub fn template() -> &'static Template {
    static CELL: OnceLock<Template> = OnceLock::new();
    CELL.get_or_init(|| parse(DATA).expect("the embedded template is well formed"))
}

fn parse(data: &[u8]) -> Option<Template> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(data).read_to_end(&mut raw).ok()?;
    if raw.get(..4)? != b"DFT2" {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([raw[o], raw[o + 1]]) as usize;
    let dims = [u16_at(4), u16_at(6), u16_at(8)];
    let mut affine = [[0.0; 4]; 3];
    for e in 0..12 {
        let o = 10 + 8 * e;
        affine[e / 4][e % 4] = f64::from_le_bytes(raw.get(o..o + 8)?.try_into().ok()?);
    }
    let n = dims[0] * dims[1] * dims[2];
    let body = raw.get(106..106 + 2 * n)?;
    let (face, flags) = (body[..n].to_vec(), body[n..].to_vec());
    let mut face_box = [[f64::INFINITY, f64::NEG_INFINITY]; 3];
    for at in (0..n).filter(|&at| face[at] > 0 || flags[at] & EYES != 0) {
        let v = [at % dims[0], (at / dims[0]) % dims[1], at / (dims[0] * dims[1])];
        for a in 0..3 {
            face_box[a] = [face_box[a][0].min(v[a] as f64 - 1.0), face_box[a][1].max(v[a] as f64 + 1.0)];
        }
    }
    // Within the grid (its outer half voxel belongs to the edge voxels, as a 1 mm mask's edge
    // would), but open OPEN_MM beyond its front (j up) and bottom (k down).
    let open = OPEN_MM.map(|mm| mm / 2.0);
    let reach = [[-0.5, dims[0] as f64 - 0.5], [-0.5, dims[1] as f64 - 0.5 + open[0]], [-0.5 - open[1], dims[2] as f64 - 0.5]];
    for a in 0..3 {
        let [lo, hi] = face_box[a];
        let lo = if lo < 0.0 { reach[a][0] } else { lo.max(reach[a][0]) };
        let hi = if hi > dims[a] as f64 - 1.0 { reach[a][1] } else { hi.min(reach[a][1]) };
        face_box[a] = [lo, hi];
    }
    Some(Template {
        dims,
        affine,
        inverse: affine::inverse(&affine)?,
        face,
        flags,
        face_box,
    })
}

impl Template {
    /// Whether a point in template voxel coordinates lies in the region to remove: face
    /// fraction ≥ FACE_FROM (trilinear; with `eyes`, the eyes band counted as face) and no guard bit
    /// at any of the 8 neighbours. pydeface's region runs to the template grid's front and
    /// bottom (air before the face, the chin and below): there it continues OPEN_MM beyond the
    /// grid as the edge voxels; elsewhere outside → false.
    pub fn region(&self, q: [f64; 3], eyes: bool) -> bool {
        let [nx, ny, nz] = self.dims;
        let mut q = q;
        for (a, n) in [nx, ny, nz].into_iter().enumerate() {
            let [lo, hi] = self.face_box[a];
            if !(q[a] >= lo && q[a] <= hi) {
                return false;
            }
            q[a] = q[a].clamp(0.0, n as f64 - 1.0 - 1e-9);
        }
        let (fx, fy, fz) = (q[0].floor(), q[1].floor(), q[2].floor());
        let (i, j, k) = (fx as usize, fy as usize, fz as usize);
        let (dx, dy, dz) = (q[0] - fx, q[1] - fy, q[2] - fz);
        let mut face = 0.0;
        for c in 0..8 {
            let (a, b, e) = (c & 1, (c >> 1) & 1, (c >> 2) & 1);
            let at = (i + a) + nx * ((j + b) + ny * (k + e));
            if self.flags[at] & GUARD != 0 {
                return false;
            }
            let w = (if a == 1 { dx } else { 1.0 - dx }) * (if b == 1 { dy } else { 1.0 - dy })
                * (if e == 1 { dz } else { 1.0 - dz });
            let band = eyes && self.flags[at] & EYES != 0;
            face += w * if band { 255.0 } else { self.face[at] as f64 };
        }
        face >= FACE_FROM
    }

    /// The head silhouette as 0/1 floats (the registration's template image).
    pub fn head(&self) -> Vec<f32> {
        self.flags.iter().map(|f| if f & HEAD != 0 { 1.0 } else { 0.0 }).collect()
    }
}
