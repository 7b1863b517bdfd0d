//! De-identification of one DICOM instance: what is removed, emptied, replaced or kept.
//!
//! The walk is recursive: the same rules apply at every depth of every sequence, and
//! every UID is remapped through the keyed [`Keyring::uid`], so references between
//! instances of one export stay valid while no original UID survives.

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::header::Header;
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use crate::error::{with_sources, FileError};
use crate::instance::Object;
use crate::pseudonym::Keyring;

type Element = dicom_object::mem::InMemElement;

/// The name of this tool as written into DeidentificationMethod.
pub const TOOL: &str = concat!("mip-data-capture ", env!("CARGO_PKG_VERSION"));

/// Our implementation class UID (PS3.7 D.3.3.2), a fixed 2.25 UUID-derived UID.
const IMPLEMENTATION_CLASS_UID: &str = "2.25.158473011964731259740371815082632193842";
const IMPLEMENTATION_VERSION_NAME: &str = concat!("CAPTURE_", env!("CARGO_PKG_VERSION_MAJOR"), "_", env!("CARGO_PKG_VERSION_MINOR"));

/// UIDs defined by the standard (SOP classes, transfer syntaxes, coding schemes...)
/// identify nobody and must be kept for the file to stay readable.
const STANDARD_UID_ROOT: &str = "1.2.840.10008.";

/// Sequences are this deep at most in real files; deeper is hostile input.
const MAX_DEPTH: usize = 64;

/// What is known of the instance's patient and visit when it is de-identified.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub keyring: &'a Keyring,
    /// Research patient ID: replaces PatientID and PatientName.
    pub patient: &'a str,
    /// scan_research_id of the visit: goes into StudyID.
    pub visit: &'a str,
}

/// What happens to one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Keep,
    Remove,
    /// Replace with a zero-length value.
    Empty,
    /// Replace with the research patient ID.
    Patient,
    /// Replace with the visit's research ID.
    Visit,
    /// Replace every UID value with its keyed pseudonym.
    Uid,
}

/// Attributes that directly identify a patient, a visit or the staff who met them
/// (the core of PS3.15 Table E.1-1); the rest of the table lands with the full profile.
#[allow(deprecated)] // retired attributes identify people just as well
fn action(tag: Tag, vr: VR) -> Action {
    match tag {
        tags::PATIENT_NAME | tags::PATIENT_ID => Action::Patient,
        tags::STUDY_ID => Action::Visit,
        tags::ACCESSION_NUMBER
        | tags::REFERRING_PHYSICIAN_NAME
        | tags::STUDY_DATE
        | tags::STUDY_TIME
        | tags::PATIENT_BIRTH_DATE
        | tags::PATIENT_SEX => Action::Empty,
        tags::OTHER_PATIENT_I_DS
        | tags::OTHER_PATIENT_NAMES
        | tags::OTHER_PATIENT_I_DS_SEQUENCE
        | tags::PATIENT_BIRTH_NAME
        | tags::PATIENT_MOTHER_BIRTH_NAME
        | tags::PATIENT_ADDRESS
        | tags::PATIENT_TELEPHONE_NUMBERS
        | tags::PATIENT_COMMENTS
        | tags::INSTITUTION_NAME
        | tags::INSTITUTION_ADDRESS
        | tags::INSTITUTIONAL_DEPARTMENT_NAME
        | tags::STATION_NAME
        | tags::PERFORMING_PHYSICIAN_NAME
        | tags::OPERATORS_NAME
        | tags::NAME_OF_PHYSICIANS_READING_STUDY
        | tags::REQUESTING_PHYSICIAN
        | tags::DEVICE_SERIAL_NUMBER
        | tags::NETWORK_ID
        | tags::SERIES_DATE
        | tags::ACQUISITION_DATE
        | tags::CONTENT_DATE
        | tags::SERIES_TIME
        | tags::ACQUISITION_TIME
        | tags::CONTENT_TIME
        | tags::ACQUISITION_DATE_TIME
        | tags::INSTANCE_CREATION_DATE
        | tags::INSTANCE_CREATION_TIME
        | tags::INSTANCE_CREATOR_UID
        | tags::PATIENT_IDENTITY_REMOVED
        | tags::DEIDENTIFICATION_METHOD
        | tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE => Action::Remove,
        // Private attributes may hold anything: none is kept without a safe-private list.
        _ if tag.group() % 2 == 1 => Action::Remove,
        _ if vr == VR::UI => Action::Uid,
        // Opaque bytes that no rule can read (see `reinterpret_un`): removed, never passed on.
        _ if vr == VR::UN => Action::Remove,
        _ => Action::Keep,
    }
}

