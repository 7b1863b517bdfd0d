//! One DICOM instance: recognising and parsing its bytes, and the few attributes
//! that decide where it goes in the export tree.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};

use crate::error::{with_sources, FileError};

/// A parsed DICOM file: file meta group and data set.
pub type Object = FileDicomObject<InMemDicomObject>;

/// Media Storage Directory Storage: the SOP class of a DICOMDIR.
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Where a DICOM file's parts begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
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
enum Found {
    Dicom(Start),
    NotDicom,
    /// The verdict needs this many bytes from the start (at most the file's size).
    NeedMore(usize),
}

/// What `bytes`, the first bytes of a file of `size` bytes, begin: a `DICM` marker, else a
/// raw implicit VR little endian data set.
fn start_of(bytes: &[u8], size: usize) -> Found {
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
const RAW_FIRST_LAST: Tag = Tag(0x0008, 0x0016);

/// The longest first value of a raw data set (its candidates hold a few short values).
const RAW_FIRST_VALUE_MAX: usize = 1024;

/// Whether the file starts with a raw implicit VR little endian data set, judged strictly
/// so that tables, zips and random bytes never pass: the first element is in group 0008 at or
/// before SOP Class UID, of defined length up to [`RAW_FIRST_VALUE_MAX`], its value printable
/// text (or a 4-byte length); the next element has a higher tag and a length that fits.
fn raw_data_set(bytes: &[u8], size: usize) -> Found {
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
const RAW_META: &[u8] = b"DICM\x02\x00\x00\x00UL\x04\x00\x1a\x00\x00\x00\x02\x00\x10\x00UI\x12\x001.2.840.10008.1.2\x00";

/// Where a whole file's parts begin.
fn start_of_whole(bytes: &[u8]) -> Result<Start, FileError> {
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
fn check_whole(bytes: &[u8], start: Start) -> Result<Layout, FileError> {
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
/// unchanged: reading a 500 KB image into numbers and encoding them again took most of the
/// export's time (perf, ct600: encode_primitive 13 %, page faults and copies most of the rest).
pub struct Split<'a> {
    pub object: Object,
    /// Empty when the object holds its Pixel Data (or has none).
    pub pixel_data: &'a [u8],
}

impl Split<'_> {
    /// The value of the split-off Pixel Data when it is native little-endian samples (the
    /// NIfTI conversion places them without the parser's copy into 16-bit numbers and back).
    pub fn native_pixels(&self) -> Option<&[u8]> {
        let (header, length) = native_value(&self.object, self.pixel_data)?;
        self.pixel_data.get(header..header.checked_add(length)?)
    }
}

/// Where the value of a split-off Pixel Data `element` (its bytes from its tag on) starts and
/// how long it is, when it holds native little-endian samples.
fn native_value(object: &Object, element: &[u8]) -> Option<(usize, usize)> {
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
fn read_object(bytes: &[u8], start: Start, header_only: bool, mislabelled: Option<Mislabelled>) -> Result<Object, FileError> {
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

/// A data set written in implicit VR little endian under a file meta group that names an
/// explicit VR little endian transfer syntax (native or encapsulated), as some writers did
/// (pydicom's SC_rgb_jpeg.dcm, from an early highdicom). pydicom and dcm2niix read such
/// files as implicit VR; read strictly, the first element's length is four bytes of text.
struct Mislabelled {
    /// Where the Transfer Syntax UID's value stands, counted from after the `DICM` marker.
    value: std::ops::Range<usize>,
    /// Where the meta group's length value stands, if the group has one.
    group_length: Option<usize>,
}

impl Mislabelled {
    /// `bytes` (from the `DICM` marker) with the transfer syntax renamed implicit VR little
    /// endian and the meta group length adjusted to the new value's size.
    fn relabelled(&self, bytes: &[u8]) -> Vec<u8> {
        const VALUE: &[u8] = b"1.2.840.10008.1.2\0";
        let (start, end) = (4 + self.value.start, 4 + self.value.end);
        let mut out = Vec::with_capacity(bytes.len() + VALUE.len());
        out.extend_from_slice(&bytes[..start - 2]);
        out.extend_from_slice(&(VALUE.len() as u16).to_le_bytes());
        out.extend_from_slice(VALUE);
        out.extend_from_slice(&bytes[end..]);
        if let Some(at) = self.group_length.map(|g| 4 + g) {
            let old = u32::from_le_bytes(out[at..at + 4].try_into().expect("4 bytes"));
            let new = (old as usize + VALUE.len()).saturating_sub(end - start) as u32;
            out[at..at + 4].copy_from_slice(&new.to_le_bytes());
        }
        out
    }
}

/// Whether the data set at `data` (more than its first header, else `false`) reads as
/// implicit VR little endian although explicit was announced: the first element's VR
/// bytes name no VR, and read as a 32-bit length they fit in the `remaining` bytes.
fn looks_implicit(data: &[u8], remaining: usize) -> bool {
    data.len() >= 8
        && VR::from_binary([data[4], data[5]]).is_none()
        && {
            let length = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
            length == UNDEFINED || length <= remaining.saturating_sub(8)
        }
}

/// Why the length check stopped.
#[derive(Debug)]
enum LengthError {
    /// The headers are inconsistent (whatever the bytes not given).
    Corrupt(String),
    /// Given a prefix only: the verdict needs at least this many bytes (from the check's start).
    Short(usize),
}

impl From<String> for LengthError {
    fn from(why: String) -> Self {
        LengthError::Corrupt(why)
    }
}

impl From<&str> for LengthError {
    fn from(why: &str) -> Self {
        LengthError::Corrupt(why.to_string())
    }
}

const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";

/// [`check_lengths`] from where `start` puts the check: a raw data set has no meta group.
fn check_from(start: Start, data: &[u8], total: usize) -> Result<Layout, LengthError> {
    match start {
        Start::Marker(_) => check_lengths(data, total),
        Start::Raw => Ok(Layout { mislabelled: None, last_pixel_data: walk_data_set(data, total, 0, false, false)? }),
    }
}

/// Walks the element headers after the `DICM` marker and checks that every declared
/// length fits in the bytes that remain, and that sequences nest no deeper than
/// [`MAX_NESTING`]. The parser would otherwise reserve (and zero) whatever a corrupt header
/// claims, e.g. 4 GB for a 200-byte file, and recurse once per level of a hostile file.
/// The walk is flat (items and sequence contents are read in line, open containers are kept
/// on a heap stack), so nesting costs no call stack here.
///
/// `data` may be the first bytes only of the `total` that follow the marker: lengths are
/// checked against `total`, and a header not in `data` is [`LengthError::Short`], not corrupt.
fn check_lengths(data: &[u8], total: usize) -> Result<Layout, LengthError> {
    let partial = data.len() < total;
    let mut pos = 0usize;
    let mut transfer_syntax = String::new();
    let mut ts_value = 0..0;
    let mut group_length_at = None;
    // The meta group is always explicit VR little endian. It ends where its group length says
    // (that is where the parser starts the data set, whatever the elements inside claim to
    // be), or else at the first element of another group.
    let mut meta_end: Option<usize> = None;
    loop {
        if partial && data.len() < pos + 12 {
            // The loop's condition and the header both need bytes past the prefix.
            return Err(LengthError::Short(pos + 12));
        }
        if !(total >= pos + 8
            && meta_end.map_or(u16::from_le_bytes([data[pos], data[pos + 1]]) == 0x0002, |end| pos < end))
        {
            break;
        }
        let (tag, _, length, header) = element_header(&data[pos..], true, false).ok_or("truncated file meta group")?;
        let start = pos + header;
        if length > total - start {
            return Err(format!("element {tag} claims {length} bytes, only {} remain", total - start).into());
        }
        if partial && data.len() < start + length {
            return Err(LengthError::Short(start + length + 12));
        }
        if tag == Tag(0x0002, 0x0000) && length == 4 && meta_end.is_none() {
            let group_length = u32::from_le_bytes(data[start..start + 4].try_into().expect("4 bytes")) as usize;
            if group_length > total - start - 4 {
                return Err(format!("the file meta group claims {group_length} bytes, only {} remain", total - start - 4).into());
            }
            meta_end = Some(start + 4 + group_length);
            group_length_at = Some(start);
        }
        if tag == Tag(0x0002, 0x0010) {
            transfer_syntax = String::from_utf8_lossy(&data[start..start + length]).trim_end_matches(['\0', ' ']).to_string();
            ts_value = start..start + length;
        }
        pos = start + length;
    }
    if meta_end.is_some_and(|end| pos != end) {
        return Err("the file meta group's elements do not end where its group length says".into());
    }
    let (explicit, big_endian) = match transfer_syntax.as_str() {
        IMPLICIT_VR_LE => (false, false),
        EXPLICIT_VR_BE => (true, true),
        // Compressed: the data set is checked once inflated, within a bound, so that neither a
        // deflate bomb nor a length inside it makes the parser allocate without limit.
        DEFLATED_EXPLICIT_VR_LE if partial => return Err(LengthError::Short(total)),
        DEFLATED_EXPLICIT_VR_LE => {
            check_data_set(&inflate_bounded(&data[pos..])?, 0, true, false)?;
            return Ok(Layout::default());
        }
        // The first header is in `data` (the meta loop asked for 12 bytes past it).
        _ if !ts_value.is_empty() && looks_implicit(&data[pos..], total - pos) => {
            walk_data_set(data, total, pos, false, false)?;
            // (Its pixel data are not in the encoding the export writes: no last_pixel_data.)
            let mislabelled = Some(Mislabelled { value: ts_value, group_length: group_length_at });
            return Ok(Layout { mislabelled, last_pixel_data: None });
        }
        _ => (true, false),
    };
    let last_pixel_data = walk_data_set(data, total, pos, explicit, big_endian)?;
    Ok(Layout { mislabelled: None, last_pixel_data })
}

/// What the length check learnt of a file's structure.
#[derive(Default)]
struct Layout {
    mislabelled: Option<Mislabelled>,
    /// Where the top-level Pixel Data element starts (counted from after the `DICM` marker),
    /// when it is the data set's last element and the data set is stored as it is written.
    last_pixel_data: Option<usize>,
}

/// Deflated data sets larger than this are refused (a real one is a few megabytes).
const MAX_INFLATED: u64 = 1 << 30;

fn inflate_bounded(deflated: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the deflated data set does not inflate: {e}"))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(format!("the deflated data set inflates to more than {} MiB", MAX_INFLATED >> 20));
    }
    Ok(out)
}

/// The data set part of [`check_lengths`], from `pos`; also for the items of a sequence
/// written as UN (implicit VR little endian), which the file's walk sees as one value.
///
/// The walk is the parser's own state machine (dicom-parser's `DataSetReader`) minus the
/// values: a header means what it means to the parser in the same state (an item header at
/// the top level is a plain element whose value is skipped; an item delimiter closes the
/// innermost container; a defined length ends its container exactly or the parser stops).
/// Anything looser lets a hostile file put the walk and the parser at different offsets, and
/// the parser then reserves whatever length it reads there (fuzz finding: 3.7 GB for 810
/// bytes). Every length the parser would read a value for is checked against what remains.
pub(crate) fn check_data_set(data: &[u8], pos: usize, explicit: bool, big_endian: bool) -> Result<(), String> {
    walk_data_set(data, data.len(), pos, explicit, big_endian).map(|_| ()).map_err(|e| match e {
        LengthError::Corrupt(why) => why,
        LengthError::Short(_) => "the length check ran out of bytes".into(),
    })
}

/// [`check_data_set`] over `data`, the first bytes of `total`: every header it reads must be
/// in `data` (else [`LengthError::Short`]); then, the verdict being exact, the parser that
/// stops before Pixel Data must find in `data` every value before it (else the whole file).
/// Gives where the top-level Pixel Data element starts when it is the data set's last element.
fn walk_data_set(data: &[u8], total: usize, mut pos: usize, explicit: bool, big_endian: bool) -> Result<Option<usize>, LengthError> {
    let partial = data.len() < total;
    // The last top-level header read, and its tag.
    let mut last_top: Option<(usize, Tag)> = None;
    // Where the header-only parser stops: the first top-level element at or after Pixel Data.
    let mut stop: Option<usize> = None;
    // The header of the first value that runs past `data`.
    let mut beyond: Option<usize> = None;
    // A header at `pos`, which must be in `data` when the file goes on past it. Once the
    // parser's stop is known, only the check needs the rest: ask for the whole file.
    let header_at = |pos: usize, stop: Option<usize>| -> Result<&[u8], LengthError> {
        if partial && data.len() < pos.saturating_add(12) {
            return Err(LengthError::Short(if stop.is_some() { total } else { pos.saturating_add(12) }));
        }
        Ok(&data[pos.min(data.len())..])
    };
    struct Open {
        item: bool,
        pixel_data: bool,
        /// Where a defined length ends it; `None` when a delimiter must.
        end: Option<usize>,
    }
    const ITEM: Tag = Tag(0xFFFE, 0xE000);
    const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
    const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
    let at = |pos: usize| format!("at byte {pos} of the data set");
    let mut open: Vec<Open> = Vec::new();
    // The parser's modes: expecting an item header (inside a sequence), or an element header.
    let mut in_sequence = false;
    let mut pending_pixel_data = false;
    loop {
        // Containers whose defined length is used up end here, innermost first.
        while let Some(end) = open.last().and_then(|o| o.end) {
            if pos < end {
                break;
            }
            if pos > end {
                return Err(format!("a sequence or item ends at byte {end} but its contents run to {pos}").into());
            }
            in_sequence = open.pop().expect("checked").item;
        }
        if open.len() > MAX_NESTING {
            return Err(format!("sequences nested deeper than {} levels", MAX_NESTING / 2).into());
        }
        let remaining = total - pos;
        if in_sequence || pending_pixel_data {
            if remaining == 0 {
                break;
            }
            let (tag, _, length, _) = element_header(header_at(pos, stop)?, false, big_endian)
                .ok_or_else(|| format!("truncated item header {}", at(pos)))?;
            pos += 8;
            match tag {
                ITEM => {
                    let pixel_data = pending_pixel_data || open.last().is_some_and(|o| o.pixel_data);
                    if pending_pixel_data {
                        open.push(Open { item: false, pixel_data: true, end: None });
                    }
                    if open.is_empty() {
                        return Err(format!("an item outside any sequence {}", at(pos - 8)).into());
                    }
                    if length != UNDEFINED && length > total - pos {
                        return Err(format!("an item claims {length} bytes, only {} remain", total - pos).into());
                    }
                    if pixel_data {
                        // A fragment (or the offset table): one value the parser reads whole.
                        if length == UNDEFINED {
                            return Err(format!("a pixel data fragment of undefined length {}", at(pos - 8)).into());
                        }
                        if pos + length > data.len() {
                            beyond.get_or_insert(pos - 8);
                        }
                        pos += length;
                        in_sequence = true;
                    } else {
                        open.push(Open { item: true, pixel_data: false, end: (length != UNDEFINED).then(|| pos + length) });
                        in_sequence = false;
                    }
                }
                ITEM_END if length == 0 && !pending_pixel_data => {
                    open.pop();
                    in_sequence = true;
                }
                SEQUENCE_END => {
                    if !pending_pixel_data {
                        open.pop();
                    }
                    in_sequence = false;
                }
                _ => return Err(format!("element {tag} where an item was expected {}", at(pos - 8)).into()),
            }
            pending_pixel_data = false;
            continue;
        }
        if remaining == 0 {
            break;
        }
        let (tag, vr, length, header) = element_header(header_at(pos, stop)?, explicit, big_endian)
            .ok_or_else(|| format!("truncated element header {}", at(pos)))?;
        // The parser's read_until applies to the top level only; an item header there is not
        // an element to it, so it does not count (asking for more bytes is always safe).
        if open.is_empty() && tag >= tags::PIXEL_DATA && tag.group() != 0xFFFE {
            stop.get_or_insert(pos);
        }
        if open.is_empty() {
            last_top = Some((pos, tag));
        }
        pos += header;
        let sequence = vr == VR::SQ;
        // In the parser's order: a sequence header wins over everything else.
        if !sequence && tag == ITEM_END {
            // Outside any container the parser ignores it; inside, it closes the innermost.
            if open.pop().is_some() {
                in_sequence = true;
            }
        } else if !sequence && tag == tags::PIXEL_DATA && length == UNDEFINED {
            pending_pixel_data = true;
        } else if sequence || length == UNDEFINED {
            // An undefined length makes any element a sequence to the parser.
            if length != UNDEFINED && length > total - pos {
                return Err(format!("element {tag} claims {length} bytes, only {} remain", total - pos).into());
            }
            open.push(Open { item: false, pixel_data: false, end: (length != UNDEFINED).then(|| pos + length) });
            in_sequence = true;
        } else if length > total - pos {
            return Err(format!("element {tag} claims {length} bytes, only {} remain", total - pos).into());
        } else {
            if pos + length > data.len() {
                beyond.get_or_insert(pos - header);
            }
            pos += value_span(vr, length);
        }
    }
    if pending_pixel_data || open.iter().any(|o| o.end.is_none()) {
        // The parser would take the end of the file for the missing delimiters and export
        // what it got (an image without its last fragments): a cut transfer.
        return Err("a sequence, item or pixel data of undefined length has no end delimiter: the file is truncated".into());
    }
    // (And where the header-only parser stops, or an element out of order would be lost.)
    let pixel_data_last = last_top.filter(|&(at, tag)| tag == tags::PIXEL_DATA && stop == Some(at)).map(|(at, _)| at);
    match (beyond, stop) {
        (Some(value), Some(stop)) if stop <= value => Ok(pixel_data_last),
        (Some(_), _) => Err(LengthError::Short(total)),
        (None, _) => Ok(pixel_data_last),
    }
}

/// Sequences and items both count: 64 levels of sequences.
const MAX_NESTING: usize = 128;

const UNDEFINED: usize = 0xFFFF_FFFF;

/// Tag, VR, value length and header size of the element at `b`, as dicom-encoding's
/// decoders read them: in implicit VR the VR is the dictionary's (Pixel Data and overlay
/// data are OW), in explicit VR an unknown VR is UN; items and delimiters have no VR (UN).
fn element_header(b: &[u8], explicit: bool, big_endian: bool) -> Option<(Tag, VR, usize, usize)> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let u16_at = |i: usize| if big_endian { u16::from_be_bytes([b[i], b[i + 1]]) } else { u16::from_le_bytes([b[i], b[i + 1]]) };
    let u32_at = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        (if big_endian { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) }) as usize
    };
    if b.len() < 8 {
        return None;
    }
    let tag = Tag(u16_at(0), u16_at(2));
    if !explicit {
        let vr = if tag == tags::PIXEL_DATA || (tag.group() >> 8 == 0x60 && tag.element() == 0x3000) {
            VR::OW
        } else {
            dicom_dictionary_std::StandardDataDictionary.by_tag(tag).map_or(VR::UN, |e| e.vr().relaxed())
        };
        return Some((tag, vr, u32_at(4), 8));
    }
    if tag.group() == 0xFFFE {
        return Some((tag, VR::UN, u32_at(4), 8));
    }
    // The VRs of PS3.5 Table 7.1-2 have a 16-bit length; any other, unknown ones included
    // (read as UN), a 32-bit length after two reserved bytes. Checking an unknown VR's length
    // as 16-bit would let the parser reserve gigabytes.
    let vr = VR::from_binary([b[4], b[5]]).unwrap_or(VR::UN);
    use VR::*;
    match vr {
        AE | AS | AT | CS | DA | DS | DT | FL | FD | IS | LO | LT | PN | SH | SL | SS | ST | TM | UI | UL | US => {
            Some((tag, vr, u16_at(6) as usize, 8))
        }
        _ => (b.len() >= 12).then(|| (tag, vr, u32_at(8), 12)),
    }
}

