//! Diffusion gradients: each image's b-value and direction as the scan reads them (standard
//! MR Diffusion attributes, Siemens CSA or private, GE private, Philips private), and a
//! volume's `.bval` / `.bvec` as dcm2niix 1.0.20260724 writes them: one b-value per volume,
//! directions turned into the NIfTI voxel frame (rows bottom-up: y flipped), printed `%g`.
//! Private values are read for these files only; nothing of them reaches another output.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::csa;
use super::geometry::{cross, dot, normalise};

/// The frame a gradient direction is given in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Axes {
    /// Patient (LPS) coordinates: standard attributes, Siemens, Philips.
    Patient,
    /// GE's private directions, relative to the image (phase, frequency, slice).
    GeImage,
}

/// One image's diffusion weighting (s/mm²) and gradient direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Gradient {
    pub(super) b: f64,
    pub(super) direction: [f64; 3],
    pub(super) axes: Axes,
}

/// What dcm2niix needs of the series to turn the directions: the image orientation, the
/// phase-encoding axis (GE) and how slices run (GE's flips; a mosaic against its normal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Frame {
    pub(super) orientation: [f64; 6],
    pub(super) phase_columns: bool,
    /// The slices of the first volume, in acquisition order, run against the normal.
    pub(super) descending: bool,
    /// A mosaic whose slices run against the row × column normal.
    pub(super) mosaic_flipped: bool,
}

/// A volume's `.bval` and `.bvec` texts.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientTexts {
    pub bval: String,
    pub bvec: String,
}

/// Where a volume's `.bval` and `.bvec` are written in the zip.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GradientPaths {
    pub bval: String,
    pub bvec: String,
}

/// The b-values and directions of a volume's time points, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    b: Vec<f64>,
    vectors: Vec<[f64; 3]>,
}

/// float32's epsilon: dcm2niix's test for a zero b-value or vector.
const EPSILON: f64 = f32::EPSILON as f64;

/// Values of a private (or standard) numeric attribute: typed, else its bytes as
/// little-endian floats of `width` bytes (implicit VR FL/FD), else as text.
fn floats(ds: &InMemDicomObject, tag: Tag, width: usize) -> Option<Vec<f64>> {
    let element = ds.element_opt(tag).ok()??;
    let values = match element.vr() {
        VR::UN | VR::OB | VR::OW => {
            let bytes = element.to_bytes().ok()?;
            if width > 0 && !bytes.is_empty() && bytes.len() % width == 0 {
                bytes
                    .chunks_exact(width)
                    .map(|c| match width {
                        4 => f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64,
                        _ => f64::from_le_bytes(c.try_into().expect("8 bytes")),
                    })
                    .collect()
            } else {
                String::from_utf8_lossy(&bytes)
                    .split('\\')
                    .filter_map(|v| v.trim_matches(|c: char| c == '\0' || c.is_whitespace()).parse().ok())
                    .collect()
            }
        }
        _ => element.to_multi_float64().ok()?,
    };
    (!values.is_empty() && values.iter().all(|v| v.is_finite())).then_some(values)
}

fn three(values: Option<Vec<f64>>) -> Option<[f64; 3]> {
    values.and_then(|v| v.get(..3).map(|v| [v[0], v[1], v[2]]))
}

/// The standard attributes of `item`: DiffusionBValue (0018,9087) and
/// DiffusionGradientOrientation (0018,9089), directly or in the Diffusion Gradient Direction
/// Sequence (0018,9076); a b-value without a direction is a b=0 image.
pub(super) fn standard(item: &InMemDicomObject) -> Option<Gradient> {
    let b = floats(item, tags::DIFFUSION_B_VALUE, 8)?.first().copied()?;
    let direction = three(floats(item, tags::DIFFUSION_GRADIENT_ORIENTATION, 8)).or_else(|| {
        let nested = item.element_opt(tags::DIFFUSION_GRADIENT_DIRECTION_SEQUENCE).ok()??.items()?.first()?;
        three(floats(nested, tags::DIFFUSION_GRADIENT_ORIENTATION, 8))
    });
    Some(Gradient { b, direction: direction.unwrap_or([0.0; 3]), axes: Axes::Patient })
}

/// Siemens: the CSA image header's B_value and DiffusionGradientDirection, else the private
/// (0019,100C) b-value and (0019,100E) direction.
fn siemens(ds: &InMemDicomObject) -> Option<Gradient> {
    let header = csa::image_header(ds);
    let from_csa = |name| {
        let values = csa::values(header.as_deref()?, name)?;
        Some(values.iter().filter_map(|v| v.parse::<f64>().ok()).collect::<Vec<_>>())
    };
    let b = from_csa("B_value")
        .and_then(|v| v.first().copied())
        .or_else(|| floats(ds, Tag(0x0019, 0x100C), 0)?.first().copied())?;
    let direction = three(from_csa("DiffusionGradientDirection")).or_else(|| three(floats(ds, Tag(0x0019, 0x100E), 8)));
    Some(Gradient { b: b.max(0.0), direction: direction.unwrap_or([0.0; 3]), axes: Axes::Patient })
}

