//! One DICOM instance: recognising and parsing its bytes, and the few attributes
//! that decide where it goes in the export tree.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};

use crate::error::{with_sources, FileError};

/// A parsed DICOM file: file meta group and data set.
pub type Object = FileDicomObject<InMemDicomObject>;

/// Media Storage Directory Storage: the SOP class of a DICOMDIR.
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Where the `DICM` marker stands, if anywhere: after the 128-byte preamble
/// (PS3.10 7.1) or, for files written without a preamble, at the start.
fn dicm_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Some(128)
    } else if bytes.starts_with(b"DICM") {
        Some(0)
    } else {
        None
    }
}

/// Whether the bytes look like a DICOM file (cheap: the marker only).
pub fn is_dicom(bytes: &[u8]) -> bool {
    dicm_offset(bytes).is_some()
}

/// Parses a DICOM file. With `header_only`, stops before Pixel Data: enough to plan
/// the export without copying the image.
pub fn parse(bytes: &[u8], header_only: bool) -> Result<Object, FileError> {
    let offset = dicm_offset(bytes).ok_or(FileError::NotDicom)?;
    check_lengths(&bytes[offset + 4..]).map_err(FileError::Corrupt)?;
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if header_only {
        options = options.read_until(tags::PIXEL_DATA);
    }
    let object = options.from_reader(&bytes[offset..]).map_err(|e| {
        let text = with_sources(&e);
        match unsupported_ts(&text) {
            Some(uid) => FileError::UnsupportedTransferSyntax(uid),
            None => FileError::Corrupt(text),
        }
    })?;
    if object.meta().media_storage_sop_class_uid().trim_end_matches('\0') == DICOMDIR_SOP_CLASS {
        return Err(FileError::Dicomdir);
    }
    Ok(object)
}

const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";

/// Walks the element headers after the `DICM` marker and checks that every declared
/// length fits in the bytes that remain. The parser would otherwise reserve (and zero)
/// whatever a corrupt header claims, e.g. 4 GB for a 200-byte file. The walk is flat
/// (items and sequence contents are read in line), so nesting costs no stack.
fn check_lengths(data: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let mut transfer_syntax = String::new();
    // The meta group is always explicit VR little endian.
    while data.len() >= pos + 8 && u16::from_le_bytes([data[pos], data[pos + 1]]) == 0x0002 {
        let (tag, length, header) = element_header(&data[pos..], true, false).ok_or("truncated file meta group")?;
        let start = pos + header;
        if length > data.len() - start {
            return Err(format!("element {tag} claims {length} bytes, only {} remain", data.len() - start));
        }
        if tag == "(0002,0010)" {
            transfer_syntax = String::from_utf8_lossy(&data[start..start + length]).trim_end_matches(['\0', ' ']).to_string();
        }
        pos = start + length;
    }
    let (explicit, big_endian) = match transfer_syntax.as_str() {
        IMPLICIT_VR_LE => (false, false),
        EXPLICIT_VR_BE => (true, true),
        DEFLATED_EXPLICIT_VR_LE => return Ok(()), // compressed: lengths are checked as it inflates
        _ => (true, false),
    };
    let mut in_fragments = false;
    while pos < data.len() {
        let (tag, length, header) = element_header(&data[pos..], explicit, big_endian)
            .ok_or_else(|| format!("truncated element header at byte {}", pos + 132))?;
        pos += header;
        let remaining = data.len() - pos;
        if length == UNDEFINED {
            in_fragments = tag == "(7FE0,0010)";
            continue; // its items follow in line
        }
        if length > remaining {
            return Err(format!("element {tag} claims {length} bytes, only {remaining} remain"));
        }
        match tag.as_str() {
            "(FFFE,E0DD)" => in_fragments = false,
            // A sequence item's content is a data set: read in line; a fragment is opaque.
            "(FFFE,E000)" if !in_fragments => {}
            _ if !explicit || !is_sequence_header(&data[pos - header..pos]) => pos += length,
            _ => {}
        }
    }
    Ok(())
}

const UNDEFINED: usize = 0xFFFF_FFFF;

/// Tag (as text, for messages), value length and header size of the element at `b`.
fn element_header(b: &[u8], explicit: bool, big_endian: bool) -> Option<(String, usize, usize)> {
    let u16_at = |i: usize| if big_endian { u16::from_be_bytes([b[i], b[i + 1]]) } else { u16::from_le_bytes([b[i], b[i + 1]]) };
    let u32_at = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        (if big_endian { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) }) as usize
    };
    if b.len() < 8 {
        return None;
    }
    let (group, element) = (u16_at(0), u16_at(2));
    let tag = format!("({group:04X},{element:04X})");
    if group == 0xFFFE || !explicit {
        return Some((tag, u32_at(4), 8));
    }
    match &b[4..6] {
        b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV" => {
            (b.len() >= 12).then(|| (tag, u32_at(8), 12))
        }
        _ => Some((tag, u16_at(6) as usize, 8)),
    }
}

/// Whether an explicit VR header is a sequence's: its items are read in line.
fn is_sequence_header(header: &[u8]) -> bool {
    header.len() == 12 && &header[4..6] == b"SQ"
}

/// dicom-rs reports an unknown transfer syntax as a message with the UID in it.
fn unsupported_ts(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if !lower.contains("transfer syntax") || !(lower.contains("unsupported") || lower.contains("unknown")) {
        return None;
    }
    message
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.contains('.') && w.len() > 4 && w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .or_else(|| Some("(not named by the file)".to_string()))
}

/// A text attribute of the top-level data set, without DICOM padding; `None` when absent or empty.
pub fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = object.element_opt(tag).ok()??;
    let value = element.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Numeric multi-valued attribute (DS, IS, FD...) as `f64`s.
fn numbers(object: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let element = object.element_opt(tag).ok()??;
    element.to_multi_float64().ok()
}

/// What the export plan needs to know of one instance.
#[derive(Debug, Clone, PartialEq)]
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
    /// Position of the slice along its normal (ImagePositionPatient · normal of
    /// ImageOrientationPatient): the order of slices in space.
    pub slice_position: Option<f64>,
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
            slice_position: slice_position(ds),
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

/// Why an instance should not be exported without the user's explicit opt-in: SOP classes
/// whose pixels usually carry identifying text or whose content is a document.
pub fn risky_sop_class(sop_class: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("1.2.840.10008.5.1.4.1.1.7", "secondary capture (screenshots often show patient details)"),
        ("1.2.840.10008.5.1.4.1.1.6.", "ultrasound (patient details are usually burned into the image)"),
        ("1.2.840.10008.5.1.4.1.1.3.1", "ultrasound multi-frame (patient details are usually burned into the image)"),
        ("1.2.840.10008.5.1.4.1.1.104.", "encapsulated document (PDF, CDA...)"),
        ("1.2.840.10008.5.1.4.1.1.77.1.", "visible light photograph or video"),
        ("1.2.840.10008.5.1.4.1.1.88.", "structured report (free-text content)"),
    ];
    PREFIXES.iter().find(|(p, _)| sop_class == p.trim_end_matches('.') || sop_class.starts_with(p)).map(|(_, why)| *why)
}
