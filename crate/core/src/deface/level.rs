//! Images for the registration: block-averaged levels of a volume, the head silhouette
//! (threshold, closing, holes filled, largest component) and its Gaussian blur.

use super::affine::{self, Mat};
use super::Modality;

/// One level of a pyramid: voxel (i, j, k) → RAS by `affine`, NIfTI order.
#[derive(Clone)]
pub struct Level {
    pub dims: [usize; 3],
    pub affine: Mat,
    pub data: Vec<f32>,
}

impl Level {
    /// The mean over blocks of `f` voxels per axis (partial blocks at the far edges averaged
    /// over what they hold); the affine moves to the blocks' centres.
    pub fn block_mean(&self, f: [usize; 3]) -> Level {
        block_mean(&self.data, self.dims, &self.affine, f)
    }

    /// Separable Gaussian blur, `sigma` in voxels, kernel cut at 2σ; outside = nearest edge.
    pub fn blur(&self, sigma: f64) -> Level {
        let radius = (2.0 * sigma).ceil() as isize;
        let weights: Vec<f64> = (-radius..=radius).map(|d| libm::exp(-((d * d) as f64) / (2.0 * sigma * sigma))).collect();
        let total: f64 = weights.iter().sum();
        let weights: Vec<f32> = weights.iter().map(|w| (w / total) as f32).collect();
        let mut data = self.data.clone();
        for axis in 0..3 {
            data = blur_axis(&data, self.dims, axis, &weights, radius);
        }
        Level { dims: self.dims, affine: self.affine, data }
    }

    /// Trilinear value and gradient (per voxel) at voxel coordinates; outside the grid 0.
    pub fn sample(&self, q: [f64; 3]) -> (f64, [f64; 3]) {
        let [nx, ny, nz] = self.dims;
        let (fx, fy, fz) = (q[0].floor(), q[1].floor(), q[2].floor());
        if !(fx >= -1.0 && fy >= -1.0 && fz >= -1.0) || fx >= nx as f64 || fy >= ny as f64 || fz >= nz as f64 {
            return (0.0, [0.0; 3]);
        }
        let (i, j, k) = (fx as isize, fy as isize, fz as isize);
        let (dx, dy, dz) = (q[0] - fx, q[1] - fy, q[2] - fz);
        let inside = i >= 0 && j >= 0 && k >= 0 && (i as usize) + 1 < nx && (j as usize) + 1 < ny && (k as usize) + 1 < nz;
        let v = if inside {
            // All eight corners in the grid: direct reads.
            let base = i as usize + nx * (j as usize + ny * k as usize);
            let (sy, sz) = (nx, nx * ny);
            let d = &self.data;
            [base, base + 1, base + sy, base + sy + 1, base + sz, base + sz + 1, base + sz + sy, base + sz + sy + 1]
                .map(|at| d[at] as f64)
        } else {
            let at = |a: isize, b: isize, c: isize| -> f64 {
                if a < 0 || b < 0 || c < 0 || a as usize >= nx || b as usize >= ny || c as usize >= nz {
                    0.0
                } else {
                    self.data[a as usize + nx * (b as usize + ny * c as usize)] as f64
                }
            };
            [
                at(i, j, k), at(i + 1, j, k), at(i, j + 1, k), at(i + 1, j + 1, k),
                at(i, j, k + 1), at(i + 1, j, k + 1), at(i, j + 1, k + 1), at(i + 1, j + 1, k + 1),
            ]
        };
        let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
        let (y0, y1) = (lerp(v[0], v[1], dx), lerp(v[2], v[3], dx));
        let (y2, y3) = (lerp(v[4], v[5], dx), lerp(v[6], v[7], dx));
        let (z0, z1) = (lerp(y0, y1, dy), lerp(y2, y3, dy));
        let gx = lerp(lerp(v[1] - v[0], v[3] - v[2], dy), lerp(v[5] - v[4], v[7] - v[6], dy), dz);
        let gy = lerp(y1 - y0, y3 - y2, dz);
        (lerp(z0, z1, dz), [gx, gy, z1 - z0])
    }
}

