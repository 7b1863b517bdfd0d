//! Attribute access for the NIfTI export: values read with the dictionary's VR when a
//! file has them as UN.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

/// An attribute read with the VR the dictionary gives it when the file has it as UN (as
/// some converters write standard attributes; dcm2niix reads them too).
pub(crate) fn element(ds: &InMemDicomObject, tag: Tag) -> Option<std::borrow::Cow<'_, dicom_object::mem::InMemElement>> {
    use std::borrow::Cow;
    let element = ds.element_opt(tag).ok()??;
    Some(match element.vr() {
        dicom_core::VR::UN => Cow::Owned(crate::profile::reinterpret_un(element.clone())),
        _ => Cow::Borrowed(element),
    })
}

/// A text attribute, trimmed; `None` when absent or empty.
pub(crate) fn text(ds: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = element(ds, tag)?;
    let value = element.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A numeric attribute's values (text or binary).
pub(crate) fn numbers(ds: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    element(ds, tag)?.to_multi_float64().ok()
}

/// A numeric attribute's first value, when finite.
pub(crate) fn number(ds: &InMemDicomObject, tag: Tag) -> Option<f64> {
    numbers(ds, tag)?.first().copied().filter(|v| v.is_finite())
}
