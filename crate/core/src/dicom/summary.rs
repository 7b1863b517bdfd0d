//! What the export plan needs to know of one instance.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::attr::{numbers, text};
use super::Object;

/// What the export plan needs to know of one instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub patient_id: String,
    pub study_date: Option<String>,
    pub study_uid: String,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub sop_instance_uid: String,
    pub instance_number: Option<i64>,
    pub sop_class: String,
    /// BurnedInAnnotation (0028,0301) is YES: the pixels may show identifying text.
    pub burned_in: bool,
    pub image_type: Vec<String>,
    /// Modality and SeriesDescription, for the review before the export.
    pub modality: Option<String>,
    pub series_description: Option<String>,
    /// Manufacturer, ManufacturerModelName, Rows and Columns: what a pixel rule matches.
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub rows: Option<u32>,
    pub columns: Option<u32>,
    /// Position of the slice along its normal (ImagePositionPatient · normal of
    /// ImageOrientationPatient): the order of slices in space.
    pub slice_position: Option<f64>,
    /// BodyPartExamined: which 3D scans may show a face (Clean Recognizable Visual Features).
    pub body_part: Option<String>,
}

impl Summary {
    pub fn of(object: &Object) -> Summary {
        let ds: &InMemDicomObject = object;
        let integer = |tag| text(ds, tag).and_then(|t| t.parse::<i64>().ok());
        Summary {
            patient_id: text(ds, tags::PATIENT_ID).unwrap_or_default(),
            study_date: text(ds, tags::STUDY_DATE),
            study_uid: text(ds, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
            series_uid: text(ds, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            series_number: integer(tags::SERIES_NUMBER),
            sop_instance_uid: text(ds, tags::SOP_INSTANCE_UID)
                .unwrap_or_else(|| object.meta().media_storage_sop_instance_uid().trim_end_matches('\0').to_string()),
            instance_number: integer(tags::INSTANCE_NUMBER),
            sop_class: text(ds, tags::SOP_CLASS_UID)
                .unwrap_or_else(|| object.meta().media_storage_sop_class_uid().trim_end_matches('\0').to_string()),
            burned_in: text(ds, tags::BURNED_IN_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("YES")),
            image_type: text(ds, tags::IMAGE_TYPE)
                .map(|v| v.split('\\').map(|p| p.trim().to_ascii_uppercase()).collect())
                .unwrap_or_default(),
            modality: text(ds, tags::MODALITY),
            series_description: text(ds, tags::SERIES_DESCRIPTION),
            manufacturer: text(ds, tags::MANUFACTURER),
            model: text(ds, tags::MANUFACTURER_MODEL_NAME),
            rows: integer(tags::ROWS).and_then(|v| u32::try_from(v).ok()),
            columns: integer(tags::COLUMNS).and_then(|v| u32::try_from(v).ok()),
            slice_position: slice_position(ds),
            body_part: text(ds, tags::BODY_PART_EXAMINED),
        }
    }
}

fn slice_position(ds: &InMemDicomObject) -> Option<f64> {
    let position = numbers(ds, tags::IMAGE_POSITION_PATIENT)?;
    let orientation = numbers(ds, tags::IMAGE_ORIENTATION_PATIENT)?;
    if position.len() != 3 || orientation.len() != 6 {
        return None;
    }
    let (r, c) = (&orientation[0..3], &orientation[3..6]);
    let normal = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    Some(position.iter().zip(normal).map(|(p, n)| p * n).sum())
}