/// The bytes the parser consumes for a value of `length`: binary numbers are read as whole
/// numbers only (an SL of 2 bytes reads none), and the next header is read right after
/// them (fuzz finding: skipping the declared length put the walk 2 bytes off the parser,
/// which then reserved 1.2 GB for a 3 KB file).
fn value_span(vr: VR, length: usize) -> usize {
    use VR::*;
    match vr {
        AT | FL | OF | SL | UL | OL => length & !3,
        SS | US | OW => length & !1,
        FD | OD | SV | UV | OV => length & !7,
        _ => length,
    }
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
    /// Modality and SeriesDescription, for the review before the export.
    pub modality: Option<String>,
    pub series_description: Option<String>,
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
            modality: text(ds, tags::MODALITY),
            series_description: text(ds, tags::SERIES_DESCRIPTION),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `DICM`, a meta group naming the transfer syntax, then `body`.
    fn file(ts: &str, body: &[u8]) -> Vec<u8> {
        let mut ts = ts.as_bytes().to_vec();
        if ts.len() % 2 == 1 {
            ts.push(0);
        }
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        out.extend_from_slice(&(ts.len() as u16).to_le_bytes());
        out.extend_from_slice(&ts);
        out.extend_from_slice(body);
        out
    }

    /// The length check of a whole file.
    fn whole(data: &[u8]) -> Result<(), String> {
        check_lengths(data, data.len()).map(|_| ()).map_err(|e| format!("{e:?}"))
    }

    /// The pixel data are split off only where they end the data set, and where the
    /// header-only parser stops at them (an element out of order before them would be lost).
    #[test]
    fn pixel_data_are_split_off_only_when_last() {
        let mut meta = explicit(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
        meta.extend(explicit(0x0002, 0x0003, b"UI", b"1.2.3.4\0"));
        meta.extend(explicit(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        let with = |body: &[Vec<u8>]| {
            let mut bytes = vec![0u8; 128];
            bytes.extend_from_slice(b"DICM");
            bytes.extend(explicit(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
            bytes.extend(&meta);
            body.iter().for_each(|b| bytes.extend(b));
            bytes
        };
        let ob = |group: u16, element: u16, value: &[u8]| {
            let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
            out.extend_from_slice(b"OB\0\0");
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
            out
        };
        let name = explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN");
        let pixels = ob(0x7FE0, 0x0010, &[7; 16]);
        let after = ob(0xFFFA, 0xFFFA, &[1, 2]);

        let last = with(&[name.clone(), pixels.clone()]);
        let split = parse_split(&last, false).unwrap();
        assert_eq!(split.pixel_data, &pixels[..]);
        assert_eq!(split.native_pixels(), Some(&[7u8; 16][..]));
        assert!(split.object.element(tags::PIXEL_DATA).is_err());
        assert_eq!(text(&split.object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));

        // Encapsulated: split off for the DICOM export, kept in the object for the NIfTI one.
        let mut fragments = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        fragments.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]); // empty offset table
        fragments.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4]);
        fragments.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let encapsulated = with(&[name.clone(), fragments.clone()]);
        assert_eq!(parse_split(&encapsulated, false).unwrap().pixel_data, &fragments[..]);
        let native_only = parse_split(&encapsulated, true).unwrap();
        assert!(native_only.pixel_data.is_empty());
        assert!(native_only.object.element(tags::PIXEL_DATA).is_ok());
        assert_eq!(parse_split(&last, true).unwrap().native_pixels(), Some(&[7u8; 16][..]));

        for bytes in [with(&[name.clone(), pixels.clone(), after.clone()]), with(&[after, pixels]), with(&[name])] {
            let split = parse_split(&bytes, false).unwrap();
            assert!(split.pixel_data.is_empty());
            assert_eq!(parse(&bytes, false).unwrap().into_inner().into_iter().count(), split.object.into_inner().into_iter().count());
        }
    }

    /// A data set in implicit VR under a meta group (with its group length) that says
    /// explicit VR little endian reads as implicit VR, keeps the announced transfer syntax,
    /// and reads the same from a prefix as whole.
    #[test]
    fn implicit_data_set_under_explicit_label_is_read_as_implicit() {
        let implicit = |group: u16, element: u16, value: &[u8]| {
            let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
            out
        };
        let mut meta = explicit(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0");
        meta.extend(explicit(0x0002, 0x0003, b"UI", b"1.2.3.4\0"));
        meta.extend(explicit(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(explicit(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
        bytes.extend(meta);
        bytes.extend(implicit(0x0008, 0x0008, b"DERIVED\\SECONDARY "));
        bytes.extend(implicit(0x0010, 0x0010, b"DOE^JOHN"));
        bytes.extend(implicit(0x0028, 0x0010, &2u16.to_le_bytes()));
        let pixels: Vec<u8> = (0..64).collect();
        bytes.extend(implicit(0x7FE0, 0x0010, &pixels));
        let object = parse(&bytes, false).expect("read as implicit VR");
        assert_eq!(object.meta().transfer_syntax(), "1.2.840.10008.1.2.1");
        assert_eq!(text(&object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));
        assert_eq!(object.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 2);
        assert_eq!(object.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().as_ref(), &pixels[..]);
        match parse_header(&bytes[..bytes.len() - 60], bytes.len() as u64) {
            Ok(Header::Parsed(o, _)) => assert_eq!(text(&o, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN")),
            Ok(Header::NeedMore(n)) => panic!("asked for {n} bytes"),
            Err(e) => panic!("{e}"),
        }
    }

    /// One element in implicit VR little endian.
    fn implicit(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
        let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        out
    }

    /// A raw data set (no preamble, marker nor meta group) of an image with 256 bytes of pixels.
    fn raw_image() -> Vec<u8> {
        let mut bytes = implicit(0x0008, 0x0005, b"ISO_IR 100");
        bytes.extend(implicit(0x0008, 0x0016, b"1.2.840.10008.5.1.4.1.1.2\0"));
        bytes.extend(implicit(0x0008, 0x0018, b"1.2.3.4.5"));
        bytes.extend(implicit(0x0010, 0x0010, b"DOE^JOHN"));
        bytes.extend(implicit(0x0028, 0x0010, &2u16.to_le_bytes()));
        bytes.extend(implicit(0x7FE0, 0x0010, &(0..=255).collect::<Vec<u8>>()));
        bytes
    }

    /// A raw implicit VR little endian data set is read as one, its meta group made from its
    /// SOP Class and Instance UIDs; the pixel data are split off, and a prefix gives the same.
    #[test]
    fn raw_implicit_data_set_is_read_as_implicit_vr() {
        let bytes = raw_image();
        assert!(is_dicom(&bytes));
        let object = parse(&bytes, false).expect("a raw data set parses");
        assert_eq!(object.meta().transfer_syntax(), IMPLICIT_VR_LE);
        assert_eq!(object.meta().media_storage_sop_class_uid(), "1.2.840.10008.5.1.4.1.1.2");
        assert_eq!(object.meta().media_storage_sop_instance_uid(), "1.2.3.4.5");
        assert_eq!(text(&object, tags::PATIENT_NAME).as_deref(), Some("DOE^JOHN"));
        assert_eq!(object.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(), 2);
        let split = parse_split(&bytes, false).unwrap();
        assert_eq!(split.native_pixels(), Some(&(0..=255).collect::<Vec<u8>>()[..]));
        assert!(split.object.element(tags::PIXEL_DATA).is_err());
        match parse_header(&bytes[..bytes.len() - 200], bytes.len() as u64) {
            Ok(Header::Parsed(o, native)) => {
                assert_eq!(Summary::of(&o), Summary::of(&object));
                assert_eq!(native, Some(256));
            }
            Ok(Header::NeedMore(n)) => panic!("asked for {n} bytes"),
            Err(e) => panic!("{e}"),
        }
        // A cut inside the pixel data is refused by the length walk, as with a meta group.
        assert!(matches!(parse(&bytes[..bytes.len() - 1], false), Err(FileError::Corrupt(_))));
    }

    /// The verdict on a raw data set needs its first two headers: a prefix that ends before
    /// them asks for them (never more than the file), one that has them decides.
    #[test]
    fn raw_data_set_asks_for_its_first_two_headers() {
        let mut bytes = implicit(0x0008, 0x0008, format!("ORIGINAL\\PRIMARY\\{}", "AXIAL".repeat(100)).as_bytes());
        let first = bytes.len();
        bytes.extend(raw_image()[18..].to_vec());
        let size = bytes.len() as u64;
        assert!(matches!(parse_header(&bytes[..100], size), Ok(Header::NeedMore(132))));
        assert!(matches!(parse_header(&bytes[..200], size), Ok(Header::NeedMore(n)) if n == first as u64 + 8));
        assert!(matches!(parse_header(&bytes, size), Ok(Header::Parsed(..))));
        // A file that ends before the second header is no data set.
        assert_eq!(start_of(&bytes[..first + 4], first + 4), Found::NotDicom);
    }

    /// Tables, zips, other raw encodings and random bytes are never taken for a raw data set.
    #[test]
    fn raw_recognition_is_strict() {
        let raw = raw_image();
        let mut not_dicom: Vec<Vec<u8>> = vec![
            b"PatientID;Name;Date\n123;DOE^JOHN;2024-01-01\n".to_vec(),
            b"\xEF\xBB\xBFid,visit\n1,2\n".to_vec(),
            b"\xFF\xFEi\x00d\x00,\x00x\x00\n\x00".to_vec(),
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip".to_vec(),
            // Explicit VR little endian without a meta group: the VR read as a length is huge.
            [&[0x08, 0x00, 0x05, 0x00], &b"CS"[..], &[0x0A, 0x00], b"ISO_IR 100", &[0x08, 0x00, 0x16, 0x00]].concat(),
            // Group 0010 first: no SOP Class UID before it.
            raw[raw.len() - 100..].to_vec(),
            // Tags out of order, a value that is not text, a length past the end.
            [implicit(0x0008, 0x0016, b"1.2"), implicit(0x0008, 0x0005, b"ISO_IR 100")].concat(),
            [implicit(0x0008, 0x0005, b"ISO\x01IR"), implicit(0x0008, 0x0016, b"1.2")].concat(),
            [implicit(0x0008, 0x0005, b"ISO_IR 100"), vec![0x08, 0x00, 0x16, 0x00, 0xF0, 0, 0, 0]].concat(),
        ];
        // Random bytes, a million files' worth of first bytes (xorshift: no dependency).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1_000_000 {
            let mut sample = Vec::with_capacity(64);
            while sample.len() < 64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                sample.extend_from_slice(&state.to_le_bytes());
            }
            if start_of(&sample, 4096) != Found::NotDicom {
                not_dicom.push(sample);
            }
        }
        for bytes in &not_dicom {
            assert_eq!(start_of(bytes, bytes.len()), Found::NotDicom, "{bytes:02x?}");
            assert!(matches!(parse(bytes, true), Err(FileError::NotDicom)), "{bytes:02x?}");
        }
    }

    /// A PatientID (or any text) written as UN reads as the text it holds: the same research
    /// ID as when written as LO (pydicom's rtdose_rle.dcm and badVR.dcm are one patient).
    #[test]
    fn text_written_as_un_reads_as_its_text() {
        use dicom_core::{value::PrimitiveValue, DataElement};
        let with = |vr, value: PrimitiveValue| InMemDicomObject::from_element_iter([DataElement::new(tags::PATIENT_ID, vr, value)]);
        let un = with(VR::UN, PrimitiveValue::from(&b"id11111 "[..]));
        assert_eq!(text(&un, tags::PATIENT_ID).as_deref(), Some("id11111"));
        assert_eq!(text(&un, tags::PATIENT_ID), text(&with(VR::LO, PrimitiveValue::from("id11111")), tags::PATIENT_ID));
        let latin1 = with(VR::UN, PrimitiveValue::from(&b"M\xFCller"[..]));
        assert_eq!(text(&latin1, tags::PATIENT_ID).as_deref(), Some("Müller"));
    }

    fn explicit(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
        out.extend_from_slice(vr);
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        // 10,000 levels of undefined-length sequences, each in an undefined-length item.
        let mut body = Vec::new();
        for _ in 0..10_000 {
            body.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
            body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let bytes = file("1.2.840.10008.1.2.1", &body);
        let err = parse(&bytes, false).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn impossible_lengths_are_refused_before_allocating() {
        let mut body = explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN");
        body.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF]);
        body.extend_from_slice(&[0u8; 64]);
        let err = whole(&file("1.2.840.10008.1.2.1", &body)[132..]).unwrap_err();
        assert!(err.contains("claims 4294967280 bytes"), "{err}");
        // Implicit VR: the same for a 4-byte length.
        let mut body = vec![0x10, 0x00, 0x10, 0x00, 0xF0, 0xFF, 0xFF, 0x7F];
        body.extend_from_slice(b"DOE^JOHN");
        assert!(whole(&file("1.2.840.10008.1.2", &body)[132..]).is_err());
    }

    #[test]
    fn well_formed_nesting_passes() {
        // Two defined-length levels and one undefined-length level.
        let leaf = explicit(0x0008, 0x0100, b"SH", b"CODE01");
        let mut item = [0xFE, 0xFF, 0x00, 0xE0].to_vec();
        item.extend_from_slice(&(leaf.len() as u32).to_le_bytes());
        item.extend_from_slice(&leaf);
        let mut seq = [0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0].to_vec();
        seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
        seq.extend_from_slice(&item);
        let mut body = [0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF].to_vec();
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        body.extend_from_slice(&seq);
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&explicit(0x0010, 0x0010, b"PN", b"DOE^JOHN"));
        whole(&file("1.2.840.10008.1.2.1", &body)[132..]).unwrap();
    }
}
