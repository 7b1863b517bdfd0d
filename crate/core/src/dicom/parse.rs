//! Recognising a DICOM file (Part 10 with or without preamble, or a raw data set) and
//! parsing it, whole or its header only, after the length walk has vouched for its bytes.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::OpenFileOptions;

use super::length::*;
use super::Object;
use crate::error::{with_sources, FileError};

/// Media Storage Directory Storage: the SOP class of a DICOMDIR.
pub(super) const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Where a DICOM file's parts begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The `DICM` marker stands here: after the 128-byte preamble (PS3.10 7.1) or, for files
    /// written without a preamble, at the start. The file meta group follows it.
    Marker(usize),
    /// No preamble, marker nor meta group: a data set in implicit VR little endian from the
    /// first byte, as ACR-NEMA-era archives and some older systems wrote (dcmtk and pydicom
    /// read it); see [`raw_data_set`].
    Raw,
}

impl Start {
    /// Where the length check begins: after the marker (at the meta group), or at the data set.
    fn checked_from(self) -> usize {
        match self {
            Start::Marker(at) => at + 4,
            Start::Raw => 0,
        }
    }
}

/// What a file's first bytes say about it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    Dicom(Start),
    NotDicom,
    /// The verdict needs this many bytes from the start (at most the file's size).
    NeedMore(usize),
}

/// What `bytes`, the first bytes of a file of `size` bytes, begin: a `DICM` marker, else a
/// raw implicit VR little endian data set.
pub(super) fn start_of(bytes: &[u8], size: usize) -> Found {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Found::Dicom(Start::Marker(128))
    } else if bytes.starts_with(b"DICM") {
        Found::Dicom(Start::Marker(0))
    } else {
        raw_data_set(bytes, size)
    }
}

/// The last tag a raw data set may begin with: every storage instance has a SOP Class UID
/// (0008,0016), elements come in ascending order, and without a meta group nothing precedes
/// group 0008. A data set that starts later could not be exported anyway.
pub(super) const RAW_FIRST_LAST: Tag = Tag(0x0008, 0x0016);

/// The longest first value of a raw data set (its candidates hold a few short values).
pub(super) const RAW_FIRST_VALUE_MAX: usize = 1024;

/// Whether the file starts with a raw implicit VR little endian data set, judged strictly
/// so that tables, zips and random bytes never pass: the first element is in group 0008 at or
/// before SOP Class UID, of defined length up to [`RAW_FIRST_VALUE_MAX`], its value printable
/// text (or a 4-byte length); the next element has a higher tag and a length that fits.
pub(super) fn raw_data_set(bytes: &[u8], size: usize) -> Found {
    if bytes.len() < 8 {
        return if size > bytes.len() { Found::NeedMore(size.min(16)) } else { Found::NotDicom };
    }
    let Some((first, vr, length, _)) = element_header(bytes, false, false) else { return Found::NotDicom };
    if first.group() != 0x0008 || first > RAW_FIRST_LAST || length > RAW_FIRST_VALUE_MAX {
        return Found::NotDicom;
    }
    let next = 8 + length;
    if bytes.len() < next + 8 {
        return if size >= next + 8 { Found::NeedMore(next + 8) } else { Found::NotDicom };
    }
    let value = &bytes[8..next];
    let plausible_value = match (first.element(), vr) {
        // Group length and (retired) length to end: one 32-bit number.
        (0x0000 | 0x0001, _) => length == 4,
        (_, VR::SQ) => true,
        (_, VR::AE | VR::CS | VR::DA | VR::DT | VR::SH | VR::TM | VR::UI) => value.iter().all(|&b| b == 0 || (0x20..0x7F).contains(&b)),
        _ => false,
    };
    let Some((second, _, second_length, _)) = element_header(&bytes[next..], false, false) else { return Found::NotDicom };
    let plausible_next = second > first && second.group() != 0xFFFE && (second_length == UNDEFINED || second_length <= size - next - 8);
    if plausible_value && plausible_next { Found::Dicom(Start::Raw) } else { Found::NotDicom }
}

/// The file meta group given to the parser in front of a raw data set: the `DICM` marker, the
/// group length and the transfer syntax (implicit VR little endian). The parser takes the
/// Media Storage SOP Class and Instance UIDs from the data set.
pub(super) const RAW_META: &[u8] = b"DICM\x02\x00\x00\x00UL\x04\x00\x1a\x00\x00\x00\x02\x00\x10\x00UI\x12\x001.2.840.10008.1.2\x00";

