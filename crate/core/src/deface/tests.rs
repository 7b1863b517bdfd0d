//! The engine on heads made from the template by a known affine (MR-like and CT-like, with
//! and without a neck), on non-heads, and the previews' orientation.

use super::affine::{self, Mat};
use super::level::{self, Level};
use super::template::{self, template};
use super::*;

/// A deterministic noise source (64-bit LCG), values in 0..1.
fn noise(state: &mut u64) -> f32 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 40) as f32 / (1u64 << 24) as f32
}

/// The subject grid (2 mm, RAS-aligned) holding the template's head seen through `truth`
/// (subject RAS → template RAS), its z range cut to `z_cut` (mm above the grid's bottom).
fn subject_grid(truth: &Mat, z_cut: f64) -> Grid {
    let t = template();
    let back = affine::inverse(truth).unwrap();
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for (at, f) in t.flags.iter().enumerate() {
        if f & template::HEAD != 0 {
            let p = affine::apply(&back, level::ras_of(&Level { dims: t.dims, affine: t.affine, data: vec![] }, at));
            (0..3).for_each(|a| (lo[a], hi[a]) = (lo[a].min(p[a]), hi[a].max(p[a])));
        }
    }
    let lo = [lo[0] - 12.0, lo[1] - 12.0, lo[2] - 12.0 + z_cut];
    let dims = [0, 1, 2].map(|a| ((hi[a] + 12.0 - lo[a]) / 2.0) as usize);
    Grid { dims, affine: [[2.0, 0.0, 0.0, lo[0]], [0.0, 2.0, 0.0, lo[1]], [0.0, 0.0, 2.0, lo[2]]] }
}

/// The template's intensities (MR-like, noisy background) or tissue classes in Hounsfield
/// units with a table behind the head (CT-like), on the grid.
fn synthetic(truth: &Mat, grid: &Grid, ct: bool) -> Volume {
    let t = template();
    let intensity = Level { dims: t.dims, affine: t.affine, data: template::t1().iter().map(|&v| v as f32).collect() };
    let head = Level { dims: t.dims, affine: t.affine, data: t.head() };
    let to_voxel = affine::compose(&t.inverse, &affine::compose(truth, &grid.affine));
    let mut state = 7u64;
    let [nx, ny, nz] = grid.dims;
    let mut data = Vec::with_capacity(nx * ny * nz);
    let table_y = grid.affine[1][3] + 5.0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let q = affine::apply(&to_voxel, [i as f64, j as f64, k as f64]);
                let v = intensity.sample(q).0 as f32;
                let inside = head.sample(q).0 >= 0.5;
                let y = grid.affine[1][3] + 2.0 * j as f64;
                data.push(if !ct {
                    v + 10.0 * noise(&mut state)
                } else if inside {
                    if v < 60.0 { 1000.0 } else { 40.0 }
                } else if (y - table_y).abs() < 3.0 {
                    300.0
                } else {
                    -1000.0 + 20.0 * noise(&mut state)
                });
            }
        }
    }
    Volume { grid: grid.clone(), data }
}

fn dice(a: &[bool], b: &[bool]) -> f64 {
    let both = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let total = a.iter().filter(|x| **x).count() + b.iter().filter(|x| **x).count();
    2.0 * both as f64 / total.max(1) as f64
}

/// Dice of two regions within the head that `truth` puts on the grid (the air in front of
/// the face, removed or not, does not matter).
fn head_dice(truth: &Mat, grid: &Grid, a: &[bool], b: &[bool]) -> f64 {
    let t = template();
    let head = Level { dims: t.dims, affine: t.affine, data: t.head() };
    let to_voxel = affine::compose(&t.inverse, &affine::compose(truth, &grid.affine));
    let [nx, ny, _] = grid.dims;
    let inside = |at: usize| {
        let v = [(at % nx) as f64, ((at / nx) % ny) as f64, (at / (nx * ny)) as f64];
        head.sample(affine::apply(&to_voxel, v)).0 >= 0.5
    };
    let keep = |m: &[bool]| m.iter().enumerate().map(|(at, &v)| v && inside(at)).collect::<Vec<_>>();
    dice(&keep(a), &keep(b))
}

/// A tilted, scaled, shifted head: subject RAS → template RAS.
fn truth() -> Mat {
    let p = [6.0, -12.0, 18.0, 0.21, 0.07, -0.09, -0.07, 0.04, -0.02, 0.03, 0.0, -0.02];
    affine::from_params(&p)
}

/// Fits the volume and returns the Dice of its region with the truth's.
fn region_dice(truth: &Mat, volume: &Volume, modality: Modality) -> f64 {
    let fit = fit(volume, modality).expect("fits");
    let right = Fit { to_template: affine::compose(&template().inverse, truth), scale: [1.0; 3], overlap: 1.0, eyes: fit.eyes };
    let (got, want) = (fit.mask(&volume.grid), right.mask(&volume.grid));
    assert!(want.iter().filter(|&&m| m).count() > 5_000, "the truth has a face");
    let d = head_dice(truth, &volume.grid, &got, &want);
    eprintln!("face region Dice {d:.3}, scale {:.3?}, overlap {:.3}", fit.scale, fit.overlap);
    d
}

