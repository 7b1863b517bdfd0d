//! The NIfTI-1 single-file format (`.nii`): a 348-byte header, 4 extension bytes (none),
//! then the voxels. Written by our own code: the `nifti` crate writes only to paths, and
//! there are no paths in the browser.

/// NIfTI data type codes (nifti1.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    F32,
    /// Three 8-bit samples per voxel, interleaved (colour images, as dcm2niix writes them).
    Rgb24,
}

impl DataType {
    pub fn code(self) -> i16 {
        match self {
            DataType::U8 => 2,
            DataType::I16 => 4,
            DataType::I32 => 8,
            DataType::F32 => 16,
            DataType::I8 => 256,
            DataType::U16 => 512,
            DataType::U32 => 768,
            DataType::Rgb24 => 128,
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            DataType::U8 | DataType::I8 => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::Rgb24 => 3,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
        }
    }
}

/// The fields this tool sets; everything else is zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Sizes along i, j, k, t (t = 1 for a 3D volume).
    pub dim: [usize; 4],
    pub datatype: DataType,
    /// Voxel sizes along i, j, k (mm) and the repetition time (s).
    pub pixdim: [f32; 4],
    pub scl_slope: f32,
    pub scl_inter: f32,
    /// `dim_info` (frequency, phase and slice dimensions).
    pub dim_info: u8,
    /// Voxel (i, j, k) to RAS+ millimetres: the first three rows of the affine.
    pub affine: [[f64; 4]; 3],
    /// Free text: never anything that identifies (no times, no comments).
    pub descrip: String,
    /// qform_code and sform_code: scanner coordinates (1), or none (0) when the images
    /// carry no position, as dcm2niix writes them.
    pub xform: i16,
}

pub const HEADER_SIZE: usize = 348;
/// Header plus the 4 extension bytes: where the voxels start.
pub const VOX_OFFSET: usize = 352;
/// NIFTI_XFORM_SCANNER_ANAT: coordinates of the scanner.
pub const XFORM_SCANNER_ANAT: i16 = 1;
/// NIFTI_UNITS_MM | NIFTI_UNITS_SEC.
pub const UNITS_MM_SEC: u8 = 10;

impl Header {
    /// Voxel bytes of the whole image.
    pub fn data_len(&self) -> usize {
        self.dim.iter().product::<usize>() * self.datatype.bytes()
    }

    /// The bytes of one slice (columns × rows voxels).
    pub fn slice_len(&self) -> usize {
        self.dim[0] * self.dim[1] * self.datatype.bytes()
    }

    /// The 352 bytes before the voxels.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; VOX_OFFSET];
        let mut put =
            |offset: usize, bytes: &[u8]| b[offset..offset + bytes.len()].copy_from_slice(bytes);
        put(0, &(HEADER_SIZE as i32).to_le_bytes());
        put(38, b"r");
        put(39, &[self.dim_info]);
        let ndim: i16 = if self.dim[3] > 1 { 4 } else { 3 };
        let mut dims = [1i16; 8];
        dims[0] = ndim;
        for (d, &n) in dims[1..5].iter_mut().zip(&self.dim) {
            *d = n.min(i16::MAX as usize) as i16;
        }
        for (i, d) in dims.iter().enumerate() {
            put(40 + 2 * i, &d.to_le_bytes());
        }
        put(70, &self.datatype.code().to_le_bytes());
        put(72, &((self.datatype.bytes() * 8) as i16).to_le_bytes());
        let q = quatern(&self.affine);
        let mut pixdim = [0f32; 8];
        pixdim[0] = q.qfac;
        pixdim[1..5].copy_from_slice(&self.pixdim);
        for (i, p) in pixdim.iter().enumerate() {
            put(76 + 4 * i, &p.to_le_bytes());
        }
        put(108, &(VOX_OFFSET as f32).to_le_bytes());
        put(112, &self.scl_slope.to_le_bytes());
        put(116, &self.scl_inter.to_le_bytes());
        put(123, &[UNITS_MM_SEC]);
        let descrip = self.descrip.as_bytes();
        put(148, &descrip[..descrip.len().min(79)]);
        put(252, &self.xform.to_le_bytes());
        put(254, &self.xform.to_le_bytes());
        for (i, v) in [q.b, q.c, q.d, q.x, q.y, q.z].iter().enumerate() {
            put(256 + 4 * i, &v.to_le_bytes());
        }
        for (r, row) in self.affine.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                put(280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
            }
        }
        put(344, b"n+1\0");
        b
    }
}

