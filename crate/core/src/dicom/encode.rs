//! Writing a data set back: the file meta group this tool writes, the values some
//! converters leave as UN read with their standard VR, and the encoded file checked by
//! reading it back.

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::meta::{FileMetaTable, FileMetaTableBuilder};
use dicom_object::InMemDicomObject;

use super::Object;
use crate::error::{with_sources, FileError};

type Element = dicom_object::mem::InMemElement;

/// Our implementation class UID (PS3.7 D.3.3.2), a fixed UUID-derived 2.25 UID.
const IMPLEMENTATION_CLASS_UID: &str = "2.25.158473011964731259740371815082632193842";
const IMPLEMENTATION_VERSION_NAME: &str =
    concat!("CAPTURE_", env!("CARGO_PKG_VERSION_MAJOR"), "_", env!("CARGO_PKG_VERSION_MINOR"));

/// A file meta group built from scratch: the instance's SOP class and UID, its transfer
/// syntax and this tool's implementation identity, nothing of the source's.
pub fn meta(sop_class: &str, sop_instance: &str, transfer_syntax: &str) -> Result<FileMetaTable, FileError> {
    FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .build()
        .map_err(|e| FileError::Write(with_sources(&e)))
}

/// Some converters write standard attributes with VR UN (PS3.5 6.2.2): their value is
/// then opaque bytes, which would escape the text and UID rules. They are read again
/// with the VR the data dictionary gives, so the rules see (and replace) their values.
pub fn reinterpret_un(element: Element) -> Element {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let tag = element.tag();
    let Some(VirtualVr::Exact(vr)) = StandardDataDictionary.by_tag(tag).map(|e| e.vr()) else {
        return element;
    };
    let Value::Primitive(PrimitiveValue::U8(bytes)) = element.value() else { return element };
    let le = |n: usize| bytes.chunks_exact(n);
    let value = match vr {
        VR::SQ => {
            return match un_sequence_items(bytes) {
                Some(items) => DataElement::new(tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED)),
                None => element,
            }
        }
        VR::AT => PrimitiveValue::Tags(
            le(4).map(|c| Tag(u16::from_le_bytes([c[0], c[1]]), u16::from_le_bytes([c[2], c[3]]))).collect(),
        ),
        VR::AE | VR::AS | VR::CS | VR::DA | VR::DS | VR::DT | VR::IS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST
        | VR::TM | VR::UC | VR::UI | VR::UR | VR::UT => {
            let text: String = bytes.iter().map(|&b| b as char).collect();
            let text = text.trim_end_matches(['\0', ' ']);
            if matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR) {
                PrimitiveValue::from(text.to_string())
            } else {
                PrimitiveValue::Strs(text.split('\\').map(str::to_string).collect())
            }
        }
        VR::US => PrimitiveValue::U16(le(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
        VR::SS => PrimitiveValue::I16(le(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()),
        VR::UL => PrimitiveValue::U32(le(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        VR::SL => PrimitiveValue::I32(le(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        VR::FL => PrimitiveValue::F32(le(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        VR::FD => PrimitiveValue::F64(le(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()),
        _ => return element,
    };
    DataElement::new(tag, vr, value)
}

/// The items of a sequence written as UN: implicit VR little endian, whatever the file's
/// transfer syntax (PS3.5 6.2.2). Only items of defined length are decoded; `None` when the
/// bytes are anything else, and the element is then removed as unreadable.
fn un_sequence_items(bytes: &[u8]) -> Option<Vec<InMemDicomObject>> {
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut items = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 {
        let word = |i: usize| u16::from_le_bytes([rest[i], rest[i + 1]]);
        let length = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        match (word(0), word(2)) {
            (0xFFFE, 0xE0DD) => return Some(items),
            (0xFFFE, 0xE000) if length <= rest.len() - 8 => {
                // The parser recurses once per level: hostile nesting is refused first.
                super::length::check_data_set(&rest[8..8 + length], 0, false, false).ok()?;
                let item = InMemDicomObject::read_dataset_with_ts(&rest[8..8 + length], &ts).ok()?;
                items.push(item);
                rest = &rest[8 + length..];
            }
            _ => return None,
        }
    }
    rest.is_empty().then_some(items)
}

/// Encodes a de-identified object as a DICOM file (preamble, meta group, data set).
pub fn encode(object: &Object) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    object.write_all(&mut out).map_err(|e| FileError::Write(with_sources(&e)))?;
    // Fail safe: a file the writer produced but no reader takes (a value that encodes but
    // does not parse) is not exported.
    super::parse(&out, true)
        .map_err(|e| FileError::Write(format!("the de-identified file does not read back ({e})")))?;
    Ok(out)
}