/// [`Level::block_mean`] of voxels held elsewhere (a volume, not copied).
pub fn block_mean(data: &[f32], dims: [usize; 3], affine: &Mat, f: [usize; 3]) -> Level {
    let [nx, ny, nz] = dims;
    let out = [nx.div_ceil(f[0]), ny.div_ceil(f[1]), nz.div_ceil(f[2])];
    let mut sum = vec![0.0f64; out[0] * out[1] * out[2]];
    let mut count = vec![0u32; sum.len()];
    for k in 0..nz {
        for j in 0..ny {
            let row = out[0] * (j / f[1] + out[1] * (k / f[2]));
            let src = nx * (j + ny * k);
            for i in 0..nx {
                sum[row + i / f[0]] += data[src + i] as f64;
                count[row + i / f[0]] += 1;
            }
        }
    }
    let data = sum.iter().zip(&count).map(|(s, &c)| (s / c as f64) as f32).collect();
    let mut scale = [[0.0; 4]; 3];
    for a in 0..3 {
        scale[a][a] = f[a] as f64;
        scale[a][3] = (f[a] as f64 - 1.0) / 2.0;
    }
    Level { dims: out, affine: affine::compose(affine, &scale), data }
}

fn blur_axis(data: &[f32], dims: [usize; 3], axis: usize, w: &[f32], radius: isize) -> Vec<f32> {
    let stride = [1, dims[0], dims[0] * dims[1]][axis];
    let n = dims[axis] as isize;
    let mut out = vec![0.0f32; data.len()];
    let mut line = vec![0.0f32; dims[axis]];
    for start in 0..data.len() {
        // Each line once, from its first voxel along the axis.
        if (start / stride) % dims[axis] != 0 {
            continue;
        }
        for (t, v) in line.iter_mut().enumerate() {
            *v = data[start + t * stride];
        }
        for t in 0..n {
            let mut s = 0.0f32;
            for (d, wd) in (-radius..=radius).zip(w) {
                s += wd * line[(t + d).clamp(0, n - 1) as usize];
            }
            out[start + t as usize * stride] = s;
        }
    }
    out
}

/// The value at rank `q` (0..1) of the values.
pub fn quantile(data: &[f32], q: f64) -> f32 {
    let mut v: Vec<f32> = data.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let at = ((v.len() - 1) as f64 * q) as usize;
    *v.select_nth_unstable_by(at, |a, b| a.total_cmp(b)).1
}

/// The head: above an automatic threshold (MR: a fifth of the 99th percentile; CT: −300 HU,
/// fat and skin included), closed, holes filled (axial slices, then 3D), the largest
/// component once eroded (so a CT table or a cushion touching by a voxel drops), re-grown.
pub fn silhouette(level: &Level, modality: Modality) -> Vec<bool> {
    let threshold = match modality {
        Modality::Mr => 0.2 * quantile(&level.data, 0.99),
        Modality::Ct => -300.0,
    };
    let mut m: Vec<bool> = level.data.iter().map(|&v| v > threshold).collect();
    let dims = level.dims;
    m = erode(&dilate(&m, dims, 2), dims, 2);
    fill_slices(&mut m, dims, superior_axis(&level.affine));
    fill_3d(&mut m, dims);
    let core = largest_component(&erode(&m, dims, 1), dims);
    let grown = dilate(&core, dims, 1);
    m.iter().zip(&grown).map(|(&a, &b)| a && b).collect()
}

/// The grid axis closest to superior.
pub fn superior_axis(affine: &Mat) -> usize {
    (0..3).max_by(|&a, &b| affine[2][a].abs().total_cmp(&affine[2][b].abs())).unwrap_or(2)
}

/// Each voxel's 6-neighbours within the grid.
fn neighbours(at: usize, dims: [usize; 3], mut f: impl FnMut(usize)) {
    let (i, j, k) = (at % dims[0], (at / dims[0]) % dims[1], at / (dims[0] * dims[1]));
    let (sx, sy) = (1, dims[0]);
    let sz = dims[0] * dims[1];
    if i > 0 { f(at - sx) }
    if i + 1 < dims[0] { f(at + sx) }
    if j > 0 { f(at - sy) }
    if j + 1 < dims[1] { f(at + sy) }
    if k > 0 { f(at - sz) }
    if k + 1 < dims[2] { f(at + sz) }
}

/// The voxels (indices) within `r` 6-connected steps of the silhouette's edge: where the cost
/// can still change once the coarser levels have aligned the heads.
pub fn band(mask: &[bool], dims: [usize; 3], r: usize) -> Vec<u32> {
    let (outer, inner) = (dilate(mask, dims, r), erode(mask, dims, r));
    (0..mask.len()).filter(|&at| outer[at] && !inner[at]).map(|at| at as u32).collect()
}

fn dilate(m: &[bool], dims: [usize; 3], times: usize) -> Vec<bool> {
    let mut cur = m.to_vec();
    for _ in 0..times {
        let mut next = cur.clone();
        for (at, &on) in cur.iter().enumerate() {
            if on {
                neighbours(at, dims, |n| next[n] = true);
            }
        }
        cur = next;
    }
    cur
}