#[test]
fn a_transformed_template_is_recovered() {
    let truth = truth();
    let volume = synthetic(&truth, &subject_grid(&truth, 0.0), false);
    let d = region_dice(&truth, &volume, Modality::Mr);
    assert!(d >= 0.95, "face region Dice {d}");
}

#[test]
fn a_ct_like_head_on_a_table_is_recovered() {
    let truth = truth();
    let volume = synthetic(&truth, &subject_grid(&truth, 0.0), true);
    let d = region_dice(&truth, &volume, Modality::Ct);
    assert!(d >= 0.95, "face region Dice {d}");
}

#[test]
fn a_head_without_its_neck_is_recovered() {
    let truth = truth();
    let volume = synthetic(&truth, &subject_grid(&truth, 80.0), false);
    let d = region_dice(&truth, &volume, Modality::Mr);
    assert!(d >= 0.95, "face region Dice {d}");
}

#[test]
fn a_steeply_tilted_head_cut_at_the_top_is_recovered() {
    // Chin down by 26°, turned by 10°, and the field of view stopping 25 mm under the vertex.
    let truth = affine::from_params(&[-4.0, 8.0, -10.0, -0.45, 0.0, 0.17, 0.05, 0.0, 0.06, 0.0, 0.0, 0.0]);
    let mut grid = subject_grid(&truth, 30.0);
    grid.dims[2] -= 12;
    let volume = synthetic(&truth, &grid, false);
    let d = region_dice(&truth, &volume, Modality::Mr);
    assert!(d >= 0.95, "face region Dice {d}");
}

