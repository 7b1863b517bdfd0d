//! The cleaned file's attributes (the pixel description of the samples written, Burned In
//! Annotation NO, the Clean Pixel Data method, Explicit VR Little Endian) and the header of
//! its native Pixel Data element, written before the frames one at a time.

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::codec::frame;
use crate::dicom::{self, text, Object};
use crate::error::FileError;

use super::image::Format;

/// The cleaned file's transfer syntax.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// The bytes of a Pixel Data element's tag, VR, reserved bytes and length (explicit VR).
pub const PIXEL_HEADER: usize = 12;

/// Attributes of a palette's tables (and its alpha table), meaningless once its colours are
/// written as RGB.
const PALETTE: [Tag; 14] = [
    Tag(0x0028, 0x1101),
    Tag(0x0028, 0x1102),
    Tag(0x0028, 0x1103),
    Tag(0x0028, 0x1104),
    Tag(0x0028, 0x1111),
    Tag(0x0028, 0x1112),
    Tag(0x0028, 0x1113),
    Tag(0x0028, 0x1199),
    Tag(0x0028, 0x1201),
    Tag(0x0028, 0x1202),
    Tag(0x0028, 0x1203),
    Tag(0x0028, 0x1204),
    Tag(0x0028, 0x1221),
    Tag(0x0028, 0x1222),
];

/// Smallest/largest pixel values (image, series) and the segmented blue table: they describe
/// the stored samples, not RGB converted from YBR or a palette.
const STORED_RANGE: [Tag; 5] = [Tag(0x0028, 0x0106), Tag(0x0028, 0x0107), Tag(0x0028, 0x0108), Tag(0x0028, 0x0109), Tag(0x0028, 0x1223)];

/// Rewrites a de-identified `object`'s pixel description for the samples of `format`'s
/// output, written natively after its attributes (Pixel Data and any element after it are
/// removed), with the meta group's transfer syntax Explicit VR Little Endian, and with
/// `text_removed` (burned-in text blacked out) Burned In Annotation NO. The method (113101,
/// 113102) is recorded by [`record_method`].
pub fn clean_attributes(object: &mut Object, format: &Format, text_removed: bool) -> Result<(), FileError> {
    let out = format.output();
    let class = object.meta().media_storage_sop_class_uid().trim_end_matches('\0').to_string();
    let instance = object.meta().media_storage_sop_instance_uid().trim_end_matches('\0').to_string();
    let ds: &mut InMemDicomObject = object;
    let after: Vec<Tag> = ds.iter().map(|e| e.header().tag).filter(|&t| t >= tags::PIXEL_DATA).collect();
    after.into_iter().for_each(|t| _ = ds.remove_element(t));
    if out.photometric != format.photometric {
        PALETTE.iter().chain(&STORED_RANGE).for_each(|&t| _ = ds.remove_element(t));
    }
    let us = |ds: &mut InMemDicomObject, tag, v: usize| ds.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v as u16)));
    let cs = |ds: &mut InMemDicomObject, tag, v: &str| ds.put(DataElement::new(tag, VR::CS, PrimitiveValue::from(v)));
    us(ds, tags::SAMPLES_PER_PIXEL, out.samples);
    cs(ds, tags::PHOTOMETRIC_INTERPRETATION, out.photometric);
    us(ds, tags::BITS_ALLOCATED, out.bits);
    us(ds, tags::BITS_STORED, out.bits_stored);
    us(ds, tags::HIGH_BIT, out.bits_stored - 1);
    us(ds, tags::PIXEL_REPRESENTATION, usize::from(out.signed));
    match out.samples {
        1 => _ = ds.remove_element(tags::PLANAR_CONFIGURATION),
        _ => _ = us(ds, tags::PLANAR_CONFIGURATION, 0),
    }
    if text_removed {
        cs(ds, tags::BURNED_IN_ANNOTATION, "NO");
    }
    // The samples written are the decoded ones: a lossy source stays marked as such.
    if frame::LOSSY_JPEG.contains(&format.transfer_syntax.as_str()) && text(ds, tags::LOSSY_IMAGE_COMPRESSION).is_none() {
        cs(ds, tags::LOSSY_IMAGE_COMPRESSION, "01");
    }
    *object.meta_mut() = dicom::meta(&class, &instance, EXPLICIT_VR_LE)?;
    Ok(())
}

/// Adds the option's `name` to De-identification Method and its code (value, meaning; CID
/// 7050) to De-identification Method Code Sequence, after the ones the profile wrote.
pub fn record_method(ds: &mut InMemDicomObject, name: &str, code: (&str, &str)) {
    let mut method: Vec<String> = ds
        .element(tags::DEIDENTIFICATION_METHOD)
        .ok()
        .and_then(|e| e.value().to_multi_str().ok().map(|v| v.to_vec()))
        .unwrap_or_default();
    method.push(name.to_string());
    ds.put(DataElement::new(tags::DEIDENTIFICATION_METHOD, VR::LO, PrimitiveValue::Strs(method.into())));
    let mut items: Vec<InMemDicomObject> = match ds.element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE).map(|e| e.value()) {
        Ok(Value::Sequence(s)) => s.items().to_vec(),
        _ => Vec::new(),
    };
    items.push(InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(code.0)),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("DCM")),
        DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(code.1)),
    ]));
    ds.put(DataElement::new(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED)));
}

/// The length of the Pixel Data value of `frames` frames of `frame_len` bytes (even: an odd
/// one gets a pad byte), or `None` past what a defined length can say.
pub fn pixel_length(frames: usize, frame_len: usize) -> Option<u32> {
    let bytes = frames.checked_mul(frame_len)?;
    u32::try_from(bytes + bytes % 2).ok().filter(|&n| n < u32::MAX)
}

/// The Pixel Data element's tag, VR (OB for 8-bit samples, OW for 16-bit), reserved bytes
/// and value length, in explicit VR little endian.
pub fn pixel_header(bits: usize, length: u32) -> [u8; PIXEL_HEADER] {
    let mut out = [0u8; PIXEL_HEADER];
    out[..4].copy_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
    out[4..6].copy_from_slice(if bits == 8 { b"OB" } else { b"OW" });
    out[8..].copy_from_slice(&length.to_le_bytes());
    out
}