/// De-identifies a whole file: data set and file meta group.
pub fn deidentify(object: Object, subject: &Subject) -> Result<Object, FileError> {
    let meta = object.meta();
    let transfer_syntax = meta.transfer_syntax().trim_end_matches('\0').to_string();
    // Some files carry their SOP Class and Instance UIDs only in the meta group.
    let meta_class = meta.media_storage_sop_class_uid().trim_end_matches('\0').to_string();
    let meta_instance = subject.keyring.uid(meta.media_storage_sop_instance_uid());
    let dataset = object.into_inner();
    let mut clean = clean_dataset(dataset, subject, 0)?;
    // Always present, even where the source lacked them: the research patient ID is what
    // links the images to the EHR tables.
    clean.put(DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from(subject.patient)));
    clean.put(DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(subject.patient)));
    clean.put(DataElement::new(tags::PATIENT_IDENTITY_REMOVED, VR::CS, PrimitiveValue::from("YES")));
    clean.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::from(format!("{TOOL}: keyed pseudonyms")),
    ));
    let sop_class = crate::instance::text(&clean, tags::SOP_CLASS_UID).unwrap_or(meta_class);
    let sop_instance = crate::instance::text(&clean, tags::SOP_INSTANCE_UID).unwrap_or(meta_instance);
    if sop_class.is_empty() {
        return Err(FileError::Corrupt("no SOP Class UID in the data set or the meta group".into()));
    }
    // The meta group is rebuilt from scratch: the source's AE titles and private
    // meta information could identify the sending hospital.
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
        .build()
        .map_err(|e| FileError::Write(with_sources(&e)))?;
    Ok(clean.with_exact_meta(meta))
}

fn clean_dataset(dataset: InMemDicomObject, subject: &Subject, depth: usize) -> Result<InMemDicomObject, FileError> {
    if depth > MAX_DEPTH {
        return Err(FileError::Corrupt(format!("sequences nested deeper than {MAX_DEPTH} levels")));
    }
    let mut out = Vec::new();
    for element in dataset {
        if let Some(e) = clean_element(element, subject, depth)? {
            out.push(e);
        }
    }
    Ok(InMemDicomObject::from_element_iter(out))
}

fn clean_element(element: Element, subject: &Subject, depth: usize) -> Result<Option<Element>, FileError> {
    let element = if element.vr() == VR::UN { reinterpret_un(element) } else { element };
    let tag = element.tag();
    let vr = element.vr();
    Ok(match action(tag, vr) {
        Action::Remove => None,
        Action::Empty => Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
        Action::Patient => Some(DataElement::new(tag, vr, PrimitiveValue::from(subject.patient))),
        Action::Visit => Some(DataElement::new(tag, vr, PrimitiveValue::from(subject.visit))),
        Action::Uid => Some(remap_uids(element, subject.keyring)),
        Action::Keep => {
            let (header, value) = element.into_parts();
            match value {
                Value::Sequence(seq) => {
                    let items = seq
                        .into_items()
                        .into_iter()
                        .map(|item| clean_dataset(item, subject, depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(DataElement::new(header.tag, header.vr, DataSetSequence::new(items, Length::UNDEFINED)))
                }
                other => Some(DataElement::new(header.tag, header.vr, other)),
            }
        }
    })
}

fn remap_uids(element: Element, keyring: &Keyring) -> Element {
    let tag = element.tag();
    let values: Vec<String> = match element.value() {
        Value::Primitive(p) => p.to_multi_str().iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    };
    let mapped: Vec<String> = values
        .iter()
        .map(|v| v.trim_end_matches(['\0', ' ']))
        .filter(|v| !v.is_empty())
        .map(|v| if v.starts_with(STANDARD_UID_ROOT) { v.to_string() } else { keyring.uid(v) })
        .collect();
    let value = match mapped.len() {
        0 => PrimitiveValue::Empty,
        1 => PrimitiveValue::from(mapped.into_iter().next().unwrap_or_default()),
        _ => PrimitiveValue::Strs(mapped.into()),
    };
    DataElement::new(tag, VR::UI, value)
}

/// Some converters write standard attributes with VR UN (PS3.5 6.2.2): their value is
/// then opaque bytes, which would escape the text and UID rules. They are read again
/// with the VR the data dictionary gives, so the rules see (and replace) their values.
fn reinterpret_un(element: Element) -> Element {
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
    Ok(out)
}
