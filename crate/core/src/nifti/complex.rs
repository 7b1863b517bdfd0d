//! Whether an image holds magnitude, phase, real or imaginary values, as dcm2niix reads it:
//! the enhanced ComplexImageComponent (top level or in the first functional group that has
//! it), GE's private image type (0043,102F: 0 to 3), else ImageType's words (`M`, `P`, or a
//! whole word). One reading for the file-name suffix (`_ph`, `_real`, `_imaginary`) and the
//! word that ends the sidecar's ImageType.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicom::{in_functional_groups, number, text};

/// GE's image type (0043,102F, "GEMS_PARM_01"): 0 magnitude, 1 phase, 2 real, 3 imaginary.
const GE_IMAGE_TYPE: Tag = Tag(0x0043, 0x102F);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Complex {
    Magnitude,
    Phase,
    Real,
    Imaginary,
}

const ALL: [Complex; 4] = [Complex::Magnitude, Complex::Phase, Complex::Real, Complex::Imaginary];

impl Complex {
    /// The word dcm2niix appends to ImageType.
    pub(super) fn word(self) -> &'static str {
        match self {
            Complex::Magnitude => "MAGNITUDE",
            Complex::Phase => "PHASE",
            Complex::Real => "REAL",
            Complex::Imaginary => "IMAGINARY",
        }
    }

    /// dcm2niix's file-name suffix (none for magnitude).
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Complex::Magnitude => "",
            Complex::Phase => "_ph",
            Complex::Real => "_real",
            Complex::Imaginary => "_imaginary",
        }
    }

    /// The kind of image `ds`, when it says. ImageType's single letters are read for
    /// magnitude and phase only (`M`, `P`): an `R` or `I` there names other things too.
    pub(super) fn of(ds: &InMemDicomObject) -> Option<Complex> {
        let word = |w: &str| ALL.into_iter().find(|k| w.trim().eq_ignore_ascii_case(k.word()));
        if let Some(kind) = component(ds).and_then(|c| word(&c)) {
            return Some(kind);
        }
        let ge = text(ds, tags::MANUFACTURER).is_some_and(|m| m.trim().to_ascii_uppercase().starts_with("GE"));
        if let Some(n) = ge.then(|| number(ds, GE_IMAGE_TYPE)).flatten() {
            return ALL.get(n as usize).copied();
        }
        let image_type = text(ds, tags::IMAGE_TYPE).unwrap_or_default().to_ascii_uppercase();
        let words: Vec<&str> = image_type.split(['\\', '_']).map(str::trim).collect();
        let letter = |w: &str| match w {
            "M" => Some(Complex::Magnitude),
            "P" => Some(Complex::Phase),
            _ => None,
        };
        words.iter().find_map(|w| word(w).or_else(|| letter(w)))
    }
}

/// ComplexImageComponent at the top level, else in the functional groups.
fn component(ds: &InMemDicomObject) -> Option<String> {
    text(ds, tags::COMPLEX_IMAGE_COMPONENT)
        .or_else(|| in_functional_groups(ds, |item| text(item, tags::COMPLEX_IMAGE_COMPONENT)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    fn image(image_type: &str, manufacturer: &str) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::from(image_type)),
            DataElement::new(tags::MANUFACTURER, VR::LO, PrimitiveValue::from(manufacturer)),
        ])
    }

    /// ImageType's letters M and P and whole words; ComplexImageComponent first; GE's code.
    #[test]
    fn kinds_as_dcm2niix_reads_them() {
        assert_eq!(Complex::of(&image("ORIGINAL\\PRIMARY\\M\\ND", "SIEMENS")), Some(Complex::Magnitude));
        assert_eq!(Complex::of(&image("ORIGINAL\\PRIMARY\\P\\ND", "SIEMENS")), Some(Complex::Phase));
        assert_eq!(Complex::of(&image("ORIGINAL\\PRIMARY\\REAL", "SIEMENS")), Some(Complex::Real));
        assert_eq!(Complex::of(&image("ORIGINAL\\PRIMARY\\R_FFE", "Philips")), None);
        let mut ds = image("ORIGINAL\\PRIMARY\\M", "SIEMENS");
        ds.put(DataElement::new(tags::COMPLEX_IMAGE_COMPONENT, VR::CS, PrimitiveValue::from("IMAGINARY")));
        assert_eq!(Complex::of(&ds).map(Complex::suffix), Some("_imaginary"));
        let mut ge = image("ORIGINAL\\PRIMARY\\OTHER", "GE MEDICAL SYSTEMS");
        ge.put(DataElement::new(GE_IMAGE_TYPE, VR::SS, PrimitiveValue::from(1_i16)));
        assert_eq!(Complex::of(&ge), Some(Complex::Phase));
    }
}
