//! The voxels of a scalar `.nii` as this module writes it, read and changed in place: what the
//! Clean Recognizable Visual Features Option registers and then clears.

use super::header::{DataType, VOX_OFFSET};

/// A 3D scalar `.nii`'s grid and samples, as stored (before scl_slope/scl_inter).
#[derive(Debug, Clone, PartialEq)]
pub struct Voxels {
    /// Sizes along i, j, k.
    pub dims: [usize; 3],
    /// Voxel (i, j, k) → RAS mm: the sform's rows.
    pub affine: [[f64; 4]; 3],
    /// scl_slope (1 when 0) and scl_inter.
    pub rescale: (f64, f64),
    /// The stored samples, i fastest.
    pub stored: Vec<f64>,
}

const TYPES: [DataType; 7] = [DataType::U8, DataType::I8, DataType::I16, DataType::U16, DataType::I32, DataType::U32, DataType::F32];

fn le<const N: usize>(nii: &[u8], at: usize) -> Option<[u8; N]> {
    nii.get(at..at + N)?.try_into().ok()
}

/// The header fields the voxels need: dims, data type, where the voxels start.
fn layout(nii: &[u8]) -> Option<([usize; 3], DataType, usize)> {
    let dim = |d: usize| le::<2>(nii, 40 + 2 * d).map(i16::from_le_bytes);
    let (rank, t) = (dim(0)?, dim(4).unwrap_or(1).max(1));
    let code = i16::from_le_bytes(le(nii, 70)?);
    let datatype = TYPES.into_iter().find(|t| t.code() == code)?;
    let dims = [dim(1)?, dim(2)?, dim(3)?].map(|n| n.max(1) as usize);
    let offset = f32::from_le_bytes(le(nii, 108)?) as usize;
    let needed = offset.max(VOX_OFFSET) + dims.iter().product::<usize>() * datatype.bytes();
    (rank >= 3 && t == 1 && nii.len() >= needed).then_some((dims, datatype, offset.max(VOX_OFFSET)))
}

/// A 3D scalar volume's voxels, or `None` for another kind of `.nii` (4D, colour, short).
pub fn read(nii: &[u8]) -> Option<Voxels> {
    let (dims, datatype, offset) = layout(nii)?;
    let float = |at: usize| le::<4>(nii, at).map(|b| f32::from_le_bytes(b) as f64);
    let row = |r: usize| -> Option<[f64; 4]> { Some([float(280 + 16 * r)?, float(284 + 16 * r)?, float(288 + 16 * r)?, float(292 + 16 * r)?]) };
    let slope = float(112)?;
    let size = datatype.bytes();
    let stored = nii[offset..offset + dims.iter().product::<usize>() * size]
        .chunks_exact(size)
        .map(|b| sample(datatype, b))
        .collect();
    Some(Voxels {
        dims,
        affine: [row(0)?, row(1)?, row(2)?],
        rescale: (if slope == 0.0 { 1.0 } else { slope }, float(116)?),
        stored,
    })
}

fn sample(datatype: DataType, b: &[u8]) -> f64 {
    match datatype {
        DataType::U8 => b[0] as f64,
        DataType::I8 => b[0] as i8 as f64,
        DataType::I16 => i16::from_le_bytes([b[0], b[1]]) as f64,
        DataType::U16 => u16::from_le_bytes([b[0], b[1]]) as f64,
        DataType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        DataType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
    }
}

/// Sets the voxels where `mask` holds (i fastest) to the stored `value`; the number set, or
/// `None` when the `.nii` is not a 3D scalar volume of the mask's size.
pub fn set(nii: &mut [u8], mask: &[bool], value: f64) -> Option<usize> {
    let (dims, datatype, offset) = layout(nii)?;
    if dims.iter().product::<usize>() != mask.len() {
        return None;
    }
    let bytes: Vec<u8> = match datatype {
        DataType::U8 => vec![value as u8],
        DataType::I8 => vec![value as i8 as u8],
        DataType::I16 => (value as i16).to_le_bytes().to_vec(),
        DataType::U16 => (value as u16).to_le_bytes().to_vec(),
        DataType::I32 => (value as i32).to_le_bytes().to_vec(),
        DataType::U32 => (value as u32).to_le_bytes().to_vec(),
        _ => (value as f32).to_le_bytes().to_vec(),
    };
    let data = &mut nii[offset..offset + mask.len() * bytes.len()];
    let mut count = 0;
    for (voxel, _) in data.chunks_exact_mut(bytes.len()).zip(mask).filter(|(_, &m)| m) {
        voxel.copy_from_slice(&bytes);
        count += 1;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nifti::header::Header;

    /// A 2 × 2 × 2 int16 volume written by the header's encoder reads back, and a mask sets
    /// exactly its voxels.
    #[test]
    fn voxels_read_back_and_are_set_by_mask() {
        let header = Header {
            dim: [2, 2, 2, 1],
            datatype: DataType::I16,
            pixdim: [1.0, 1.0, 2.0, 0.0],
            scl_slope: 1.0,
            scl_inter: -1024.0,
            dim_info: 0,
            affine: [[-1.0, 0.0, 0.0, 10.0], [0.0, 1.0, 0.0, -5.0], [0.0, 0.0, 2.0, 3.0]],
            descrip: String::new(),
            xform: 1,
        };
        let mut nii = header.encode();
        nii.resize(VOX_OFFSET, 0);
        nii.extend((0..8i16).flat_map(|v| (v * 100 - 300).to_le_bytes()));
        let read = read(&nii).unwrap();
        assert_eq!((read.dims, read.rescale, read.affine[2]), ([2, 2, 2], (1.0, -1024.0), [0.0, 0.0, 2.0, 3.0]));
        assert_eq!(read.stored, [-300.0, -200.0, -100.0, 0.0, 100.0, 200.0, 300.0, 400.0]);
        let mask = [false, true, false, false, false, false, false, true];
        assert_eq!(set(&mut nii, &mask, -300.0), Some(2));
        assert_eq!(super::read(&nii).unwrap().stored, [-300.0, -300.0, -100.0, 0.0, 100.0, 200.0, 300.0, -300.0]);
        assert_eq!(set(&mut nii, &mask[..4], 0.0), None);
    }
}
