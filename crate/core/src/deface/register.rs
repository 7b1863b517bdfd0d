//! The affine registration: the template's blurred head silhouette against the subject's,
//! sum of squared differences over the subject's field of view, Levenberg–Marquardt on the
//! twelve parameters (or the first nine: rigid and scale), one level at a time.

use super::affine::{self, Mat, Params};
use super::level::Level;

/// A subject level and the template level it is compared with.
pub struct Pair<'a> {
    /// The subject's blurred silhouette (0..1).
    pub subject: &'a Level,
    /// The template's blurred silhouette, and its RAS → voxel map.
    pub template: &'a Level,
    pub template_inverse: Mat,
    /// Subject RAS point the parameters' linear part turns about.
    pub center: [f64; 3],
    /// The subject voxels compared (indices), or all.
    pub voxels: Option<Vec<u32>>,
}

/// The map subject RAS → template RAS of parameters turning about `center`.
pub fn ras_map(p: &Params, center: [f64; 3]) -> Mat {
    let shift: Mat = [[1.0, 0.0, 0.0, -center[0]], [0.0, 1.0, 0.0, -center[1]], [0.0, 0.0, 1.0, -center[2]]];
    affine::compose(&affine::from_params(p), &shift)
}

/// Sums over the subject's voxels: squared residual, and (when `normal`) the Gauss–Newton
/// matrix and vector over the 12 entries of the centred map. Voxels that fall below the
/// template's grid (its neck's cut) are left out: nothing is known of them.
struct Sums {
    ssd: f64,
    h: [[f64; 12]; 12],
    b: [f64; 12],
}

fn sums(pair: &Pair, p: &Params, normal: bool) -> Sums {
    let m = affine::from_params(p);
    let sub = pair.subject;
    let inv = &pair.template_inverse;
    let to_voxel = affine::compose(inv, &m);
    let mut out = Sums { ssd: 0.0, h: [[0.0; 12]; 12], b: [0.0; 12] };
    let [nx, ny, _] = sub.dims;
    let c = pair.center;
    let centred: Mat = [0, 1, 2].map(|r| {
        let a = sub.affine[r];
        [a[0], a[1], a[2], a[3] - c[r]]
    });
    let mut visit = |at: usize| {
        let s = sub.data[at] as f64;
        let x = affine::apply(&centred, [(at % nx) as f64, ((at / nx) % ny) as f64, (at / (nx * ny)) as f64]);
        let q = affine::apply(&to_voxel, x);
        if q[2] < 0.0 {
            return;
        }
        let (t, g) = pair.template.sample(q);
        let r = t - s;
        out.ssd += r * r;
        if normal && (g[0] != 0.0 || g[1] != 0.0 || g[2] != 0.0) {
            accumulate(&mut out, inv, g, x, r);
        }
    };
    match &pair.voxels {
        Some(list) => list.iter().for_each(|&at| visit(at as usize)),
        None => (0..sub.data.len()).for_each(visit),
    }
    out
}

fn accumulate(out: &mut Sums, inv: &Mat, g: [f64; 3], x: [f64; 3], r: f64) {
    // Gradient in template RAS: the voxel gradient through the RAS → voxel map.
    let mut gr = [0.0; 3];
    for (c, v) in gr.iter_mut().enumerate() {
        *v = inv[0][c] * g[0] + inv[1][c] * g[1] + inv[2][c] * g[2];
    }
    let xh = [x[0], x[1], x[2], 1.0];
    let mut jac = [0.0; 12];
    for e in 0..12 {
        jac[e] = gr[e / 4] * xh[e % 4];
    }
    for a in 0..12 {
        out.b[a] += jac[a] * r;
        for c in a..12 {
            out.h[a][c] += jac[a] * jac[c];
        }
    }
}

/// Levenberg–Marquardt from `p` on the parameters `0..active`; returns them and the cost.
pub fn refine(pair: &Pair, mut p: Params, active: usize, iterations: usize) -> (Params, f64) {
    let mut lambda = 1e-3;
    let mut current = sums(pair, &p, true);
    for _ in 0..iterations {
        let (h, b) = reduce(&current, &p, active);
        let mut improved = false;
        for _ in 0..6 {
            let mut a = h.clone();
            for (d, row) in a.iter_mut().enumerate() {
                row[d] += lambda * h[d][d] + 1e-9;
            }
            let Some(step) = affine::solve(a, b.iter().map(|v| -v).collect()) else { break };
            let mut trial = p;
            for (d, s) in step.iter().enumerate() {
                trial[d] += s;
            }
            // Far outside a head's range (scale 0.67–1.5, shear 0.35): refused as a worse step.
            let wild = trial[6..9].iter().any(|v| v.abs() > 0.4) || trial[9..].iter().any(|v| v.abs() > 0.35);
            let next = if wild { f64::INFINITY } else { sums(pair, &trial, false).ssd };
            if next < current.ssd {
                let gain = (current.ssd - next) / current.ssd.max(1e-12);
                (p, current, lambda) = (trial, sums(pair, &trial, true), (lambda * 0.3).max(1e-7));
                improved = gain > 1e-5;
                break;
            }
            lambda *= 8.0;
        }
        if !improved {
            break;
        }
    }
    (p, current.ssd)
}

/// The normal equations in the parameters: Dᵀ H D and Dᵀ b over the first `active`.
fn reduce(s: &Sums, p: &Params, active: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let d = affine::jacobian(p);
    let full = |a: usize, c: usize| if a <= c { s.h[a][c] } else { s.h[c][a] };
    // hd[e][j] = Σ_f H[e][f] · D[f][j]
    let mut hd = [[0.0; 12]; 12];
    for e in 0..12 {
        for j in 0..active {
            hd[e][j] = (0..12).fold(0.0, |acc, f| acc + full(e, f) * d[f][j]);
        }
    }
    let mut h = vec![vec![0.0; active]; active];
    let mut b = vec![0.0; active];
    for i in 0..active {
        b[i] = (0..12).fold(0.0, |acc, e| acc + d[e][i] * s.b[e]);
        for j in 0..active {
            h[i][j] = (0..12).fold(0.0, |acc, e| acc + d[e][i] * hd[e][j]);
        }
    }
    (h, b)
}

/// Dice of the subject's silhouette and the template's (trilinear ≥ ½) over the subject's
/// voxels that the template's grid covers.
pub fn overlap(mask: &[bool], level: &Level, head: &Level, head_inverse: &Mat, map: &Mat) -> f64 {
    let to_voxel = affine::compose(head_inverse, &affine::compose(map, &level.affine));
    let (mut both, mut total) = (0usize, 0usize);
    let [nx, ny, nz] = level.dims;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let q = affine::apply(&to_voxel, [i as f64, j as f64, k as f64]);
                if q[2] < 0.0 {
                    continue;
                }
                let t = head.sample(q).0 >= 0.5;
                let s = mask[i + nx * (j + ny * k)];
                both += (t && s) as usize;
                total += t as usize + s as usize;
            }
        }
    }
    if total == 0 { 0.0 } else { 2.0 * both as f64 / total as f64 }
}