/// Where a whole file's parts begin.
pub(super) fn start_of_whole(bytes: &[u8]) -> Result<Start, FileError> {
    match start_of(bytes, bytes.len()) {
        Found::Dicom(start) => Ok(start),
        Found::NotDicom | Found::NeedMore(_) => Err(FileError::NotDicom),
    }
}

/// Whether the bytes (a whole file) look like a DICOM file: a marker, or a raw data set's start.
pub fn is_dicom(bytes: &[u8]) -> bool {
    start_of_whole(bytes).is_ok()
}

/// Parses a DICOM file. With `header_only`, stops before Pixel Data: enough to plan
/// the export without copying the image.
pub fn parse(bytes: &[u8], header_only: bool) -> Result<Object, FileError> {
    let start = start_of_whole(bytes)?;
    let layout = check_whole(bytes, start)?;
    read_object(bytes, start, header_only, layout.mislabelled)
}

/// The length check of a whole file that begins as `start` says.
pub(super) fn check_whole(bytes: &[u8], start: Start) -> Result<Layout, FileError> {
    let from = start.checked_from();
    check_from(start, &bytes[from..], bytes.len() - from).map_err(|e| match e {
        LengthError::Corrupt(why) => FileError::Corrupt(why),
        // Unreachable with the whole file; a corrupt file all the same if it ever happened.
        LengthError::Short(_) => FileError::Corrupt("the length check ran out of bytes".into()),
    })
}

/// A file read for the DICOM export: the attributes, and the Pixel Data element as the file
/// holds it (header and value) when it is the data set's last element. The attributes then
/// stop before it, and the export writes the element's bytes after the de-identified ones
/// unchanged: decoding an image into numbers and encoding them again would cost most of the
/// export's time.
pub struct Split<'a> {
    pub object: Object,
    /// Empty when the object holds its Pixel Data (or has none).
    pub pixel_data: &'a [u8],
}

impl<'a> Split<'a> {
    /// The value of the split-off Pixel Data when it is native little-endian samples (the
    /// NIfTI conversion places them without the parser's copy into 16-bit numbers and back).
    pub fn native_pixels(&self) -> Option<&'a [u8]> {
        let (header, length) = native_value(&self.object, self.pixel_data)?;
        self.pixel_data.get(header..header.checked_add(length)?)
    }
}

/// Where the value of a split-off Pixel Data `element` (its bytes from its tag on) starts and
/// how long it is, when it holds native little-endian samples.
pub(super) fn native_value(object: &Object, element: &[u8]) -> Option<(usize, usize)> {
    let ts = object.meta().transfer_syntax().trim_end_matches(['\0', ' ']);
    if element.is_empty() || ![IMPLICIT_VR_LE, EXPLICIT_VR_LE].contains(&ts) {
        return None;
    }
    let (_, _, length, header) = element_header(element, ts == EXPLICIT_VR_LE, false)?;
    (length != UNDEFINED).then_some((header, length))
}

/// [`parse`] for the export: see [`Split`]. With `native_only` (the NIfTI conversion, which
/// decodes compressed samples from the object), Pixel Data are split off only when they are
/// [`Split::native_pixels`].
pub fn parse_split(bytes: &[u8], native_only: bool) -> Result<Split<'_>, FileError> {
    let start = start_of_whole(bytes)?;
    let layout = check_whole(bytes, start)?;
    let at = layout.last_pixel_data.map(|at| start.checked_from() + at);
    let object = read_object(bytes, start, at.is_some(), layout.mislabelled)?;
    let split = Split { object, pixel_data: at.map_or(&[][..], |at| &bytes[at..]) };
    if native_only && !split.pixel_data.is_empty() && split.native_pixels().is_none() {
        // (Split off, the data set is not mislabelled: read as it is written.)
        return Ok(Split { object: read_object(bytes, start, false, None)?, pixel_data: &[] });
    }
    Ok(split)
}

