//! Vector maths, and the turn of a 3D acquisition to the voxel axes nearest RAS.

use super::header::Header;

/// The cross product a × b.
pub(super) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `v` turned by `angle` (radians) about the unit `axis` (Rodrigues).
pub(super) fn rotate(v: [f64; 3], axis: [f64; 3], angle: f64) -> [f64; 3] {
    let (sin, cos) = angle.sin_cos();
    let k = cross(axis, v);
    let d = dot(axis, v) * (1.0 - cos);
    [0, 1, 2].map(|i| v[i] * cos + k[i] * sin + axis[i] * d)
}

/// The dot product a · b.
pub(super) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to unit length (a zero vector stays zero).
pub(super) fn normalise(v: [f64; 3]) -> [f64; 3] {
    let len = dot(v, v).sqrt();
    if len > 0.0 {
        v.map(|x| x / len)
    } else {
        v
    }
}

/// a − b.
pub(super) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// a + b.
pub(super) fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// How a filled volume is turned to the voxel axes nearest RAS, as dcm2niix does with
/// 3D acquisitions (its default `-x n`): output axis `w` is stored axis `axes[w].0`,
/// reversed when `axes[w].1`.
#[derive(Debug, Clone)]
pub(super) struct Reorient {
    /// The header the slices are placed with, before turning.
    pub(super) stored: Header,
    pub(super) axes: [(usize, bool); 3],
}

impl Reorient {
    /// `None` when the stored axes already are the nearest (no permutation, no flip).
    pub(super) fn of(stored: &Header) -> Option<(Reorient, Header)> {
        let a = &stored.affine;
        // Greedy: the largest remaining |entry| pairs a world axis with a voxel axis.
        let mut axes = [(usize::MAX, false); 3];
        let mut used = [false; 3];
        for _ in 0..3 {
            let mut best = (0.0, 0, 0);
            for (w, row) in a.iter().enumerate() {
                for (v, &x) in row[..3].iter().enumerate() {
                    if axes[w].0 == usize::MAX && !used[v] && x.abs() >= best.0 {
                        best = (x.abs(), w, v);
                    }
                }
            }
            let (_, w, v) = best;
            axes[w] = (v, a[w][v] < 0.0);
            used[v] = true;
        }
        if axes.iter().enumerate().all(|(w, &(v, flip))| v == w && !flip) {
            return None;
        }
        let mut header = stored.clone();
        for (w, &(v, flip)) in axes.iter().enumerate() {
            let sign = if flip { -1.0 } else { 1.0 };
            for r in 0..3 {
                header.affine[r][w] = sign * a[r][v];
                if flip {
                    header.affine[r][3] += a[r][v] * (stored.dim[v] as f64 - 1.0);
                }
            }
            header.dim[w] = stored.dim[v];
            header.pixdim[w] = stored.pixdim[v];
        }
        // dim_info names axes 1-3 (frequency, phase, slice in 2-bit fields).
        let moved = |field: u8| match field {
            0 => 0,
            f => axes.iter().position(|&(v, _)| v + 1 == f as usize).map_or(0, |w| w as u8 + 1),
        };
        let d = stored.dim_info;
        header.dim_info = moved(d & 3) | (moved((d >> 2) & 3) << 2) | (moved((d >> 4) & 3) << 4);
        Some((
            Reorient {
                stored: stored.clone(),
                axes,
            },
            header,
        ))
    }

    /// The voxels (after the header) turned: each 3D volume of `data` in the new order.
    pub(super) fn apply(&self, data: &mut [u8], bytes: usize) {
        let [nx, ny, nz, nt] = self.stored.dim;
        let n = [nx, ny, nz];
        let out_dim = self.axes.map(|(v, _)| n[v]);
        let volume = nx * ny * nz * bytes;
        let mut turned = vec![0u8; volume];
        for t in 0..nt {
            let src = &data[t * volume..(t + 1) * volume];
            let mut at = 0;
            for k in 0..out_dim[2] {
                for j in 0..out_dim[1] {
                    for i in 0..out_dim[0] {
                        let mut p = [0usize; 3];
                        for (w, &o) in [i, j, k].iter().enumerate() {
                            let (v, flip) = self.axes[w];
                            p[v] = if flip { n[v] - 1 - o } else { o };
                        }
                        let from = ((p[2] * ny + p[1]) * nx + p[0]) * bytes;
                        turned[at..at + bytes].copy_from_slice(&src[from..from + bytes]);
                        at += bytes;
                    }
                }
            }
            data[t * volume..(t + 1) * volume].copy_from_slice(&turned);
        }
    }
}
