//! Defacing (PS3.15 E.3.2, Clean Recognizable Visual Features): a head template registered
//! to a volume (affine, on head silhouettes, so MR and CT alike), its face region mapped back
//! and never its brain guard; previews of the region for the review. Works on plain volumes:
//! `crate::job` gives them and writes the result.

mod affine;
mod level;
mod preview;
mod register;
mod template;
#[cfg(test)]
mod tests;

use std::fmt;

/// An affine map's inverse (voxel → RAS into RAS → voxel), `None` when it is singular.
pub use affine::inverse;
pub use preview::{previews, Picture, Previews};

use affine::{Mat, Params};
use level::Level;
use register::Pair;

/// A volume's voxel grid: NIfTI order (i fastest), voxel (i, j, k) → RAS mm.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub dims: [usize; 3],
    pub affine: [[f64; 4]; 3],
}

/// Scalar voxels as floats (rescaled: MR arbitrary units, CT Hounsfield).
#[derive(Debug, Clone)]
pub struct Volume {
    pub grid: Grid,
    pub data: Vec<f32>,
}

/// The template's head as a volume (T1-weighted, 0..255, on its 2 mm grid): what generated head
/// scans are made of, for tests and the benchmark (not used by the export).
pub fn template_head() -> Volume {
    let t = template::template();
    Volume { grid: Grid { dims: t.dims, affine: t.affine }, data: template::t1().into_iter().map(f32::from).collect() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    Mr,
    Ct,
}

/// Why a volume is not defaced (the job holds it back rather than write a face).
#[derive(Debug, Clone, PartialEq)]
pub enum DefaceError {
    /// The grid does not match its data, or its affine is singular.
    BadGrid,
    /// Under 64 mm along an axis.
    TooSmall { extent_mm: [f64; 3] },
    /// No head-sized object (under 300 ml) in the volume.
    NoHead { ml: f64 },
    /// The head fits best turned by this many degrees from the orientation the geometry
    /// gives (over 45°): a patient position entered wrongly, say; nothing is removed.
    Orientation { degrees: f64 },
    /// The template fitted only implausibly: a scale outside 0.75–1.35, two scales differing
    /// by over 1.3 times, a shear over 0.25, or its head and the volume's overlap under 0.85
    /// (Dice).
    NoFit { scale: [f64; 3], overlap: f64 },
}

impl fmt::Display for DefaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaceError::BadGrid => write!(f, "the volume's geometry is unusable"),
            DefaceError::TooSmall { extent_mm: e } => {
                write!(f, "the volume is too small for a head ({:.0} × {:.0} × {:.0} mm)", e[0], e[1], e[2])
            }
            DefaceError::NoHead { ml } => write!(f, "no head found in the volume ({ml:.0} ml)"),
            DefaceError::Orientation { degrees } => {
                write!(f, "the head lies turned {degrees:.0}° from the orientation its geometry gives")
            }
            DefaceError::NoFit { scale: s, overlap } => write!(
                f,
                "the head template does not fit (scale {:.2} × {:.2} × {:.2}, overlap {:.0} %)",
                s[0], s[1], s[2], overlap * 100.0
            ),
        }
    }
}

impl std::error::Error for DefaceError {}

/// Where the template lies in the subject: RAS (subject) → template voxel, and the region.
#[derive(Debug, Clone)]
pub struct Fit {
    /// Subject RAS mm → template (2 mm grid) voxel coordinates.
    pub to_template: [[f64; 4]; 3],
    /// Scale along the template's axes (subject mm per template mm).
    pub scale: [f64; 3],
    /// Dice of the subject's head silhouette and the fitted template's, at 2 mm.
    pub overlap: f64,
    /// Whether the region reaches 15 mm above pydeface's face region (the rest of the eyes
    /// and the brows, never the brain guard). `fit` leaves it off: the band reached over 15 mm
    /// beyond the oracle's face region (8,349 voxels on dcm_qa 5_, 5,693 on the generated T1).
    pub eyes: bool,
}