/// GE: the b-value is the first value of (0043,1039), stored with 10⁹ added by some
/// releases; the directions (0019,10BB/BC/BD) are relative to the image.
fn ge(ds: &InMemDicomObject) -> Option<Gradient> {
    let mut b = floats(ds, Tag(0x0043, 0x1039), 0)?.first().copied()?;
    if b >= 1e9 {
        b -= 1e9;
    }
    let axis = |element| floats(ds, Tag(0x0019, element), 0).and_then(|v| v.first().copied());
    let direction = [axis(0x10BB)?, axis(0x10BC)?, axis(0x10BD)?];
    Some(Gradient { b, direction, axes: Axes::GeImage })
}

/// Philips: (2001,1003) b-value and (2005,10B0/B1/B2) direction, float32 each.
fn philips(ds: &InMemDicomObject) -> Option<Gradient> {
    let b = floats(ds, Tag(0x2001, 0x1003), 4)?.first().copied()?;
    let axis = |element| floats(ds, Tag(0x2005, element), 4).and_then(|v| v.first().copied());
    let direction = [axis(0x10B0), axis(0x10B1), axis(0x10B2)];
    let direction = match direction {
        [Some(x), Some(y), Some(z)] => [x, y, z],
        _ => [0.0; 3],
    };
    Some(Gradient { b, direction, axes: Axes::Patient })
}

/// The gradient of a single-frame image `ds`, by its manufacturer, as dcm2niix reads it.
pub(super) fn of_image(ds: &InMemDicomObject, manufacturer: &str) -> Option<Gradient> {
    let maker = manufacturer.to_ascii_lowercase();
    if maker.contains("ge ") || maker.starts_with("ge") {
        return ge(ds).or_else(|| standard(ds));
    }
    if maker.contains("siemens") {
        return siemens(ds).or_else(|| standard(ds));
    }
    if maker.contains("philips") {
        return standard(ds).or_else(|| philips(ds));
    }
    standard(ds)
}

/// `v` without a negative zero.
fn unsigned_zero(v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

impl Gradient {
    /// A patient-frame direction in the voxel frame (Siemens, Philips, standard): components
    /// along the row, column and normal, normalised, y flipped for the bottom-up rows (and
    /// again for a mosaic against its normal). b=0 or a zero vector stays as read.
    fn patient_to_voxels(self, frame: &Frame) -> [f64; 3] {
        let v = self.direction;
        if self.b <= EPSILON || dot(v, v).sqrt() <= EPSILON {
            return v;
        }
        let o = frame.orientation;
        let (read, phase) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
        let slice = normalise(cross(read, phase));
        let turned = normalise([dot(v, read), dot(v, phase), dot(v, slice)]);
        let y = if frame.mosaic_flipped { turned[1] } else { -turned[1] };
        [turned[0], y, turned[2]].map(unsigned_zero)
    }

    /// A GE image-relative direction in the voxel frame, with dcm2niix's swaps and flips
    /// (after dicm2nii): b=0 or a zero vector is written as zeros.
    fn ge_to_voxels(self, frame: &Frame) -> [f64; 3] {
        let mut v = self.direction;
        if self.b <= EPSILON || dot(v, v).sqrt() <= EPSILON {
            return [0.0; 3];
        }
        if !frame.phase_columns {
            v = [v[1], -v[0], v[2]];
        }
        let o = frame.orientation;
        let normal = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]).map(f64::abs);
        let axis = (0..3).fold(0, |best, i| if normal[i] > normal[best] { i } else { best });
        let mut flip = match axis {
            0 => [true, true, false],
            1 => [false, true, true],
            _ => [false, false, true],
        };
        if frame.descending {
            flip[2] = !flip[2];
        }
        for i in 0..3 {
            if flip[i] {
                v[i] = -v[i];
            }
        }
        v[1] = -v[1];
        v.map(|x| unsigned_zero(-x))
    }
}

