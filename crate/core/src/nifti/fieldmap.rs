//! Field maps in Hz, as dcm2niix finds them: it names such a volume `_fieldmaphz` and ends
//! its ImageType with `FIELDMAPHZ`. Two forms, measured with dcm2niix 1.0.20260724 on
//! dcm_qa fmap (and on copies edited attribute by attribute):
//! - GE's B0map sequence (InternalPulseSequenceName (0019,109E) exactly `B0map`) stores the
//!   map and the magnitude in one series: when ImagesInAcquisition (0020,1002) differs from
//!   LocationsInAcquisition (0021,104F), the images whose InstanceNumber is at most the
//!   locations (times SliceThickness / SpacingBetweenSlices rounded, when that is above 1)
//!   are the map; the rest the magnitude.
//! - An enhanced frame whose ComplexImageComponent is REAL, of an image whose ImageType
//!   (the image's, or one in the frame's functional groups: Philips' private per-frame item)
//!   holds both `B0` and `MAP` (Philips B0 map, ImageType `…\B0 MAP\B0\…`).
//!
//! The private values are read for the conversion only.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use crate::dicom::{number, text};

/// The last word of a field map's ImageType in dcm2niix's sidecar (in place of MAGNITUDE…).
pub(super) const IMAGE_TYPE: &str = "FIELDMAPHZ";

/// GE's InternalPulseSequenceName (GEMS_ACQU_01).
const GE_SEQUENCE: Tag = Tag(0x0019, 0x109E);
/// GE's LocationsInAcquisition (GEMS_RELA_01, SS): the slices of one volume.
const GE_LOCATIONS: Tag = Tag(0x0021, 0x104F);

/// Whether classic image `ds` is the field map in Hz of a GE B0map series.
pub(super) fn ge_image(ds: &InMemDicomObject) -> bool {
    let ge = text(ds, tags::MANUFACTURER).is_some_and(|m| m.to_ascii_uppercase().starts_with("GE"));
    if !ge || text(ds, GE_SEQUENCE).as_deref() != Some("B0map") {
        return false;
    }
    let (Some(images), Some(locations)) = (number(ds, tags::IMAGES_IN_ACQUISITION), ge_locations(ds)) else {
        return false;
    };
    if images == locations {
        return false;
    }
    let ratio = match (number(ds, tags::SLICE_THICKNESS), number(ds, tags::SPACING_BETWEEN_SLICES)) {
        (Some(thickness), Some(spacing)) if spacing > 0.0 => (thickness / spacing).round(),
        _ => 1.0,
    };
    let limit = if ratio > 1.0 { locations * ratio } else { locations };
    number(ds, tags::INSTANCE_NUMBER).is_some_and(|n| n <= limit)
}

/// LocationsInAcquisition, as SS or (implicit VR) two little-endian bytes.
fn ge_locations(ds: &InMemDicomObject) -> Option<f64> {
    let element = ds.element_opt(GE_LOCATIONS).ok()??;
    match element.vr() {
        VR::UN | VR::OB => {
            let bytes = element.to_bytes().ok()?;
            Some(i16::from_le_bytes(bytes.get(..2)?.try_into().ok()?) as f64)
        }
        _ => number(ds, GE_LOCATIONS),
    }
}

/// Whether the frame of enhanced image `ds` whose per-frame functional groups are `groups`
/// (`component`: its ComplexImageComponent) is a field map in Hz.
pub(super) fn enhanced_frame(ds: &InMemDicomObject, groups: Option<&InMemDicomObject>, component: Option<&str>) -> bool {
    let b0_map = |image_type: &str| image_type.contains("B0") && image_type.contains("MAP");
    component.is_some_and(|c| c.trim().eq_ignore_ascii_case("REAL"))
        && (text(ds, tags::IMAGE_TYPE).is_some_and(|t| b0_map(&t))
            || groups.is_some_and(|g| nested_image_types(g).iter().any(|t| b0_map(t))))
}

/// A field map's sidecar as dcm2niix writes it: `"Units": "Hz"` (before SliceThickness), no
/// EchoTime (a map is made of two).
pub(super) fn sidecar(fields: &mut Vec<(String, Value)>) {
    fields.retain(|(key, _)| key != "EchoTime");
    let at = fields.iter().position(|(key, _)| key == "SliceThickness").unwrap_or(fields.len());
    fields.insert(at, ("Units".into(), Value::String("Hz".into())));
}