/// What [`parse_header`] found in the first bytes of a file.
pub enum Header {
    /// The attributes before Pixel Data, exactly as [`parse`] with `header_only` reads them
    /// from the whole file; and the length of the native samples that [`parse_split`] will
    /// split off the whole file ([`Split::native_pixels`]), when it will: a NIfTI volume of
    /// such files can be written as they are exported, its slices' sizes known from the scan.
    Parsed(Object, Option<u64>),
    /// The verdict needs at least this many bytes from the start of the file (at most its size).
    NeedMore(u64),
}

/// [`parse`] with `header_only` from the first bytes of a file of `size` bytes, so that the
/// scan need not read images (the browser then copies 64 KiB of a file into the wasm, not the
/// file). Gives the same verdict as [`parse`] on the whole file, or asks for more: the length
/// check's (the header lengths against `size`) and the parser's (every byte before the first
/// top-level element at or after Pixel Data). Typical images (a header, then Pixel Data of a
/// defined length up to the end of the file) need only their header; encapsulated pixel data,
/// deflated data sets and files without pixel data are read whole.
pub fn parse_header(prefix: &[u8], size: u64) -> Result<Header, FileError> {
    let size = size.max(prefix.len() as u64);
    if (prefix.len() as u64) < size.min(132) {
        return Ok(Header::NeedMore(size.min(132)));
    }
    let size_bytes = usize::try_from(size).unwrap_or(usize::MAX);
    let start = match start_of(prefix, size_bytes) {
        Found::Dicom(start) => start,
        Found::NotDicom => return Err(FileError::NotDicom),
        Found::NeedMore(n) => return Ok(Header::NeedMore(n as u64)),
    };
    // Positions of the length check count from after the marker (from the start, raw).
    let from = start.checked_from();
    let total = size_bytes - from;
    match check_from(start, &prefix[from..], total) {
        Ok(layout) => {
            let object = read_object(prefix, start, true, layout.mislabelled)?;
            // As parse_split finds them in the whole file (the element's header is in `prefix`
            // when its value runs to the end of the file; else the length is not known).
            let native = layout.last_pixel_data.and_then(|at| {
                let at = from + at;
                let (header, length) = native_value(&object, prefix.get(at..)?)?;
                ((at + header) as u64 + length as u64 <= size).then_some(length as u64)
            });
            Ok(Header::Parsed(object, native))
        }
        Err(LengthError::Corrupt(why)) => Err(FileError::Corrupt(why)),
        // (On wasm32 a file past 4 GiB saturates: the whole file is asked for.)
        Err(LengthError::Short(n)) => Ok(Header::NeedMore((n.saturating_add(from) as u64).min(size))),
    }
}

/// Parses a file that begins as `start` says, in implicit VR when the data set is
/// [`Mislabelled`]: the file meta group is then read with the transfer syntax renamed, and
/// the object keeps the one the file gave (its pixel data are encoded in that one, and the
/// export writes the data set in it, so the output is no longer mislabelled). A raw data set
/// is read behind [`RAW_META`] (chained, not copied).
pub(super) fn read_object(bytes: &[u8], start: Start, header_only: bool, mislabelled: Option<Mislabelled>) -> Result<Object, FileError> {
    let relabelled;
    let (head, bytes, given) = match (start, &mislabelled) {
        (Start::Raw, _) => (RAW_META, bytes, None),
        (Start::Marker(at), Some(m)) => {
            let bytes = &bytes[at..];
            relabelled = m.relabelled(bytes);
            (&[][..], &relabelled[..], Some(String::from_utf8_lossy(&bytes[4 + m.value.start..4 + m.value.end]).into_owned()))
        }
        (Start::Marker(at), None) => (&[][..], &bytes[at..], None),
    };
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if header_only {
        options = options.read_until(tags::PIXEL_DATA);
    }
    let mut object = options.from_reader(std::io::Read::chain(head, bytes)).map_err(|e| {
        let text = with_sources(&e);
        match unsupported_ts(&text) {
            Some(uid) => FileError::UnsupportedTransferSyntax(uid),
            None => FileError::Corrupt(text),
        }
    })?;
    if object.meta().media_storage_sop_class_uid().trim_end_matches('\0') == DICOMDIR_SOP_CLASS {
        return Err(FileError::Dicomdir);
    }
    if let Some(given) = given {
        object.meta_mut().transfer_syntax = given;
    }
    Ok(object)
}


/// dicom-rs reports an unknown transfer syntax as a message with the UID in it.
pub(super) fn unsupported_ts(message: &str) -> Option<String> {
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