/// GE's b-value scaled by the squared length of a shortened direction (rounded to 5, at
/// least 5), the direction lengthened to match; as dcm2niix does for lengths in 0.03–0.97.
fn ge_scaled(g: Gradient) -> Gradient {
    let length = dot(g.direction, g.direction).sqrt();
    if g.axes != Axes::GeImage || g.b <= EPSILON || !(0.03..0.97).contains(&length) {
        return g;
    }
    let scaled = g.b * length * length;
    let b = if scaled > 0.0 && scaled < 5.0 { 5.0 } else { ((scaled + 2.5) / 5.0).floor() * 5.0 };
    let factor = if b == 0.0 { 0.0 } else { (g.b / b).sqrt() };
    Gradient { b, direction: g.direction.map(|v| v * factor), ..g }
}

impl Table {
    /// The `.bval`/`.bvec` of a volume whose time points have `gradients` (`None`: not
    /// read), or `None` where dcm2niix writes none: fewer than two time points, none read,
    /// or a single b-value with directions that do not vary.
    pub(super) fn of(gradients: &[Option<Gradient>], frame: &Frame) -> Option<Table> {
        if gradients.len() < 2 || gradients.iter().all(Option::is_none) {
            return None;
        }
        let zero = Gradient { b: 0.0, direction: [0.0; 3], axes: Axes::Patient };
        let mut read: Vec<Gradient> = gradients.iter().map(|g| g.unwrap_or(zero)).collect();
        for g in &mut read {
            // GE: a b-value with a zero direction is a b=0 image (dcm2niix's issue 245).
            if g.axes == Axes::GeImage && g.b > 0.0 && g.direction == [0.0; 3] {
                g.b = 0.0;
            }
        }
        let first = read[0];
        let b_varies = read.iter().any(|g| g.b != first.b)
            || read.iter().map(|g| g.b).fold(f64::INFINITY, f64::min) > 50.0
            || first.direction != [0.0; 3];
        if !b_varies {
            if read.iter().all(|g| g.direction == first.direction) {
                return None;
            }
            read.iter_mut().filter(|g| g.direction == [0.0; 3]).for_each(|g| g.b = 0.0);
        }
        let read: Vec<Gradient> = read.into_iter().map(ge_scaled).collect();
        let vectors = read
            .iter()
            .map(|g| match g.axes {
                Axes::Patient => g.patient_to_voxels(frame),
                Axes::GeImage => g.ge_to_voxels(frame),
            })
            .collect();
        Some(Table { b: read.iter().map(|g| g.b).collect(), vectors })
    }

    /// What the review says of the gradients: the distinct b-values (whole s/mm²) and the
    /// number of distinct directions among the diffusion-weighted time points.
    pub fn shells(&self) -> super::summary::Diffusion {
        let mut b_values: Vec<f64> = self.b.iter().map(|b| b.round()).collect();
        b_values.sort_by(f64::total_cmp);
        b_values.dedup();
        let mut directions: Vec<[i64; 3]> = self
            .b
            .iter()
            .zip(&self.vectors)
            .filter(|(b, v)| **b > EPSILON && v.iter().any(|x| x.abs() > EPSILON))
            .map(|(_, v)| v.map(|x| (x * 1000.0).round() as i64))
            .collect();
        directions.sort();
        directions.dedup();
        super::summary::Diffusion { directions: directions.len(), b_values }
    }

    /// The texts dcm2niix writes: one line of b-values; x, y and z lines of the directions.
    pub fn texts(&self) -> GradientTexts {
        let line = |values: Vec<f64>| values.into_iter().map(format_g).collect::<Vec<_>>().join(" ") + "\n";
        let bvec = (0..3).map(|i| line(self.vectors.iter().map(|v| v[i]).collect())).collect();
        GradientTexts { bval: line(self.b.clone()), bvec }
    }
}

/// `v` as C's `%g` prints a float32: 6 significant digits, trailing zeros dropped,
/// exponent form below 1e-4 or from 1e6.
pub(super) fn format_g(v: f64) -> String {
    let v = v as f32 as f64;
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let scientific = format!("{v:.5e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let trim = |s: &str| -> String {
        match s.contains('.') {
            true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => s.to_string(),
        }
    };
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exponent.abs());
    }
    trim(&format!("{v:.*}", (5 - exponent) as usize))
}