/// The rotation of the fitted parameters from upright, in degrees.
fn turn_degrees(p: &Params) -> f64 {
    let r = affine::from_params(&[0.0, 0.0, 0.0, p[3], p[4], p[5], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let cos = ((r[0][0] + r[1][1] + r[2][2] - 1.0) / 2.0).clamp(-1.0, 1.0);
    libm::acos(cos).to_degrees()
}

/// Largest head tilt accepted (beyond, the geometry is taken to misstate the orientation).
const MAX_TURN_DEGREES: f64 = 45.0;

/// Largest ratio of two axes' scales (a head a quarter turn from its stated orientation fits
/// squeezed, 1.53; heads themselves differ by up to about 1.2).
const MAX_ANISOTROPY: f64 = 1.3;

/// Smallest extent along an axis, and smallest head.
const MIN_EXTENT_MM: f64 = 64.0;
const MIN_HEAD_ML: f64 = 300.0;

/// Registers the template to the volume: the affine that maps it onto the volume's head.
pub fn fit(volume: &Volume, modality: Modality) -> Result<Fit, DefaceError> {
    let grid = &volume.grid;
    let n = grid.dims[0] * grid.dims[1] * grid.dims[2];
    if n != volume.data.len() || n == 0 || affine::inverse(&grid.affine).is_none() {
        return Err(DefaceError::BadGrid);
    }
    let voxel = affine::column_norms(&grid.affine);
    let extent_mm = [0, 1, 2].map(|a| voxel[a] * grid.dims[a] as f64);
    if extent_mm.iter().any(|&e| e < MIN_EXTENT_MM) {
        return Err(DefaceError::TooSmall { extent_mm });
    }
    // The ~2 mm level (blocks of whole voxels, 1.8–3 mm), where the silhouette is found.
    let factors = voxel.map(|v| ((2.0 / v - 0.2).ceil() as usize).max(1));
    let base = level::block_mean(&volume.data, grid.dims, &grid.affine, factors);
    let mask = level::silhouette(&base, modality);
    let ml = mask.iter().filter(|&&m| m).count() as f64 * affine::det(&base.affine).abs() / 1000.0;
    if ml < MIN_HEAD_ML {
        return Err(DefaceError::NoHead { ml });
    }
    let silhouette = Level { dims: base.dims, affine: base.affine, data: mask.iter().map(|&m| m as u8 as f32).collect() };
    let center = level::anchor(&mask, &base).ok_or(DefaceError::NoHead { ml })?;
    let (p, overlap) = register_levels(&silhouette, &mask, center);
    let scale = [libm::exp(p[6]), libm::exp(p[7]), libm::exp(p[8])];
    let turned = turn_degrees(&p);
    if turned > MAX_TURN_DEGREES {
        return Err(DefaceError::Orientation { degrees: turned });
    }
    let (lo, hi) = scale.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let plausible = scale.iter().all(|&s| (0.75..=1.35).contains(&(1.0 / s)))
        && hi / lo <= MAX_ANISOTROPY
        && p[9..12].iter().all(|h| h.abs() <= 0.25)
        && overlap >= 0.85;
    if !plausible {
        return Err(DefaceError::NoFit { scale: scale.map(|s| 1.0 / s), overlap });
    }
    let t = template::template();
    let to_template = affine::compose(&t.inverse, &register::ras_map(&p, center));
    Ok(Fit { to_template, scale: scale.map(|s| 1.0 / s), overlap, eyes: false })
}

/// The template's silhouette pyramid (2, 4, 8 mm), blurred by a voxel, and its anchor; once.
type Levels = ([Level; 3], [Level; 3], [f64; 3]);

fn template_levels() -> &'static Levels {
    static CELL: std::sync::OnceLock<Levels> = std::sync::OnceLock::new();
    CELL.get_or_init(build_template_levels)
}

fn build_template_levels() -> Levels {
    let t = template::template();
    let raw = Level { dims: t.dims, affine: t.affine, data: t.head() };
    let mask: Vec<bool> = raw.data.iter().map(|&v| v > 0.5).collect();
    let anchor = level::anchor(&mask, &raw).expect("the template has a head");
    let (r4, r8) = pyramid(&raw);
    let blurred = [raw.blur(1.0), r4.blur(1.0), r8.blur(1.0)];
    ([raw, r4, r8], blurred, anchor)
}

fn pyramid(l: &Level) -> (Level, Level) {
    let l4 = l.block_mean([2, 2, 2]);
    let l8 = l4.block_mean([2, 2, 2]);
    (l4, l8)
}

/// Coarse to fine: several starts at 8 mm (tilt about the ears, shift along the body), the
/// best two at 4 mm with rigid + scale, the best at 2 mm with all twelve parameters.
fn register_levels(silhouette: &Level, mask: &[bool], center: [f64; 3]) -> (Params, f64) {
    let (raw, tpl, anchor) = template_levels();
    let (s4, s8) = pyramid(silhouette);
    let subject = [silhouette.blur(1.0), s4.blur(1.0), s8.blur(1.0)];
    // At 2 and 4 mm only the voxels near the subject's head surface (6, 12 mm).
    let bands = [
        Some(level::band(mask, silhouette.dims, 3)),
        Some(level::band(&s4.data.iter().map(|&v| v >= 0.5).collect::<Vec<_>>(), s4.dims, 3)),
        None,
    ];
    let pairs: Vec<Pair> = (0..3)
        .zip(bands)
        .map(|(l, voxels)| Pair {
            subject: &subject[l],
            template: &tpl[l],
            template_inverse: affine::inverse(&tpl[l].affine).expect("template affine"),
            center,
            voxels,
        })
        .collect();
    let mut starts: Vec<(Params, f64)> = Vec::new();
    // Upright (chin up or down by 11°) and turned half a turn about each axis: when a turned
    // start wins, the volume's geometry misstates the head's orientation and `fit` refuses.
    let pi = std::f64::consts::PI;
    let turns = [[-0.2, 0.0, 0.0], [0.0; 3], [0.2, 0.0, 0.0], [pi, 0.0, 0.0], [0.0, pi, 0.0], [0.0, 0.0, pi]];
    for turn in turns {
        for shift in [-25.0, 0.0, 25.0] {
            let mut p: Params = [0.0; 12];
            p[..3].copy_from_slice(&[anchor[0], anchor[1], anchor[2] + shift]);
            p[3..6].copy_from_slice(&turn);
            starts.push(register::refine(&pairs[2], p, 9, 10));
        }
    }
    starts.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut best = starts[..2].iter().map(|(p, _)| register::refine(&pairs[1], *p, 9, 15)).collect::<Vec<_>>();
    best.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (p, _) = register::refine(&pairs[0], best[0].0, 12, 10);
    let map = register::ras_map(&p, center);
    let inverse = affine::inverse(&raw[0].affine).expect("template affine");
    (p, register::overlap(mask, silhouette, &raw[0], &inverse, &map))
}

impl Fit {
    /// In the region to remove: the template's face (and eyes band, see `eyes`), never the
    /// template's brain guard (brain mask dilated by 9 mm), at this RAS point.
    pub fn face(&self, ras: [f64; 3]) -> bool {
        template::template().region(affine::apply(&self.to_template, ras), self.eyes)
    }

    /// The region over a grid (NIfTI order).
    pub fn mask(&self, grid: &Grid) -> Vec<bool> {
        let t = template::template();
        let to_voxel: Mat = affine::compose(&self.to_template, &grid.affine);
        let [nx, ny, nz] = grid.dims;
        let mut out = Vec::with_capacity(nx * ny * nz);
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    out.push(t.region(affine::apply(&to_voxel, [i as f64, j as f64, k as f64]), self.eyes));
                }
            }
        }
        out
    }

    /// The region over one image plane: pixel (column c, row r) at
    /// origin + c · column_step + r · row_step (RAS mm); row-major, columns fastest.
    pub fn plane(&self, origin: [f64; 3], column_step: [f64; 3], row_step: [f64; 3], columns: usize, rows: usize) -> Vec<bool> {
        let mut out = Vec::with_capacity(columns * rows);
        for r in 0..rows {
            for c in 0..columns {
                let (c, rr) = (c as f64, r as f64);
                let p = [0, 1, 2].map(|a| origin[a] + c * column_step[a] + rr * row_step[a]);
                out.push(self.face(p));
            }
        }
        out
    }
}
