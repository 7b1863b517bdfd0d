//! Where each frame of an image lies in the patient (PS3.3 C.7.6.2 and, for enhanced images,
//! the Plane Position, Plane Orientation and Pixel Measures functional groups).

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::attr::numbers;

/// One frame's plane, in patient coordinates (LPS, mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// ImagePositionPatient: the centre of the first pixel.
    pub position: [f64; 3],
    /// ImageOrientationPatient: the row direction (along a row), then the column direction.
    pub orientation: [f64; 6],
    /// PixelSpacing: between rows, then between columns.
    pub spacing: [f64; 2],
}

impl Plane {
    /// Pixel (column, row) → its centre, LPS mm.
    pub fn point(&self, column: f64, row: f64) -> [f64; 3] {
        let [dr, dc] = self.spacing;
        let o = &self.orientation;
        std::array::from_fn(|a| self.position[a] + column * dc * o[a] + row * dr * o[3 + a])
    }
}

/// The plane of each of `frames` frames: the top-level attributes of a single-frame image,
/// else each frame's functional group (its own item first, then the shared one); `None` when
/// one frame's position, orientation or spacing is missing.
pub fn frame_planes(ds: &InMemDicomObject, frames: usize) -> Option<Vec<Plane>> {
    let top = plane_of(&[ds]);
    if frames <= 1 && top.is_some() {
        return top.map(|p| vec![p]);
    }
    let first_item = |tag| ds.element_opt(tag).ok().flatten().and_then(|e| e.items()).map(|items| items.to_vec());
    let shared = first_item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|i| i.into_iter().next());
    let per_frame = first_item(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).unwrap_or_default();
    (0..frames)
        .map(|f| {
            let mut groups: Vec<&InMemDicomObject> = per_frame.get(f).into_iter().collect();
            groups.extend(shared.as_ref());
            plane_in_groups(&groups).or(top.filter(|_| frames == 1))
        })
        .collect()
}

/// A plane from the first of `sources` holding each attribute at its top level.
fn plane_of(sources: &[&InMemDicomObject]) -> Option<Plane> {
    let find = |tag, n| sources.iter().find_map(|ds| numbers(ds, tag).filter(|v| v.len() == n));
    plane(find(tags::IMAGE_POSITION_PATIENT, 3)?, find(tags::IMAGE_ORIENTATION_PATIENT, 6)?, find(tags::PIXEL_SPACING, 2)?)
}

/// A plane from functional group items: each attribute in its macro's sequence.
fn plane_in_groups(groups: &[&InMemDicomObject]) -> Option<Plane> {
    let find = |sequence, tag, n| {
        groups.iter().find_map(|g| {
            let item = g.element_opt(sequence).ok().flatten()?.items()?.first()?;
            numbers(item, tag).filter(|v: &Vec<f64>| v.len() == n)
        })
    };
    plane(
        find(tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT, 3)?,
        find(tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT, 6)?,
        find(tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING, 2)?,
    )
}

fn plane(position: Vec<f64>, orientation: Vec<f64>, spacing: Vec<f64>) -> Option<Plane> {
    Some(Plane {
        position: position.try_into().ok()?,
        orientation: orientation.try_into().ok()?,
        spacing: spacing.try_into().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, Length, PrimitiveValue, VR};

    use super::*;

    fn ds(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(elements)
    }

    fn ds_text(tag: dicom_core::Tag, value: &str) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::DS, PrimitiveValue::Strs(value.split('\\').map(String::from).collect()))
    }

    fn sequence(tag: dicom_core::Tag, item: InMemDicomObject) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED))
    }

    /// A classic image: its top-level attributes; pixel (2, 3) lies 2 columns and 3 rows on.
    #[test]
    fn a_classic_image_has_one_plane() {
        let image = ds(vec![
            ds_text(tags::IMAGE_POSITION_PATIENT, "10\\20\\30"),
            ds_text(tags::IMAGE_ORIENTATION_PATIENT, "1\\0\\0\\0\\1\\0"),
            ds_text(tags::PIXEL_SPACING, "0.5\\2"),
        ]);
        let planes = frame_planes(&image, 1).unwrap();
        assert_eq!(planes[0].point(2.0, 3.0), [14.0, 21.5, 30.0]);
    }

    /// An enhanced image: each frame's position from its own item, the orientation and the
    /// spacing from the shared one; a frame without a position gives no planes.
    #[test]
    fn an_enhanced_image_has_a_plane_per_frame() {
        let frame = |z: &str| ds(vec![sequence(tags::PLANE_POSITION_SEQUENCE, ds(vec![ds_text(tags::IMAGE_POSITION_PATIENT, z)]))]);
        let shared = ds(vec![
            sequence(tags::PLANE_ORIENTATION_SEQUENCE, ds(vec![ds_text(tags::IMAGE_ORIENTATION_PATIENT, "0\\1\\0\\0\\0\\-1")])),
            sequence(tags::PIXEL_MEASURES_SEQUENCE, ds(vec![ds_text(tags::PIXEL_SPACING, "1\\1")])),
        ]);
        let items = vec![frame("0\\0\\0"), frame("1\\0\\0")];
        let image = ds(vec![
            sequence(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, shared),
            DataElement::new(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED)),
        ]);
        let planes = frame_planes(&image, 2).unwrap();
        assert_eq!(planes[1].position, [1.0, 0.0, 0.0]);
        assert_eq!(planes[1].point(1.0, 1.0), [1.0, 1.0, -1.0]);
        assert!(frame_planes(&image, 3).is_none());
    }
}