/// `v` rounded as `%g` prints it (for the sidecar's numbers).
pub(super) fn round_g(v: f64) -> f64 {
    format_g(v).parse().unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axial() -> Frame {
        Frame { orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], phase_columns: true, descending: false, mosaic_flipped: false }
    }

    /// `%g` as C prints a float32.
    #[test]
    fn numbers_print_as_percent_g() {
        assert_eq!(format_g(1000.0), "1000");
        assert_eq!(format_g(0.001), "0.001");
        assert_eq!(format_g(-0.4923549890518188), "-0.492355");
        assert_eq!(format_g(0.0015999900000000001), "0.00159999");
        assert_eq!(format_g(2.666666666), "2.66667");
        assert_eq!(format_g(0.00001), "1e-05");
        assert_eq!(format_g(-0.0), "0");
    }

    /// A patient-frame direction on an axial image: x kept, y flipped (rows bottom-up), z kept.
    #[test]
    fn patient_directions_turn_into_voxels() {
        let g = Gradient { b: 1000.0, direction: [0.6, 0.8, 0.0], axes: Axes::Patient };
        let v = g.patient_to_voxels(&axial());
        assert!((v[0] - 0.6).abs() < 1e-12 && (v[1] + 0.8).abs() < 1e-12 && v[2] == 0.0);
        // A coronal image (rows along x, columns along -z): the normal is +y.
        let coronal = Frame { orientation: [1.0, 0.0, 0.0, 0.0, 0.0, -1.0], ..axial() };
        let g = Gradient { b: 1000.0, direction: [0.0, 0.0, 1.0], axes: Axes::Patient };
        assert_eq!(g.patient_to_voxels(&coronal), [0.0, 1.0, 0.0]);
        // b=0: the direction as read.
        let g = Gradient { b: 0.0, direction: [0.1, 0.2, 0.3], axes: Axes::Patient };
        assert_eq!(g.patient_to_voxels(&axial()), [0.1, 0.2, 0.3]);
    }

    /// GE's first diffusion direction of dcm_qa's ge series 1 (axial, phase along columns):
    /// dcm2niix writes (-0.492355, 0.844098, -0.212332).
    #[test]
    fn ge_directions_follow_dcm2niix() {
        let g = Gradient { b: 1000.0, direction: [0.492355, 0.844098, -0.212332], axes: Axes::GeImage };
        let v = g.ge_to_voxels(&axial());
        assert_eq!(v.map(format_g), ["-0.492355", "0.844098", "-0.212332"]);
    }

    /// GE's b-value offset of 10⁹, and the b-value of a shortened direction.
    #[test]
    fn ge_b_values_lose_their_offset_and_scale() {
        use dicom_core::{DataElement, PrimitiveValue};
        let mut ds = InMemDicomObject::new_empty();
        let b = ["1000001000", "8", "0", "0"].map(String::from);
        ds.put(DataElement::new(Tag(0x0043, 0x1039), VR::IS, PrimitiveValue::Strs(b.into_iter().collect())));
        for (element, v) in [(0x10BB, "1"), (0x10BC, "0"), (0x10BD, "0")] {
            ds.put(DataElement::new(Tag(0x0019, element), VR::DS, PrimitiveValue::from(v)));
        }
        let g = ge(&ds).expect("read");
        assert_eq!(g.b, 1000.0);
        let short = ge_scaled(Gradient { direction: [0.5, 0.0, 0.0], ..g });
        assert_eq!(short.b, 250.0);
        assert!((short.direction[0] - 1.0).abs() < 1e-12);
    }

    /// b=0 and no direction throughout: no files, as dcm2niix (a constant b above 50 is
    /// written: an isotropic series).
    #[test]
    fn a_constant_series_has_no_table() {
        let g = Some(Gradient { b: 0.0, direction: [0.0; 3], axes: Axes::Patient });
        assert_eq!(Table::of(&[g, g, g], &axial()), None);
        let trace = Some(Gradient { b: 1000.0, ..g.expect("set") });
        assert_eq!(Table::of(&[trace, trace], &axial()).expect("written").texts().bval, "1000 1000\n");
        let b0 = Some(Gradient { b: 0.0, direction: [0.0; 3], axes: Axes::Patient });
        let x = Some(Gradient { b: 1000.0, direction: [1.0, 0.0, 0.0], axes: Axes::Patient });
        let texts = Table::of(&[b0, x, x], &axial()).expect("a table").texts();
        assert_eq!(texts.bval, "0 1000 1000\n");
        assert_eq!(texts.bvec, "0 1 1\n0 0 0\n0 0 0\n");
    }

    /// The review counts distinct directions among the weighted points and lists the shells.
    #[test]
    fn the_review_counts_directions_and_shells() {
        let at = |b: f64, direction: [f64; 3]| Some(Gradient { b, direction, axes: Axes::Patient });
        let points = [at(0.0, [0.0; 3]), at(1000.0, [1.0, 0.0, 0.0]), at(1000.0, [0.0, 1.0, 0.0]), at(2000.0, [1.0, 0.0, 0.0])];
        let shells = Table::of(&points, &axial()).expect("a table").shells();
        assert_eq!(shells.directions, 2);
        assert_eq!(shells.b_values, [0.0, 1000.0, 2000.0]);
    }
}