#[test]
fn a_head_whose_geometry_misstates_its_orientation_is_refused() {
    // Prone entered as supine: the head is half a turn about the body's axis from its geometry.
    let truth = affine::from_params(&[0.0, 0.0, 0.0, 0.0, 0.0, std::f64::consts::PI, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let volume = synthetic(&truth, &subject_grid(&truth, 0.0), false);
    let got = fit(&volume, Modality::Mr);
    assert!(matches!(got, Err(DefaceError::Orientation { degrees }) if degrees > 170.0), "{got:?}");
}

#[test]
fn the_wrong_truth_scores_low() {
    // The Dice above bites: a fit 5 mm off (along y) scores under 0.95 (0.91).
    let truth = truth();
    let grid = subject_grid(&truth, 0.0);
    let mut shifted = truth;
    shifted[1][3] += 5.0;
    let a = Fit { to_template: affine::compose(&template().inverse, &truth), scale: [1.0; 3], overlap: 1.0, eyes: true };
    let b = Fit { to_template: affine::compose(&template().inverse, &shifted), scale: [1.0; 3], overlap: 1.0, eyes: true };
    let d = head_dice(&truth, &grid, &a.mask(&grid), &b.mask(&grid));
    assert!(d < 0.95, "{d}");
}

#[test]
fn not_a_head_is_refused() {
    let grid = Grid { dims: [60, 60, 60], affine: [[2.0, 0.0, 0.0, -60.0], [0.0, 2.0, 0.0, -60.0], [0.0, 0.0, 2.0, -60.0]] };
    let empty = Volume { grid: grid.clone(), data: vec![0.0; 60 * 60 * 60] };
    assert!(matches!(fit(&empty, Modality::Mr), Err(DefaceError::NoHead { .. })));
    // A long bar (a limb, a phantom; 72 × 72 × 300 mm): no plausible head fit.
    let long = Grid { dims: [60, 60, 150], affine: grid.affine };
    let data = (0..60 * 60 * 150).map(|at: usize| if (at % 60).abs_diff(30) < 18 && (at / 60 % 60).abs_diff(30) < 18 { 500.0 } else { 0.0 }).collect();
    let bar = Volume { grid: long, data };
    let got = fit(&bar, Modality::Mr);
    assert!(matches!(got, Err(DefaceError::NoFit { .. } | DefaceError::Orientation { .. })), "{got:?}");
    let small = Volume { grid: Grid { dims: [20, 60, 60], affine: grid.affine }, data: vec![0.0; 20 * 60 * 60] };
    assert!(matches!(fit(&small, Modality::Mr), Err(DefaceError::TooSmall { .. })));
    let bad = Volume { grid, data: vec![0.0; 5] };
    assert_eq!(fit(&bad, Modality::Mr).unwrap_err(), DefaceError::BadGrid);
}

#[test]
fn the_silhouette_finds_the_templates_head() {
    let t = template();
    let l = Level { dims: t.dims, affine: t.affine, data: template::t1().iter().map(|&v| v as f32).collect() };
    let mine = level::silhouette(&l, Modality::Mr);
    let stored: Vec<bool> = t.flags.iter().map(|f| f & template::HEAD != 0).collect();
    assert!(dice(&mine, &stored) > 0.97, "{}", dice(&mine, &stored));
}

#[test]
fn the_region_never_touches_the_brain_guard() {
    let t = template();
    let grid = Grid { dims: t.dims, affine: t.affine };
    let identity = Fit { to_template: t.inverse, scale: [1.0; 3], overlap: 1.0, eyes: true };
    let region = identity.mask(&grid);
    let guarded = region.iter().zip(&t.flags).filter(|(r, f)| **r && **f & template::GUARD != 0).count();
    let face = region.iter().filter(|&&r| r).count();
    assert_eq!(guarded, 0);
    assert!(face > 100_000, "{face}");
    // The eyes band adds to pydeface's region, never into the guard.
    let without = Fit { eyes: false, ..identity.clone() }.mask(&grid);
    let only_band = region.iter().zip(&without).filter(|(a, b)| **a && !**b).count();
    assert!(without.iter().zip(&region).all(|(w, r)| !w || *r) && only_band > 10_000, "{only_band}");
    let column = [0, 1, 2].map(|r| t.affine[r][0]);
    let row = [0, 1, 2].map(|r| t.affine[r][1]);
    let plane = identity.plane(affine::apply(&t.affine, [0.0, 0.0, 30.0]), column, row, 88, 128);
    let slice = &region[88 * 128 * 30..88 * 128 * 31];
    let differ = plane.iter().zip(slice).filter(|(a, b)| a != b).count();
    assert!(differ * 100 <= slice.iter().filter(|&&r| r).count(), "the plane is the grid's slice: {differ} differ");
    assert!(plane.iter().any(|&p| p), "the slice holds face");
}

#[test]
fn previews_are_oriented_for_a_radiologist() {
    // Anterior (y > 0) bright in the left half; right (x > 0) region tinted.
    let grid = Grid { dims: [40, 50, 30], affine: [[2.0, 0.0, 0.0, -40.0], [0.0, 2.0, 0.0, -50.0], [0.0, 0.0, 2.0, -30.0]] };
    let ras = |at: usize| affine::apply(&grid.affine, [(at % 40) as f64, (at / 40 % 50) as f64, (at / 2000) as f64]);
    let data = (0..60_000).map(|at| if ras(at)[1] >= 0.0 { 100.0 } else { 0.0 }).collect();
    let mask: Vec<bool> = (0..60_000).map(|at| ras(at)[0] >= 0.0).collect();
    let p = previews(&Volume { grid, data }, &mask);
    assert_eq!(p.voxels, 30_000);
    let px = |pic: &Picture, c: u32, r: u32| pic.rgba[(4 * (r * pic.width + c)) as usize..][..4].to_vec();
    let s = &p.sagittal;
    assert!(px(s, 2, s.height / 2)[1] > 100 && px(s, s.width - 3, s.height / 2)[1] < 20, "anterior left");
    let a = &p.axial;
    assert!(px(a, a.width / 2, 2)[1] > 100 && px(a, a.width / 2, a.height - 3)[1] < 20, "anterior up");
    assert!(px(a, 2, a.height - 3)[0] > 100 && px(a, a.width - 3, a.height - 3)[0] < 20, "right on the left, tinted");
}

/// Volumes a file can make that no scanner would: NaN and infinite samples, a singular or
/// non-finite geometry. Each is refused or fitted, never a panic.
#[test]
fn hostile_volumes_are_refused_without_panicking() {
    let affine = [[2.0, 0.0, 0.0, -60.0], [0.0, 2.0, 0.0, -60.0], [0.0, 0.0, 2.0, -60.0]];
    let n = 64 * 64 * 64;
    let ball = |at: usize| {
        let (i, j, k) = ((at % 64) as f32 - 32.0, (at / 64 % 64) as f32 - 32.0, (at / 4096) as f32 - 32.0);
        if i * i + j * j + k * k < 26.0 * 26.0 { 400.0 } else { 0.0 }
    };
    let cases: Vec<(&str, [[f64; 4]; 3], Vec<f32>)> = vec![
        ("NaN samples", affine, (0..n).map(|at| if at % 7 == 0 { f32::NAN } else { ball(at) }).collect()),
        ("infinite samples", affine, (0..n).map(|at| if at % 5 == 0 { f32::INFINITY } else { ball(at) }).collect()),
        ("all NaN", affine, vec![f32::NAN; n]),
        ("singular geometry", [[2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]], (0..n).map(ball).collect()),
        ("NaN geometry", [[f64::NAN, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]], (0..n).map(ball).collect()),
        ("zero spacing", [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], (0..n).map(ball).collect()),
    ];
    for (name, affine, data) in cases {
        let volume = Volume { grid: Grid { dims: [64, 64, 64], affine }, data };
        let got = std::panic::catch_unwind(|| fit(&volume, Modality::Mr));
        assert!(got.is_ok(), "{name}: fit panicked");
        if let Ok(Ok(fitted)) = got {
            let mask = fitted.mask(&volume.grid);
            assert_eq!(mask.len(), n, "{name}");
        }
    }
}
