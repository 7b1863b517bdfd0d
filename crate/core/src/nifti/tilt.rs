//! CT with gantry tilt, as dcm2niix 1.0.20260724 converts it: the volume as stored (its
//! slices sheared along the table, the affine's slice axis along the table), and a second,
//! tilt-corrected volume `_Tilt_1`: each slice shifted along its columns by the tilt, rows
//! interpolated linearly, the image made taller to hold the shift, the affine's slice axis
//! along the slices' normal.
//!
//! Measured on dcm2niix's binary and read in its documentation and source (written here
//! anew): the tilt is estimated from the positions of the first and last image (in
//! acquisition order) against the slices' normal, not read from GantryDetectorTilt; only
//! for CT (or a positive GantryDetectorTilt), several slices; the corrected volume only for a
//! 3D volume of 3 slices or more, stored as int16 or float32. Out-of-image voxels take
//! PixelPaddingValue, else the volume's lowest value; next to a padding value the nearest row
//! is taken instead of interpolating. dcm2niix writes no sidecar for `_Tilt_1`; we write the
//! series' sidecar beside it, as for any volume.

use super::geometry::dot;
use super::header::{DataType, Header, VOX_OFFSET};
use super::plan::Volume;
use super::slice::Slice;

/// dcm2niix's suffix of the tilt-corrected volume (`_Tilt`, then `_1`: its first 3D volume).
pub(super) const SUFFIX: &str = "_Tilt_1";

/// The tilt of a sheared series: what the corrected volume is computed with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tilt {
    /// dcm2niix's estimate (degrees, single precision as it computes it), signed.
    degrees: f32,
    /// The slices' unit normal (LPS), pointing as the volume's slice axis.
    normal: [f64; 3],
    /// The distance between the first two images' planes, in single precision (pixdim[3]).
    spacing: f32,
    /// PixelPaddingValue.
    padding: Option<f64>,
    /// For the corrected volume: the header its slices are placed with (the stored volume's).
    pub(super) stored: Option<Header>,
}

/// Vectors in single precision, computed as dcm2niix computes them (each operation rounded
/// to `f32`: the tilt's estimate moves by 1e-5° with the order of the roundings).
type V = [f32; 3];

fn f32v(v: [f64; 3]) -> V {
    v.map(|x| x as f32)
}