/// The ImageType values within `item`'s sequences, depth first.
fn nested_image_types(item: &InMemDicomObject) -> Vec<String> {
    let mut found = Vec::new();
    for element in item.iter() {
        for inner in element.items().unwrap_or(&[]) {
            found.extend(text(inner, tags::IMAGE_TYPE));
            found.extend(nested_image_types(inner));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nifti::{plan, sidecar, Slice, Volume};
    use crate::profile::{Policy, Preset};
    use std::path::PathBuf;

    use super::super::dcm_qa_files as files;

    fn open(path: &PathBuf) -> InMemDicomObject {
        dicom_object::open_file(path).expect("a DICOM file").into_inner()
    }

    /// dcm2niix's `6_CV_Neuro_HH_Adv_fieldmaphz` holds instances 1 to 16 (16 locations of
    /// 32 images; 5 mm slices 9 mm apart); `6_CV_Neuro_HH_Adv` instances 17 to 32.
    #[test]
    fn ge_b0map_first_images_are_the_map() {
        let Some(b0map) = files("fmap/In/GE/6_CV_Neuro") else { return };
        assert_eq!(b0map.len(), 32);
        for path in &b0map {
            let ds = open(path);
            let instance = number(&ds, tags::INSTANCE_NUMBER).unwrap();
            assert_eq!(ge_image(&ds), instance <= 16.0, "{}", path.display());
        }
        // Another GE series: no map.
        let Some(dwi) = files("ge/In/01_Ax_DWI_TENSOR_R2") else { return };
        assert!(!ge_image(&open(&dwi[0])));
    }

    /// Philips' B0 map: its 32 REAL frames (ImageType `B0 MAP` in the private per-frame
    /// item) are dcm2niix's `_e2_fieldmaphz`, its 32 magnitude frames `_e1`.
    #[test]
    fn philips_real_frames_of_a_b0_map_are_the_map() {
        let Some(files) = files("fmap/In/Philips/fmap") else { return };
        let ds = open(&files[0]);
        let per_frame = ds.element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).unwrap().items().unwrap();
        let flags: Vec<bool> = per_frame
            .iter()
            .map(|item| {
                let types = item.element(tags::MR_IMAGE_FRAME_TYPE_SEQUENCE).unwrap().items().unwrap();
                let component = text(&types[0], tags::COMPLEX_IMAGE_COMPONENT);
                enhanced_frame(&ds, Some(item), component.as_deref())
            })
            .collect();
        assert_eq!(flags.len(), 64);
        assert_eq!(flags.iter().filter(|f| **f).count(), 32);
        assert!(!enhanced_frame(&ds, Some(&per_frame[0]), Some("MAGNITUDE")));
    }

    /// What dcm2niix's outputs say of a volume: name suffix, slices, sidecar's ImageType and
    /// Units, and whether the sidecar has an EchoTime.
    #[derive(Debug, PartialEq)]
    struct Described {
        suffix: String,
        slices: usize,
        image_type: Value,
        units: Value,
        echo_time: bool,
    }

    impl Described {
        fn new(suffix: &str, slices: usize, image_type: &[&str], units: Option<&str>, echo_time: bool) -> Described {
            let units = units.map_or(Value::Null, |u| Value::String(u.into()));
            Described { suffix: suffix.into(), slices, image_type: serde_json::json!(image_type), units, echo_time }
        }
    }

    /// The volumes planned from a dcm_qa folder, described, in plan order.
    fn planned(folder: &str) -> Option<Vec<Described>> {
        let objects: Vec<crate::dicom::Object> = files(folder)?
            .iter()
            .map(|p| crate::dicom::parse(&std::fs::read(p).unwrap(), false).expect("a DICOM file"))
            .collect();
        let slices: Vec<Slice> = objects.iter().map(Slice::of).collect();
        let indexed: Vec<(usize, &Slice)> = slices.iter().enumerate().collect();
        let policy = Policy::new(Preset::Basic, &[], None);
        let describe = |v: &Volume| {
            let json = sidecar::json(&objects[v.members[0]], v, &policy);
            let json: serde_json::Map<String, Value> = serde_json::from_slice(&json).expect("JSON");
            Described {
                suffix: v.suffix.clone(),
                slices: v.slices,
                image_type: json["ImageType"].clone(),
                units: json.get("Units").cloned().unwrap_or(Value::Null),
                echo_time: json.contains_key("EchoTime"),
            }
        };
        Some(plan(&indexed).iter().map(describe).collect())
    }

    /// Names, ImageType and Units as in dcm2niix's sidecars of fmap's GE and Philips maps.
    #[test]
    fn maps_are_named_and_described_as_dcm2niix() {
        let Some(mut ge) = planned("fmap/In/GE/6_CV_Neuro") else { return };
        ge.sort_by(|a, b| a.suffix.cmp(&b.suffix));
        let magnitude = ["ORIGINAL", "PRIMARY", "OTHER", "MAGNITUDE"];
        assert_eq!(ge[0], Described::new("", 16, &magnitude, None, true));
        let map = ["ORIGINAL", "PRIMARY", "OTHER", "FIELDMAPHZ"];
        assert_eq!(ge[1], Described::new("_fieldmaphz", 16, &map, Some("Hz"), false));
        let Some(philips) = planned("fmap/In/Philips/fmap") else { return };
        let mixed = ["ORIGINAL", "PRIMARY", "T1", "MIXED"];
        assert_eq!(philips[0], Described::new("_e1", 32, &mixed, None, true));
        let map = ["ORIGINAL", "PRIMARY", "T1", "MIXED", "FIELDMAPHZ"];
        assert_eq!(philips[1], Described::new("_e2_fieldmaphz", 32, &map, Some("Hz"), false));
    }
}
