//! 3×4 affine maps (voxel → RAS, RAS → RAS) and the registration's twelve parameters.

/// Rows of an affine map: `y = m · (x, 1)`.
pub type Mat = [[f64; 4]; 3];

pub const IDENTITY: Mat = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];

/// The map applied to a point.
pub fn apply(m: &Mat, p: [f64; 3]) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (r, row) in m.iter().enumerate() {
        out[r] = row[0] * p[0] + row[1] * p[1] + row[2] * p[2] + row[3];
    }
    out
}

/// `a ∘ b`: b first, then a.
pub fn compose(a: &Mat, b: &Mat) -> Mat {
    let mut out = [[0.0; 4]; 3];
    for r in 0..3 {
        for c in 0..4 {
            let mut s = if c == 3 { a[r][3] } else { 0.0 };
            for k in 0..3 {
                s += a[r][k] * b[k][c];
            }
            out[r][c] = s;
        }
    }
    out
}

/// The determinant of the linear part.
pub fn det(m: &Mat) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// The inverse map, or None when the linear part is (nearly) singular.
pub fn inverse(m: &Mat) -> Option<Mat> {
    let d = det(m);
    if !(d.abs() > 1e-12) {
        return None;
    }
    let mut inv = [[0.0; 4]; 3];
    for r in 0..3 {
        for c in 0..3 {
            // Cofactor of (c, r) over the determinant: the adjugate's transpose.
            let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
            let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
            inv[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / d;
        }
    }
    for r in 0..3 {
        inv[r][3] = -(inv[r][0] * m[0][3] + inv[r][1] * m[1][3] + inv[r][2] * m[2][3]);
    }
    Some(inv)
}

/// The length of each column of the linear part: a voxel's size for a voxel → RAS map.
pub fn column_norms(m: &Mat) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        *o = (m[0][c] * m[0][c] + m[1][c] * m[1][c] + m[2][c] * m[2][c]).sqrt();
    }
    out
}

/// The registration's parameters: translation (mm), rotations about x, y, z (radians), log
/// scales along x, y, z, shears (xy, xz, yz). The linear part is `Rz·Ry·Rx·S·H`.
pub type Params = [f64; 12];

/// The map `x ↦ A·x + t` of the parameters, on points already centred.
pub fn from_params(p: &Params) -> Mat {
    let (sx, cx) = (libm::sin(p[3]), libm::cos(p[3]));
    let (sy, cy) = (libm::sin(p[4]), libm::cos(p[4]));
    let (sz, cz) = (libm::sin(p[5]), libm::cos(p[5]));
    let rx: Mat = [[1.0, 0.0, 0.0, 0.0], [0.0, cx, -sx, 0.0], [0.0, sx, cx, 0.0]];
    let ry: Mat = [[cy, 0.0, sy, 0.0], [0.0, 1.0, 0.0, 0.0], [-sy, 0.0, cy, 0.0]];
    let rz: Mat = [[cz, -sz, 0.0, 0.0], [sz, cz, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
    let (ax, ay, az) = (libm::exp(p[6]), libm::exp(p[7]), libm::exp(p[8]));
    let sh: Mat = [[ax, ax * p[9], ax * p[10], 0.0], [0.0, ay, ay * p[11], 0.0], [0.0, 0.0, az, 0.0]];
    let mut m = compose(&rz, &compose(&ry, &compose(&rx, &sh)));
    for r in 0..3 {
        m[r][3] = p[r];
    }
    m
}

/// d(map entries)/d(parameter), by central differences: column `j` is the change of the 12
/// entries (row-major) per unit of parameter `j`.
pub fn jacobian(p: &Params) -> [[f64; 12]; 12] {
    let mut out = [[0.0; 12]; 12];
    for j in 0..12 {
        let h = 1e-6;
        let (mut lo, mut hi) = (*p, *p);
        lo[j] -= h;
        hi[j] += h;
        let (a, b) = (from_params(&lo), from_params(&hi));
        for e in 0..12 {
            out[e][j] = (b[e / 4][e % 4] - a[e / 4][e % 4]) / (2.0 * h);
        }
    }
    out
}

/// Solves `a · x = b` (small, symmetric positive definite after damping) by Gaussian
/// elimination with partial pivoting; None when singular.
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if !(a[pivot][col].abs() > 1e-300) {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).fold(b[row], |s, k| s - a[row][k] * x[k]);
        x[row] = s / a[row][row];
    }
    Some(x)
}