fn sub(a: V, b: V) -> V {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot32(a: V, b: V) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross32(a: V, b: V) -> V {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn length(v: V) -> f32 {
    dot32(v, v).sqrt()
}

/// The component of largest magnitude (the first of equals).
fn largest(v: V) -> f32 {
    v.iter().copied().fold(v[0], |m, x| if x.abs() > m.abs() { x } else { m })
}

/// The vector turned so that its component of largest magnitude is positive.
fn positive(v: V) -> V {
    if largest(v) >= 0.0 { v } else { v.map(|x| -x) }
}

/// dcm2niix's estimate of the tilt (degrees) from the travel between two images and the
/// orientation `o`; `None` when they are parallel or undefined.
fn estimate(travel: V, o: [f64; 6]) -> Option<f32> {
    let o = o.map(|x| x as f32);
    let perpendicular = positive(cross32([o[0], o[1], o[2]], [o[3], o[4], o[5]]));
    let (len, len90) = (length(travel), length(perpendicular));
    if len < f32::EPSILON || len90 < f32::EPSILON {
        return None;
    }
    let travel = positive(travel);
    let cos = dot32(perpendicular, travel) / (len * len90);
    if (cos - 1.0).abs() < f32::EPSILON {
        return None;
    }
    let degrees = ((cos as f64).acos() * (180.0 / std::f64::consts::PI)) as f32;
    let degrees = if largest(cross32(travel, perpendicular)) > 0.0 { -degrees } else { degrees };
    (degrees.abs() >= 1e-4).then_some(degrees)
}

impl Tilt {
    /// The tilt of `members` (one series, acquisition order; located single images), whose
    /// slices have unit `normal` (LPS, as the volume's slice axis): with the direction of the
    /// table (unit, along `normal`), the affine's slice axis of the stored volume. `None`
    /// when dcm2niix sees no tilt: not CT (nor a positive GantryDetectorTilt), one image, or
    /// the images step along the normal.
    pub(super) fn of(members: &[(usize, &Slice)], normal: [f64; 3]) -> Option<(Tilt, [f64; 3])> {
        let first = members[0].1;
        let last = members[members.len() - 1].1;
        let ct = first.modality == "CT" || first.tilt.is_some_and(|t| t > 0.0);
        if !ct || members.len() < 2 || first.frames > 1 {
            return None;
        }
        let (p0, p1) = (f32v(first.position?), f32v(last.position?));
        let degrees = estimate(sub(p1, p0), first.orientation?)?;
        let travel = sub(p1, p0).map(f64::from);
        let along = if dot(travel, normal) < 0.0 { -1.0 } else { 1.0 };
        let table = travel.map(|x| along * x / dot(travel, travel).sqrt());
        let cos_tilt = ((degrees as f64) * std::f64::consts::PI / 180.0).cos() as f32;
        let spacing = cos_tilt * length(sub(f32v(members[1].1.position?), p0));
        let tilt = Tilt { degrees, normal, spacing, padding: first.padding, stored: None };
        Some((tilt, table))
    }

    /// The warning of the stored volume.
    pub(super) fn warning(&self, corrected: bool) -> String {
        match corrected {
            true => format!(
                "gantry tilt of {:.2}°: stored as acquired (slices sheared along the table); {SUFFIX} is the tilt-corrected volume",
                self.degrees
            ),
            false => format!(
                "gantry tilt of {:.2}° (slices are sheared, not corrected: dcm2niix corrects only a 3D int16 or float32 volume of 3 slices or more)",
                self.degrees
            ),
        }
    }

    /// Shift of the rows per mm along the slices (dcm2niix's `tan(tilt) / row spacing`).
    fn rows_per_mm(&self, row_spacing: f32) -> f32 {
        ((self.degrees as f64 / (180.0 / std::f64::consts::PI)).tan() / row_spacing as f64) as f32
    }

    /// Rows added to hold the shift of the last slice.
    fn extra_rows(&self, header: &Header) -> usize {
        let top = ((header.dim[2] - 1) as f32 * self.spacing).abs();
        (self.rows_per_mm(header.pixdim[1]) * top).abs().ceil() as usize
    }
}

/// After each stored volume of a tilted series that dcm2niix corrects, its `_Tilt_1`
/// volume: the same files, placed as the stored volume, then corrected (see
/// [`correct`]). The stored volume's warning says which.
pub(super) fn add_corrected(volumes: &mut Vec<Volume>) {
    let mut out = Vec::with_capacity(volumes.len());
    for mut volume in volumes.drain(..) {
        let corrected = volume.tilt.clone().and_then(|tilt| corrected(&volume, tilt));
        if let Some(tilt) = &volume.tilt {
            volume.warnings.push(tilt.warning(corrected.is_some()));
        }
        out.push(volume);
        out.extend(corrected);
    }
    *volumes = out;
}

/// The corrected volume of `volume`, when dcm2niix writes one.
fn corrected(volume: &Volume, mut tilt: Tilt) -> Option<Volume> {
    let header = volume.header.as_ref()?;
    let eligible = volume.problem.is_none()
        && volume.reorient.is_none()
        && header.dim[3] == 1
        && header.dim[2] >= 3
        && matches!(header.datatype, DataType::I16 | DataType::F32);
    if !eligible {
        return None;
    }
    let extra = tilt.extra_rows(header);
    let mut turned = header.clone();
    turned.dim[1] += extra;
    // The slice axis along the normal (as the stored volume's would be without the tilt).
    let dz = header.pixdim[2] as f64;
    let n = tilt.normal;
    for (r, v) in [-n[0], -n[1], n[2]].into_iter().enumerate() {
        turned.affine[r][2] = v * dz;
    }
    // A negative shift pads below: dcm2niix moves the origin by the affine's second row.
    if tilt.rows_per_mm(header.pixdim[1]) < 0.0 {
        let row = turned.affine[1];
        for (r, line) in turned.affine.iter_mut().enumerate() {
            line[3] -= extra as f64 * row[r];
        }
    }
    tilt.stored = Some(header.clone());
    Some(Volume {
        suffix: format!("{}{SUFFIX}", volume.suffix),
        header: Some(turned),
        warnings: Vec::new(),
        streamable: false,
        tilt: Some(tilt),
        ..volume.clone()
    })
}

impl Tilt {
    /// The corrected `.nii` (header `header`) of the stored volume's `.nii` bytes.
    pub(super) fn correct(&self, stored_nii: &[u8], header: &Header) -> Vec<u8> {
        let stored = self.stored.as_ref().expect("a corrected volume has its stored header");
        let voxels = &stored_nii[VOX_OFFSET..];
        let mut out = Vec::with_capacity(VOX_OFFSET + header.data_len());
        out.extend_from_slice(&header.encode());
        out.resize(VOX_OFFSET + header.data_len(), 0);
        let values: Vec<f32> = match stored.datatype {
            DataType::F32 => voxels.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            _ => voxels.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32).collect(),
        };
        let corrected = self.shift(&values, stored);
        let target = &mut out[VOX_OFFSET..];
        match stored.datatype {
            DataType::F32 => {
                for (d, v) in target.chunks_exact_mut(4).zip(&corrected) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
            _ => {
                for (d, v) in target.chunks_exact_mut(2).zip(&corrected) {
                    d.copy_from_slice(&(*v as i16).to_le_bytes());
                }
            }
        }
        out
    }

    /// Each slice of `values` (the stored volume, `stored`'s dimensions) shifted along its
    /// columns by the tilt, in the taller image; values rounded as dcm2niix rounds them.
    fn shift(&self, values: &[f32], stored: &Header) -> Vec<f32> {
        let [nx, ny, nz, _] = stored.dim;
        let per_mm = self.rows_per_mm(stored.pixdim[1]);
        let rows = ny + self.extra_rows(stored);
        let top = ((nz - 1) as f32 * self.spacing).abs();
        let padding = self.padding.map(|p| match stored.datatype {
            DataType::F32 => p as f32,
            _ => p.round() as i16 as f32,
        });
        let fill = padding.unwrap_or_else(|| values.iter().copied().fold(values[0], f32::min));
        let mut out = vec![fill; nx * rows * nz];
        for s in 0..nz {
            let mut mm = s as f32 * self.spacing;
            if per_mm < 0.0 {
                mm -= top;
            }
            let offset = per_mm * mm;
            let hi_weight = offset.ceil() - offset;
            let lo_weight = 1.0 - hi_weight;
            let slice = &values[s * nx * ny..(s + 1) * nx * ny];
            for r in 0..rows {
                let from = r as f32 - offset;
                if from < 0.0 || from >= ny as f32 {
                    continue;
                }
                let lo = from.floor() as usize;
                let hi = if lo + 1 >= ny { lo } else { lo + 1 };
                let dst = &mut out[(s * rows + r) * nx..(s * rows + r + 1) * nx];
                for (c, d) in dst.iter_mut().enumerate() {
                    let (a, b) = (slice[lo * nx + c], slice[hi * nx + c]);
                    *d = match padding {
                        Some(p) if a == p || b == p => if hi_weight >= 0.5 { b } else { a },
                        _ => (a * lo_weight + b * hi_weight).round(),
                    };
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dcm2niix's sign: slices stepping along +z with the column direction turned down (the
    /// 15° spec) give +15°; turned up, -12°; along the normal, none.
    #[test]
    fn tilt_is_estimated_with_dcm2niix_sign() {
        let (c, s) = (15f64.to_radians().cos(), 15f64.to_radians().sin());
        let down = estimate([0.0, 0.0, 47.5], [1.0, 0.0, 0.0, 0.0, c, -s]).unwrap();
        assert!((down - 15.0).abs() < 1e-3, "{down}");
        let (c, s) = (12f64.to_radians().cos(), 12f64.to_radians().sin());
        let up = estimate([0.0, 0.0, -33.0], [1.0, 0.0, 0.0, 0.0, c, s]).unwrap();
        assert!((up + 12.0).abs() < 1e-3, "{up}");
        assert_eq!(estimate([0.0, 0.0, 10.0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), None);
    }
}
