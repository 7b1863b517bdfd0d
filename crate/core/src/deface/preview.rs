//! The review's pictures of a defaced volume: mid-sagittal and axial through the face, grey
//! with the removed region tinted red at half strength, as a radiologist orients them.

use super::affine::{self, Mat};
use super::level::quantile;
use super::Volume;

/// 8-bit RGBA, row-major from the top-left.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Previews {
    pub sagittal: Picture,
    pub axial: Picture,
    /// Voxels in the region.
    pub voxels: usize,
}

/// A picture's longer side, in pixels.
const MIN_SIDE: f64 = 256.0;
const MAX_SIDE: f64 = 512.0;

/// Mid-sagittal (anterior on the left, superior up) through the region's centre, and the
/// axial slice through it (anterior up, the patient's right on the viewer's left). Without a
/// region, through the volume's centre. `mask` is the region over the volume's grid.
pub fn previews(volume: &Volume, mask: &[bool]) -> Previews {
    let g = &volume.grid;
    let corners: Vec<[f64; 3]> = (0..8)
        .map(|c| {
            let v = [0, 1, 2].map(|a| if c >> a & 1 == 1 { g.dims[a] as f64 - 1.0 } else { 0.0 });
            affine::apply(&g.affine, v)
        })
        .collect();
    let lo = [0, 1, 2].map(|a| corners.iter().map(|p| p[a]).fold(f64::INFINITY, f64::min));
    let hi = [0, 1, 2].map(|a| corners.iter().map(|p| p[a]).fold(f64::NEG_INFINITY, f64::max));
    let centre = region_centre(volume, mask).unwrap_or([0, 1, 2].map(|a| (lo[a] + hi[a]) / 2.0));
    let voxel = affine::column_norms(&g.affine).iter().copied().fold(f64::INFINITY, f64::min).max(0.5);
    // A voxel per pixel, but at least MIN_SIDE and at most MAX_SIDE pixels along the longer side.
    let step = |a: usize, b: usize| {
        let longer = (hi[a] - lo[a]).max(hi[b] - lo[b]);
        voxel.min(longer / MIN_SIDE).max(longer / MAX_SIDE).max(1e-3)
    };
    let window = grey_window(&volume.data);
    let s = step(1, 2);
    let sagittal = render(volume, mask, window, [centre[0], hi[1], hi[2]], [0.0, -s, 0.0], [0.0, 0.0, -s], size(lo, hi, 1, 2, s));
    let s = step(0, 1);
    let axial = render(volume, mask, window, [hi[0], hi[1], centre[2]], [-s, 0.0, 0.0], [0.0, -s, 0.0], size(lo, hi, 0, 1, s));
    Previews { sagittal, axial, voxels: mask.iter().filter(|&&m| m).count() }
}

fn size(lo: [f64; 3], hi: [f64; 3], a: usize, b: usize, step: f64) -> [usize; 2] {
    [((hi[a] - lo[a]) / step) as usize + 1, ((hi[b] - lo[b]) / step) as usize + 1]
}

/// The mean RAS point of the region's voxels, None when empty.
fn region_centre(volume: &Volume, mask: &[bool]) -> Option<[f64; 3]> {
    let d = volume.grid.dims;
    let (mut sum, mut n) = ([0.0; 3], 0usize);
    for (at, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
        let v = [(at % d[0]) as f64, ((at / d[0]) % d[1]) as f64, (at / (d[0] * d[1])) as f64];
        let p = affine::apply(&volume.grid.affine, v);
        (0..3).for_each(|a| sum[a] += p[a]);
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| s / n as f64))
}

/// Grey levels from the 1st to the 99.5th percentile of a subsample (every 7th voxel).
fn grey_window(data: &[f32]) -> (f32, f32) {
    let sample: Vec<f32> = data.iter().step_by(7).copied().collect();
    let (lo, hi) = (quantile(&sample, 0.01), quantile(&sample, 0.995));
    (lo, if hi > lo { hi } else { lo + 1.0 })
}

/// One picture: each pixel the nearest voxel of its RAS point, black outside the grid.
fn render(volume: &Volume, mask: &[bool], window: (f32, f32), origin: [f64; 3], column: [f64; 3], row: [f64; 3], wh: [usize; 2]) -> Picture {
    let g = &volume.grid;
    let inv: Mat = affine::inverse(&g.affine).unwrap_or(affine::IDENTITY);
    let mut rgba = Vec::with_capacity(wh[0] * wh[1] * 4);
    for r in 0..wh[1] {
        for c in 0..wh[0] {
            let p = [0, 1, 2].map(|a| origin[a] + c as f64 * column[a] + r as f64 * row[a]);
            let v = affine::apply(&inv, p).map(|x| x.round());
            let inside = (0..3).all(|a| v[a] >= 0.0 && v[a] < g.dims[a] as f64);
            let (grey, tint) = if inside {
                let at = v[0] as usize + g.dims[0] * (v[1] as usize + g.dims[1] * v[2] as usize);
                let t = ((volume.data[at] - window.0) / (window.1 - window.0)).clamp(0.0, 1.0);
                ((t * 255.0).round() as u8, mask.get(at).copied().unwrap_or(false))
            } else {
                (0, false)
            };
            let px = if tint { [grey / 2 + 128, grey / 2, grey / 2, 255] } else { [grey, grey, grey, 255] };
            rgba.extend_from_slice(&px);
        }
    }
    Picture { width: wh[0] as u32, height: wh[1] as u32, rgba }
}
