//! Reading attributes of a data set as text and numbers: the one accessor of the core.

use std::borrow::Cow;

use dicom_core::{Tag, VR};
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

/// A text attribute of the top-level data set, without DICOM padding; `None` when absent or empty.
/// A value written as UN (PS3.5 6.2.2) is its text's bytes (UTF-8, else Latin-1): read as a
/// list of numbers, a PatientID written so got another research ID than the same one as LO.
pub fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = object.element_opt(tag).ok()??;
    let value = if element.vr() == VR::UN {
        let bytes = element.to_bytes().ok()?;
        String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| bytes.iter().map(|&b| b as char).collect()).into()
    } else {
        element.to_str().ok()?
    };
    let trimmed = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// An attribute read with the VR the dictionary gives it when the file has it as UN (as
/// some converters write standard attributes; dcm2niix reads them too).
pub fn element(ds: &InMemDicomObject, tag: Tag) -> Option<Cow<'_, InMemElement>> {
    let element = ds.element_opt(tag).ok()??;
    Some(match element.vr() {
        VR::UN => Cow::Owned(super::reinterpret_un(element.clone())),
        _ => Cow::Borrowed(element),
    })
}

/// A numeric attribute's values (text or binary, UN read as its dictionary VR) as `f64`s.
pub fn numbers(ds: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    element(ds, tag)?.to_multi_float64().ok()
}

/// A numeric attribute's first value, when finite.
pub fn number(ds: &InMemDicomObject, tag: Tag) -> Option<f64> {
    numbers(ds, tag)?.first().copied().filter(|v| v.is_finite())
}


/// The first value `find` gives in an enhanced image's functional groups (PS3.3 C.7.6.16): in
/// the first item of each standard (even-group) sequence of the shared item, else of the first
/// frame's item.
pub fn in_functional_groups<T>(ds: &InMemDicomObject, find: impl FnMut(&InMemDicomObject) -> Option<T>) -> Option<T> {
    use dicom_core::header::Header as _;
    use dicom_dictionary_std::tags;
    [tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE]
        .into_iter()
        .filter_map(|sequence| ds.element_opt(sequence).ok().flatten()?.items()?.first())
        .flat_map(|item| item.iter())
        .filter(|group| group.tag().group() % 2 == 0)
        .filter_map(|group| group.items()?.first())
        .find_map(find)
}