/// The quaternion form of an affine (nifti1_io's `nifti_mat44_to_quatern`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quatern {
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub qfac: f32,
}

fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn inverse_transpose(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let d = det3(m);
    let mut out = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            // cofactor(r, c) / det = inverse(c, r) = inverse_transpose(r, c)
            out[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / d;
        }
    }
    out
}

/// The nearest orthogonal matrix (polar decomposition by Newton iteration).
fn polar(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut x = m;
    for _ in 0..50 {
        let y = inverse_transpose(&x);
        let mut next = [[0.0; 3]; 3];
        let mut change = 0.0f64;
        for r in 0..3 {
            for c in 0..3 {
                next[r][c] = 0.5 * (x[r][c] + y[r][c]);
                change = change.max((next[r][c] - x[r][c]).abs());
            }
        }
        x = next;
        if change < 1e-12 {
            break;
        }
    }
    x
}

pub fn quatern(a: &[[f64; 4]; 3]) -> Quatern {
    let mut p = polar(unit_columns(a));
    let qfac = if det3(&p) > 0.0 {
        1.0
    } else {
        for row in p.iter_mut() {
            row[2] = -row[2];
        }
        -1.0
    };
    let (b, c, d) = rotation(p);
    Quatern {
        b: b as f32,
        c: c as f32,
        d: d as f32,
        x: a[0][3] as f32,
        y: a[1][3] as f32,
        z: a[2][3] as f32,
        qfac,
    }
}

/// The affine's 3 × 3 part with each column scaled to unit length (a zero column becomes
/// that axis).
fn unit_columns(a: &[[f64; 4]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0f64; 3]; 3];
    for c in 0..3 {
        let mut column = [a[0][c], a[1][c], a[2][c]];
        let len = column.iter().map(|v| v * v).sum::<f64>().sqrt();
        if len == 0.0 {
            column = [0.0; 3];
            column[c] = 1.0;
        } else {
            column.iter_mut().for_each(|v| *v /= len);
        }
        for r in 0..3 {
            m[r][c] = column[r];
        }
    }
    m
}

/// The quaternion parameters (b, c, d) of the proper rotation `p`, with a ≥ 0.
fn rotation(p: [[f64; 3]; 3]) -> (f64, f64, f64) {
    let [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]] = p;
    let trace = r11 + r22 + r33 + 1.0;
    let (mut qa, mut b, mut c, mut d);
    if trace > 0.5 {
        qa = 0.5 * trace.sqrt();
        b = 0.25 * (r32 - r23) / qa;
        c = 0.25 * (r13 - r31) / qa;
        d = 0.25 * (r21 - r12) / qa;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            qa = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            qa = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            qa = 0.25 * (r21 - r12) / d;
        }
        if qa < 0.0 {
            b = -b;
            c = -c;
            d = -d;
            qa = -qa;
        }
    }
    let _ = qa;
    (b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_nifti1() {
        let h = Header {
            dim: [128, 128, 1, 1],
            datatype: DataType::I16,
            pixdim: [0.661468, 0.661468, 5.0, 0.0],
            scl_slope: 1.0,
            scl_inter: -1024.0,
            dim_info: 0,
            affine: [
                [-0.661468, 0.0, 0.0, 158.1358],
                [0.0, 0.661468, 0.0, 95.02936],
                [0.0, 0.0, 5.0, -75.7],
            ],
            descrip: String::new(),
            xform: XFORM_SCANNER_ANAT,
        };
        let b = h.encode();
        assert_eq!(b.len(), 352);
        assert_eq!(&b[344..348], b"n+1\0");
        assert_eq!(i16::from_le_bytes([b[70], b[71]]), 4);
        assert_eq!(f32::from_le_bytes(b[108..112].try_into().unwrap()), 352.0);
        // dcm2niix writes exactly these quaternion parameters for pydicom's CT_small.dcm.
        let q = quatern(&h.affine);
        assert_eq!((q.b, q.c, q.d, q.qfac), (0.0, 1.0, 0.0, -1.0));
        assert_eq!(h.data_len(), 128 * 128 * 2);
    }
}