/// Erosion; neighbours outside the grid do not erode (a head cut by the field of view keeps
/// its cut face).
fn erode(m: &[bool], dims: [usize; 3], times: usize) -> Vec<bool> {
    let inverted: Vec<bool> = m.iter().map(|&v| !v).collect();
    dilate(&inverted, dims, times).iter().map(|&v| !v).collect()
}

/// Fills, slice by slice across `axis`, the background not reachable from the slice's edge.
fn fill_slices(m: &mut [bool], dims: [usize; 3], axis: usize) {
    let (a, b) = ([1, 0, 0][axis], [2, 2, 1][axis]);
    let stride = |ax: usize| [1, dims[0], dims[0] * dims[1]][ax];
    let (na, nb) = (dims[a], dims[b]);
    for s in 0..dims[axis] {
        let base = s * stride(axis);
        let index = |u: usize, v: usize| base + u * stride(a) + v * stride(b);
        let mut outside = vec![false; na * nb];
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for u in 0..na {
            for v in 0..nb {
                if (u == 0 || v == 0 || u + 1 == na || v + 1 == nb) && !m[index(u, v)] {
                    outside[u + na * v] = true;
                    stack.push((u, v));
                }
            }
        }
        while let Some((u, v)) = stack.pop() {
            let next = [(u.wrapping_sub(1), v), (u + 1, v), (u, v.wrapping_sub(1)), (u, v + 1)];
            for (x, y) in next {
                if x < na && y < nb && !outside[x + na * y] && !m[index(x, y)] {
                    outside[x + na * y] = true;
                    stack.push((x, y));
                }
            }
        }
        for u in 0..na {
            for v in 0..nb {
                if !outside[u + na * v] {
                    m[index(u, v)] = true;
                }
            }
        }
    }
}

/// Fills the background not reachable from the grid's faces.
fn fill_3d(m: &mut [bool], dims: [usize; 3]) {
    let mut outside = vec![false; m.len()];
    let mut stack = Vec::new();
    for (at, &on) in m.iter().enumerate() {
        let (i, j, k) = (at % dims[0], (at / dims[0]) % dims[1], at / (dims[0] * dims[1]));
        let edge = i == 0 || j == 0 || k == 0 || i + 1 == dims[0] || j + 1 == dims[1] || k + 1 == dims[2];
        if edge && !on {
            outside[at] = true;
            stack.push(at);
        }
    }
    while let Some(at) = stack.pop() {
        neighbours(at, dims, |n| {
            if !m[n] && !outside[n] {
                outside[n] = true;
                stack.push(n);
            }
        });
    }
    for (v, o) in m.iter_mut().zip(&outside) {
        *v = !o;
    }
}

/// The largest 6-connected component (the first found among equals).
fn largest_component(m: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let mut label = vec![0u32; m.len()];
    let (mut best, mut best_size, mut next) = (0u32, 0usize, 0u32);
    let mut stack = Vec::new();
    for start in 0..m.len() {
        if !m[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        let mut size = 0;
        label[start] = next;
        stack.push(start);
        while let Some(at) = stack.pop() {
            size += 1;
            neighbours(at, dims, |n| {
                if m[n] && label[n] == 0 {
                    label[n] = next;
                    stack.push(n);
                }
            });
        }
        if size > best_size {
            (best, best_size) = (next, size);
        }
    }
    label.iter().map(|&l| l != 0 && l == best).collect()
}

/// Where a silhouette's top is (RAS z, below the topmost 5 ml) and its centre there: the
/// centroid of the 10 cm below the top, its z set 5 cm below the top. None when empty.
pub fn anchor(mask: &[bool], level: &Level) -> Option<[f64; 3]> {
    let voxel_ml = affine::det(&level.affine).abs() / 1000.0;
    let points: Vec<[f64; 3]> = (0..mask.len()).filter(|&at| mask[at]).map(|at| ras_of(level, at)).collect();
    let mut z: Vec<f64> = points.iter().map(|p| p[2]).collect();
    z.sort_by(|a, b| b.total_cmp(a));
    let top = *z.get(((5.0 / voxel_ml) as usize).min(z.len().checked_sub(1)?))?;
    let slab: Vec<&[f64; 3]> = points.iter().filter(|p| p[2] <= top && p[2] >= top - 100.0).collect();
    let n = slab.len().max(1) as f64;
    let cx = slab.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = slab.iter().map(|p| p[1]).sum::<f64>() / n;
    Some([cx, cy, top - 50.0])
}

/// The RAS point of a voxel given by its index.
pub fn ras_of(level: &Level, at: usize) -> [f64; 3] {
    let d = level.dims;
    let v = [(at % d[0]) as f64, ((at / d[0]) % d[1]) as f64, (at / (d[0] * d[1])) as f64];
    affine::apply(&level.affine, v)
}
