//! Decoding one frame of encapsulated pixel data into native little-endian samples
//! (colour interleaved), for the NIfTI conversion and the pixel cleaning alike; and which
//! transfer syntaxes are decoded at all ([`undecodable`]). JPEG 2000 and HTJ2K go to `openjp2` (OpenJPEG ported to Rust; on
//! wasm32 with the C functions of `crate::codec::libc_shim`), JPEG-LS to our own decoder
//! (`crate::codec::jpegls`), 8-bit lossy JPEG to `crate::codec::jpeg` (dcm2niix's
//! arithmetic); RLE and other JPEG to dicom-pixeldata's pure-Rust decoders.

use std::borrow::Cow;
use std::ffi::{c_char, c_void};

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicom::text;
use crate::codec::{jpeg, jpegls};
use crate::dicom::Object;

/// JPEG 2000 Image Compression: lossless only, and lossless or lossy.
pub const JPEG_2000: &[&str] = &["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"];

/// High-Throughput JPEG 2000 (Part 15): lossless, lossless RPCL, and lossless or lossy.
pub const HTJ2K: &[&str] = &[
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
];

/// JPEG-LS: lossless, and near-lossless.
pub const JPEG_LS: &[&str] = &["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

/// RLE Lossless: decoded by `decode_rle`, every sample width.
pub const RLE: &str = "1.2.840.10008.1.2.5";

/// JPEG baseline and extended (8-bit).
pub const LOSSY_JPEG: &[&str] = &["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"];

/// Transfer syntaxes whose pixel data is read as is.
pub const NATIVE_TS: &[&str] = &[
    "1.2.840.10008.1.2",      // implicit VR little endian
    "1.2.840.10008.1.2.1",    // explicit VR little endian
    "1.2.840.10008.1.2.2",    // explicit VR big endian (dicom-rs decodes the words)
    "1.2.840.10008.1.2.1.99", // deflated explicit VR little endian
];

/// JPEG Extended (process 2 & 4): its 8-bit form only is decoded here.
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Why pixel data in transfer syntax `ts` cannot be read, if it cannot. Besides the native
/// syntaxes, those that dicom-pixeldata's pure-Rust decoders handle (they build for
/// wasm32), RLE Lossless (our own `decode_rle`), JPEG baseline / extended (8-bit; `codec::jpeg`, with dcm2niix's
/// arithmetic, else jpeg-decoder) / lossless (jpeg-decoder); JPEG 2000 and HTJ2K (openjp2
/// called directly, see `decode_jpeg2000`, with the C functions of `codec::libc_shim` on wasm32) and
/// JPEG-LS (our own decoder, `codec::jpegls`; dicom-pixeldata's CharLS is C++). Not 12-bit
/// lossy JPEG or JPEG XL.
pub fn undecodable(ts: &str, bits_stored: u16) -> Option<String> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    if NATIVE_TS.contains(&ts)
        || JPEG_2000.contains(&ts)
        || HTJ2K.contains(&ts)
        || JPEG_LS.contains(&ts)
        || ts == RLE
    {
        return None;
    }
    let entry = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(ts);
    let name = entry.map(|t| t.name().trim().to_string());
    let named = match &name {
        Some(n) => format!("{ts} ({n})"),
        None => ts.to_string(),
    };
    if ts == JPEG_EXTENDED && bits_stored > 8 {
        return Some(format!(
            "unsupported transfer syntax {named}: no decoder here for {bits_stored}-bit lossy JPEG"
        ));
    }
    match entry {
        Some(t) if t.can_decode_all() => None,
        _ => Some(format!(
            "unsupported transfer syntax {named}: no decoder here for its pixel data"
        )),
    }
}

type Value = dicom_core::value::Value<InMemDicomObject, Vec<u8>>;

/// The frame the data set describes, which a compressed frame must match.
fn expected(object: &Object) -> jpegls::Expected {
    let ds: &InMemDicomObject = object;
    let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
    jpegls::Expected {
        columns: int(tags::COLUMNS).unwrap_or(0),
        rows: int(tags::ROWS).unwrap_or(0),
        samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(16),
    }
}

/// Frame `frame` of `frames`, decoded.
pub fn decode_frame(
    object: &Object,
    value: &Value,
    ts: &str,
    frame: usize,
    frames: usize,
) -> Result<Vec<u8>, String> {
    if JPEG_2000.contains(&ts) || HTJ2K.contains(&ts) {
        let codestream = frame_fragments(value, frame, frames)?;
        return decode_jpeg2000(&codestream, expected(object))
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    let ds: &InMemDicomObject = object;
    if ts == RLE {
        // Our own decoder for every depth: dicom-pixeldata's panics on some malformed
        // segments (an index past the segment's end, found by the pixel_clean fuzz target).
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
        let stream = frame_fragments(value, frame, frames)?;
        let pixels = int(tags::COLUMNS).unwrap_or(0) * int(tags::ROWS).unwrap_or(0);
        let bytes = int(tags::BITS_ALLOCATED).unwrap_or(8).div_ceil(8);
        return decode_rle(&stream, pixels, int(tags::SAMPLES_PER_PIXEL).unwrap_or(1), bytes)
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    if JPEG_LS.contains(&ts) {
        let stream = frame_fragments(value, frame, frames)?;
        return jpegls::decode(&stream, expected(object))
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    let rgb = text(ds, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB");
    if LOSSY_JPEG.contains(&ts) && text(ds, tags::BITS_ALLOCATED).as_deref() == Some("8") {
        // dcm2niix's own decoder, byte for byte; what it does not decode (12-bit and
        // progressive streams among others) goes on to the general decoders below.
        let frame_size = expected(object);
        let expected = jpeg::Expected {
            columns: frame_size.columns,
            rows: frame_size.rows,
            samples: frame_size.samples,
        };
        // Stored as RGB: no YCbCr conversion, whatever the JPEG markers suggest (as dcm2niix).
        let colour = if rgb { jpeg::Colour::AsCoded } else { jpeg::Colour::Ycbcr };
        let stream = frame_fragments(value, frame, frames)?;
        match jpeg::decode(&stream, expected, colour) {
            Ok(samples) => return Ok(samples),
            Err(e) if e.is_unsupported() => {}
            Err(e) => return Err(format!("pixel data in {ts} could not be decoded: {e}")),
        }
    }
    if LOSSY_JPEG.contains(&ts) && rgb {
        // Stored as RGB: no YCbCr conversion, whatever the JPEG markers suggest (as dcm2niix).
        let stream = frame_fragments(value, frame, frames)?;
        let mut decoder = jpeg_decoder::Decoder::new(&stream[..]);
        decoder.set_color_transform(jpeg_decoder::ColorTransform::RGB);
        return decoder
            .decode()
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    use dicom_pixeldata::PixelDecoder;
    object
        .decode_pixel_data_frame(frame as u32)
        .map(|d| d.into_data())
        .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"))
}

/// The bytes of one frame of an encapsulated pixel data element: all fragments for a
/// single frame, one fragment per frame, or the fragments the offset table assigns to it.
fn frame_fragments(value: &Value, frame: usize, frames: usize) -> Result<Cow<'_, [u8]>, String> {
    let fragments = value.fragments().ok_or("pixel data is not encapsulated")?;
    if frames == 1 {
        return Ok(match fragments {
            [one] => Cow::Borrowed(one.as_slice()),
            many => Cow::Owned(many.concat()),
        });
    }
    if fragments.len() == frames {
        return Ok(Cow::Borrowed(fragments[frame].as_slice()));
    }
    let table = value.offset_table().unwrap_or(&[]);
    if table.len() != frames {
        return Err(format!(
            "{} fragments for {frames} frames and no offset table to assign them",
            fragments.len()
        ));
    }
    // Offset of each fragment from the first one's item tag (8 bytes of item header each).
    let mut at = 0u64;
    let mut bytes = Vec::new();
    let end = table.get(frame + 1).map(|&e| e as u64).unwrap_or(u64::MAX);
    for fragment in fragments {
        if at >= table[frame] as u64 && at < end {
            bytes.extend_from_slice(fragment);
        }
        at += 8 + fragment.len() as u64;
    }
    Ok(Cow::Owned(bytes))
}

/// Why a JPEG 2000 codestream could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Jpeg2000Error {
    /// Neither a J2K codestream nor a JP2 file.
    NotJpeg2000,
    /// The data set describes more samples than any real frame has.
    TooLarge { samples: usize },
    /// The codestream's image is not the one Rows, Columns and Samples per Pixel describe.
    Geometry {
        found: (usize, usize, usize),
        expected: (usize, usize, usize),
    },
    /// More tiles than one per 64 pixels: no real frame is cut that small, and OpenJPEG
    /// reserves the coding parameters of every tile while it reads the header.
    Tiles(u64),
    /// A component is subsampled (or offset) relative to the image grid.
    Subsampled { component: usize },
    /// OpenJPEG rejected the stream (its first error message).
    Decoder(String),
    /// A component is larger than the DICOM sample that should hold it.
    Precision {
        precision: u32,
        bits_allocated: usize,
    },
}

impl std::fmt::Display for Jpeg2000Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jpeg2000Error::NotJpeg2000 => write!(f, "JPEG 2000: neither a codestream nor a JP2 file"),
            Jpeg2000Error::TooLarge { samples } => {
                write!(f, "JPEG 2000: {samples} samples in one frame is too large")
            }
            Jpeg2000Error::Geometry { found, expected } => write!(
                f,
                "JPEG 2000 image of {}×{}×{} (columns × rows × samples), the data set says {}×{}×{}",
                found.0, found.1, found.2, expected.0, expected.1, expected.2
            ),
            Jpeg2000Error::Tiles(n) => write!(f, "JPEG 2000 image cut into {n} tiles"),
            Jpeg2000Error::Subsampled { component } => {
                write!(f, "JPEG 2000 component {component} is subsampled")
            }
            Jpeg2000Error::Decoder(e) => write!(f, "JPEG 2000: {e}"),
            Jpeg2000Error::Precision {
                precision,
                bits_allocated,
            } => write!(
                f,
                "JPEG 2000 component of {precision} bits in {bits_allocated}-bit samples"
            ),
        }
    }
}

/// More samples than this (512 MiB of 16-bit output) is no real frame: refused before
/// OpenJPEG allocates anything for it.
const MAX_SAMPLES: usize = 1 << 28;

/// The image size, component count and tile count of the SIZ marker segment that follows
/// the codestream's SOC (in a JP2 file too); `None` when there is none, or it is cut short.
fn siz(stream: &[u8]) -> Option<((usize, usize, usize), u64)> {
    let at = stream.windows(4).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    // After SOC, SIZ and Lsiz, Rsiz: Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz.
    let word = |i: usize| -> Option<u64> {
        let b = stream.get(at + 8 + 4 * i..at + 12 + 4 * i)?;
        Some(u32::from_be_bytes(b.try_into().ok()?) as u64)
    };
    let [x, y, xo, yo, xt, yt, xto, yto] = [0, 1, 2, 3, 4, 5, 6, 7].map(word);
    let (x, y, xo, yo, xt, yt, xto, yto) = (x?, y?, xo?, yo?, xt?, yt?, xto?, yto?);
    let c = stream.get(at + 40..at + 42)?;
    let components = u16::from_be_bytes([c[0], c[1]]) as usize;
    let size = (x.saturating_sub(xo) as usize, y.saturating_sub(yo) as usize, components);
    let tiles = match (xt, yt) {
        (0, _) | (_, 0) => u64::MAX,
        _ => x.saturating_sub(xto).div_ceil(xt) * y.saturating_sub(yto).div_ceil(yt),
    };
    Some((size, tiles))
}

/// The codestream being read, for OpenJPEG's stream callbacks.
struct Source<'a> {
    data: &'a [u8],
    at: usize,
}

unsafe extern "C" fn source_read(buffer: *mut c_void, len: usize, user: *mut c_void) -> usize {
    let source = &mut *(user as *mut Source);
    let n = len.min(source.data.len() - source.at);
    std::ptr::copy_nonoverlapping(source.data[source.at..].as_ptr(), buffer as *mut u8, n);
    source.at += n;
    n
}

unsafe extern "C" fn source_skip(by: i64, user: *mut c_void) -> i64 {
    let source = &mut *(user as *mut Source);
    // OpenJPEG checks skips against the stream length; refuse any that leave the data.
    match usize::try_from(by).ok().and_then(|b| source.at.checked_add(b)) {
        Some(to) if to <= source.data.len() => {
            source.at = to;
            by
        }
        _ => -1,
    }
}

unsafe extern "C" fn source_seek(to: i64, user: *mut c_void) -> i32 {
    let source = &mut *(user as *mut Source);
    match usize::try_from(to) {
        Ok(to) if to <= source.data.len() => {
            source.at = to;
            1
        }
        _ => 0,
    }
}

/// Keeps OpenJPEG's first error message (the later ones follow from it).
unsafe extern "C" fn keep_error(message: *const c_char, user: *mut c_void) {
    let first = &mut *(user as *mut Option<String>);
    if first.is_none() && !message.is_null() {
        let text = std::ffi::CStr::from_ptr(message).to_string_lossy();
        *first = Some(text.trim_end().to_string());
    }
}

/// OpenJPEG's handles, released together whichever way decoding ends.
struct Handles {
    stream: *mut openjp2::opj_stream_t,
    codec: *mut openjp2::opj_codec_t,
    image: *mut openjp2::opj_image_t,
}

impl Drop for Handles {
    fn drop(&mut self) {
        use openjp2::openjpeg::{opj_destroy_codec, opj_image_destroy, opj_stream_destroy};
        // SAFETY: each handle is null or was created by OpenJPEG and is released once here.
        unsafe {
            opj_image_destroy(self.image);
            opj_destroy_codec(self.codec);
            opj_stream_destroy(self.stream);
        }
    }
}

/// Decodes a JPEG 2000 codestream (raw or in a JP2 file; HTJ2K too) into
/// `bits_allocated`-bit little-endian samples, colour interleaved, with OpenJPEG's own
/// arithmetic (the `openjp2` port), so lossy frames match dcm2niix's voxel for voxel:
/// OpenJPEG rounds the inverse wavelet's output, removes the DC offset of unsigned
/// components and clamps to each component's range. The header is checked against the
/// data set before anything is decoded, which bounds what the (unsafe, ported) decoder
/// is asked to allocate.
pub fn decode_jpeg2000(stream: &[u8], expected: jpegls::Expected) -> Result<Vec<u8>, Jpeg2000Error> {
    let count = checked_size(stream, expected)?;
    run_openjpeg(stream, expected, count)
}

/// The number of samples of the frame, once the data set's frame is one we decode and the
/// codestream's SIZ marker agrees with it: nothing reaches OpenJPEG whose size is not the
/// frame's.
fn checked_size(stream: &[u8], expected: jpegls::Expected) -> Result<usize, Jpeg2000Error> {
    let jpegls::Expected { columns, rows, samples, bits_allocated } = expected;
    let want = (columns, rows, samples);
    let count = columns
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(samples))
        .filter(|&n| n <= MAX_SAMPLES)
        .ok_or(Jpeg2000Error::TooLarge { samples: columns.saturating_mul(rows).saturating_mul(samples) })?;
    if count == 0 || !matches!(samples, 1 | 3) {
        return Err(Jpeg2000Error::Geometry { found: (0, 0, 0), expected: want });
    }
    if !matches!(bits_allocated, 8 | 16) {
        return Err(Jpeg2000Error::Precision { precision: 0, bits_allocated });
    }
    let (found, tiles) = siz(stream).ok_or(Jpeg2000Error::NotJpeg2000)?;
    if found != want {
        return Err(Jpeg2000Error::Geometry { found, expected: want });
    }
    if tiles > (columns * rows / 64).max(1) as u64 {
        return Err(Jpeg2000Error::Tiles(tiles));
    }
    Ok(count)
}

/// Decodes a checked codestream of `count` samples with OpenJPEG, checking its header and
/// components again as OpenJPEG reads them.
fn run_openjpeg(stream: &[u8], expected: jpegls::Expected, count: usize) -> Result<Vec<u8>, Jpeg2000Error> {
    use openjp2::openjpeg::*;
    let jpegls::Expected { columns, rows, samples, bits_allocated } = expected;
    let want = (columns, rows, samples);
    let format = match openjp2::detect_format(stream) {
        Ok(openjp2::J2KFormat::J2K) => OPJ_CODEC_J2K,
        Ok(openjp2::J2KFormat::JP2) => OPJ_CODEC_JP2,
        _ => return Err(Jpeg2000Error::NotJpeg2000),
    };
    let mut source = Source { data: stream, at: 0 };
    let mut error: Option<String> = None;
    let failed = |error: &Option<String>, step: &str| {
        Jpeg2000Error::Decoder(error.clone().unwrap_or_else(|| format!("{step} failed")))
    };
    // SAFETY: `source` and `error` outlive the handles (dropped at the end of this
    // function); the stream owns no user data (no free function), and every pointer passed
    // to OpenJPEG is one it created or checked non-null.
    unsafe {
        let mut handles = Handles {
            // A buffer no larger than the codestream (OpenJPEG's default is 1 MiB).
            stream: opj_stream_create(stream.len().clamp(1, 1 << 20), 1),
            codec: opj_create_decompress(format),
            image: std::ptr::null_mut(),
        };
        if handles.stream.is_null() || handles.codec.is_null() {
            return Err(Jpeg2000Error::Decoder("could not create the decoder".into()));
        }
        opj_stream_set_read_function(handles.stream, Some(source_read));
        opj_stream_set_skip_function(handles.stream, Some(source_skip));
        opj_stream_set_seek_function(handles.stream, Some(source_seek));
        opj_stream_set_user_data(handles.stream, &mut source as *mut Source as *mut c_void, None);
        opj_stream_set_user_data_length(handles.stream, stream.len() as u64);
        opj_set_error_handler(handles.codec, Some(keep_error), &mut error as *mut Option<String> as *mut c_void);
        let mut parameters = opj_dparameters_t::default();
        if opj_setup_decoder(handles.codec, &mut parameters) == 0 {
            return Err(failed(&error, "setting up the decoder"));
        }
        if opj_read_header(handles.stream, handles.codec, &mut handles.image) == 0 || handles.image.is_null() {
            return Err(failed(&error, "reading the header"));
        }
        let image = &*handles.image;
        let found = (
            image.x1.saturating_sub(image.x0) as usize,
            image.y1.saturating_sub(image.y0) as usize,
            image.numcomps as usize,
        );
        if found != want {
            return Err(Jpeg2000Error::Geometry { found, expected: want });
        }
        check_components(image, columns, rows, bits_allocated, false)?;
        if opj_decode(handles.codec, handles.stream, handles.image) == 0
            || opj_end_decompress(handles.codec, handles.stream) == 0
        {
            return Err(failed(&error, "decoding"));
        }
        let image = &*handles.image;
        check_components(image, columns, rows, bits_allocated, true)?;
        Ok(interleaved(image, expected, count))
    }
}

/// The decoded components of `image` as `bits_allocated`-bit little-endian samples,
/// colour interleaved.
fn interleaved(image: &openjp2::opj_image, expected: jpegls::Expected, count: usize) -> Vec<u8> {
    let jpegls::Expected { columns, rows, samples, bits_allocated } = expected;
    let components = image.comps().unwrap_or(&[]);
    let bpp = bits_allocated / 8;
    let mut out = vec![0u8; count * bpp];
    for (c, component) in components.iter().enumerate() {
        let data = component.data().unwrap_or(&[]);
        for (i, &v) in data.iter().take(columns * rows).enumerate() {
            let at = (i * samples + c) * bpp;
            // OpenJPEG has clamped `v` to the component's range, which fits the sample.
            match bpp {
                1 => out[at] = v as u8,
                _ => out[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes()),
            }
        }
    }
    out
}

/// Every component covers the whole `columns` × `rows` grid, one sample per pixel, and
/// fits in `bits_allocated` bits; once decoded (`decoded`), at full resolution with all
/// its samples.
fn check_components(
    image: &openjp2::opj_image,
    columns: usize,
    rows: usize,
    bits_allocated: usize,
    decoded: bool,
) -> Result<(), Jpeg2000Error> {
    let components = image.comps().unwrap_or(&[]);
    for (i, c) in components.iter().enumerate() {
        if c.dx != 1 || c.dy != 1 || c.w as usize != columns || c.h as usize != rows {
            return Err(Jpeg2000Error::Subsampled { component: i });
        }
        if c.prec == 0 || c.prec as usize > bits_allocated {
            return Err(Jpeg2000Error::Precision { precision: c.prec, bits_allocated });
        }
        if decoded && (c.factor != 0 || c.data().map_or(0, |d| d.len()) < columns * rows) {
            return Err(Jpeg2000Error::Decoder(format!("component {i} was not decoded whole")));
        }
    }
    Ok(())
}

/// Why an RLE frame could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum RleError {
    /// Shorter than its 64-byte header, or a segment offset outside the frame.
    Header,
    /// Not one segment per byte of each sample.
    Segments { found: usize, expected: usize },
    /// A segment decodes to fewer bytes than the frame has pixels.
    Short { segment: usize, bytes: usize, expected: usize },
}

impl std::fmt::Display for RleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RleError::Header => write!(f, "RLE: malformed header"),
            RleError::Segments { found, expected } => {
                write!(f, "RLE: {found} segments, {expected} expected")
            }
            RleError::Short { segment, bytes, expected } => write!(
                f,
                "RLE: segment {segment} holds {bytes} bytes, {expected} expected"
            ),
        }
    }
}

/// Decodes one RLE Lossless frame (PS3.5 Annex G) of samples `bytes` bytes wide: a 64-byte
/// header (segment count, 15 offsets), then per sample one PackBits segment per byte, most
/// significant first. Returns little-endian samples, colour interleaved.
pub fn decode_rle(frame: &[u8], pixels: usize, samples: usize, bytes: usize) -> Result<Vec<u8>, RleError> {
    let word = |i: usize| -> Result<usize, RleError> {
        let b = frame.get(4 * i..4 * i + 4).ok_or(RleError::Header)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    };
    let count = word(0)?;
    let width = bytes;
    let expected = bytes * samples;
    if count != expected || count > 15 || bytes == 0 {
        return Err(RleError::Segments { found: count, expected });
    }
    let mut out = vec![0u8; pixels * expected];
    for segment in 0..count {
        let start = word(1 + segment)?;
        let end = match segment + 1 < count {
            true => word(2 + segment)?,
            false => frame.len(),
        };
        let data = frame.get(start..end).ok_or(RleError::Header)?;
        let decoded = unpack_bits(data, pixels);
        if decoded.len() < pixels {
            return Err(RleError::Short { segment, bytes: decoded.len(), expected: pixels });
        }
        let (sample, byte) = (segment / width, width - 1 - segment % width);
        for (i, &v) in decoded[..pixels].iter().enumerate() {
            out[(i * samples + sample) * width + byte] = v;
        }
    }
    Ok(out)
}

/// One PackBits segment, decoded up to `limit` bytes.
fn unpack_bits(data: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < data.len() && out.len() < limit {
        let n = data[i] as i8;
        i += 1;
        match n {
            0..=127 => {
                let literal = &data[i..(i + n as usize + 1).min(data.len())];
                out.extend_from_slice(literal);
                i += n as usize + 1;
            }
            -127..=-1 => {
                if let Some(&v) = data.get(i) {
                    out.resize(out.len() + (1 - n as isize) as usize, v);
                }
                i += 1;
            }
            _ => {} // -128: no operation
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HTJ2K (Part 15, CAP marker) codestreams made once with OpenJPH (imagecodecs 2026.3.6),
    /// reversible, from the images `grey_image` and `rgb_image` compute.
    const HTJ2K_GREY: &[u8] = &[
        0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x40, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x00, 0x00,
        0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C,
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x8F, 0x01, 0x01, 0xFF, 0x50, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0A, 0xFF,
        0x52, 0x00, 0x0C, 0x00, 0x02, 0x00, 0x01, 0x00, 0x05, 0x04, 0x04, 0x40, 0x01, 0xFF,
        0x5C, 0x00, 0x13, 0x20, 0x88, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
        0x90, 0x90, 0x90, 0x88, 0x88, 0x88, 0xFF, 0x64, 0x00, 0x17, 0x00, 0x01, 0x4F, 0x70,
        0x65, 0x6E, 0x4A, 0x50, 0x48, 0x20, 0x56, 0x65, 0x72, 0x20, 0x30, 0x2E, 0x32, 0x36,
        0x2E, 0x33, 0x2E, 0xFF, 0x90, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6A, 0x00,
        0x01, 0xFF, 0x93, 0xC0, 0x00, 0x26, 0x99, 0xFE, 0x02, 0x07, 0x74, 0x00, 0x00, 0xC0,
        0x00, 0x13, 0x00, 0x78, 0xFE, 0x02, 0x07, 0x74, 0x00, 0xC0, 0x00, 0x12, 0xC0, 0x00,
        0x13, 0x80, 0xF3, 0x00, 0xC7, 0x74, 0x00, 0xD2, 0x2F, 0xFD, 0x00, 0xC2, 0x34, 0x00,
        0xC0, 0x00, 0x13, 0x40, 0x00, 0x15, 0x40, 0xA4, 0xA4, 0x81, 0x0B, 0x74, 0x00, 0xCC,
        0x67, 0x9E, 0xF9, 0x00, 0x18, 0xC0, 0x77, 0x56, 0x00, 0xC0, 0x00, 0x2A, 0x20, 0x00,
        0x15, 0xE0, 0x08, 0x82, 0x20, 0xDA, 0x70, 0x82, 0x75, 0x00, 0x76, 0xDB, 0xB5, 0x6B,
        0xD7, 0xAE, 0xDD, 0xE0, 0x20, 0xF6, 0x42, 0x01, 0xEC, 0xB8, 0x00, 0xFF, 0xD9
    ];
    const HTJ2K_RGB: &[u8] = &[
        0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x2F, 0x40, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06,
        0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        0x07, 0x01, 0x01, 0x07, 0x01, 0x01, 0x07, 0x01, 0x01, 0xFF, 0x50, 0x00, 0x08, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x03, 0xFF, 0x52, 0x00, 0x0C, 0x00, 0x02, 0x00, 0x01, 0x01,
        0x05, 0x04, 0x04, 0x40, 0x01, 0xFF, 0x5C, 0x00, 0x13, 0x20, 0x50, 0x58, 0x58, 0x58,
        0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x50, 0x50, 0x50, 0xFF, 0x64,
        0x00, 0x17, 0x00, 0x01, 0x4F, 0x70, 0x65, 0x6E, 0x4A, 0x50, 0x48, 0x20, 0x56, 0x65,
        0x72, 0x20, 0x30, 0x2E, 0x32, 0x36, 0x2E, 0x33, 0x2E, 0xFF, 0x90, 0x00, 0x0A, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xA8, 0x00, 0x01, 0xFF, 0x93, 0xC0, 0x12, 0x80, 0xEB, 0x00,
        0x07, 0x74, 0x00, 0xC0, 0x12, 0x80, 0x10, 0x01, 0x87, 0x74, 0x00, 0xC0, 0x12, 0x80,
        0xFE, 0x00, 0xC7, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x09, 0x40,
        0xE8, 0x00, 0x07, 0x74, 0x00, 0xC0, 0x09, 0x40, 0xA9, 0x01, 0x07, 0x74, 0x00, 0xC0,
        0x09, 0x40, 0x52, 0x01, 0x87, 0x74, 0x00, 0xA0, 0x04, 0xC0, 0x78, 0xFC, 0x00, 0x22,
        0x34, 0x00, 0xC0, 0x09, 0x20, 0x04, 0xE0, 0xFC, 0x27, 0x73, 0x00, 0x39, 0x73, 0xFE,
        0x00, 0x62, 0x34, 0x00, 0xC0, 0x09, 0x60, 0x04, 0xE0, 0xF9, 0x00, 0x47, 0x74, 0x00,
        0x0D, 0x1B, 0xFE, 0x00, 0x62, 0x34, 0x00, 0xC0, 0x12, 0xC0, 0x15, 0x20, 0x88, 0x80,
        0x4B, 0x74, 0x00, 0xC0, 0x02, 0x16, 0xD8, 0x00, 0x93, 0x7E, 0xB5, 0x00, 0xC0, 0x13,
        0x40, 0x15, 0x20, 0xE7, 0xF9, 0x80, 0x0B, 0x74, 0x00, 0x8B, 0x8B, 0xC5, 0x00, 0x00,
        0x00, 0x77, 0x56, 0x00, 0xC0, 0x13, 0x40, 0x15, 0x00, 0x4E, 0xE7, 0x80, 0x8B, 0x74,
        0x00, 0xF7, 0xFB, 0xFE, 0x00, 0xE4, 0x77, 0x55, 0x00, 0xFF, 0xD9
    ];

    /// 12 × 8 signed 16-bit samples, negative and positive.
    fn grey_image() -> Vec<u8> {
        (0..96i16).flat_map(|i| (i * 37 - 1500).to_le_bytes()).collect()
    }

    /// 6 × 4 RGB, interleaved.
    fn rgb_image() -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..4u8 {
            for x in 0..6u8 {
                out.extend([x * 40, y * 60, 255 - x * 20 - y * 10]);
            }
        }
        out
    }

    fn expected(columns: usize, rows: usize, samples: usize, bits_allocated: usize) -> jpegls::Expected {
        jpegls::Expected { columns, rows, samples, bits_allocated }
    }

    #[test]
    fn htj2k_decodes_exactly() {
        assert_eq!(decode_jpeg2000(HTJ2K_GREY, expected(12, 8, 1, 16)).unwrap(), grey_image());
        assert_eq!(decode_jpeg2000(HTJ2K_RGB, expected(6, 4, 3, 8)).unwrap(), rgb_image());
    }

    /// The header is checked against the data set before OpenJPEG decodes anything.
    #[test]
    fn jpeg2000_must_match_the_data_set() {
        assert_eq!(
            decode_jpeg2000(HTJ2K_GREY, expected(8, 12, 1, 16)),
            Err(Jpeg2000Error::Geometry { found: (12, 8, 1), expected: (8, 12, 1) })
        );
        assert_eq!(
            decode_jpeg2000(HTJ2K_RGB, expected(6, 4, 1, 8)),
            Err(Jpeg2000Error::Geometry { found: (6, 4, 3), expected: (6, 4, 1) })
        );
        assert_eq!(
            decode_jpeg2000(HTJ2K_GREY, expected(12, 8, 1, 8)),
            Err(Jpeg2000Error::Precision { precision: 16, bits_allocated: 8 })
        );
        assert_eq!(
            decode_jpeg2000(HTJ2K_GREY, expected(1 << 15, 1 << 15, 1, 16)),
            Err(Jpeg2000Error::TooLarge { samples: 1 << 30 })
        );
        assert_eq!(decode_jpeg2000(b"not a codestream", expected(12, 8, 1, 16)), Err(Jpeg2000Error::NotJpeg2000));
        // Tiles of 1 × 1 (XTsiz, YTsiz): 96 of them.
        let mut tiny_tiles = HTJ2K_GREY.to_vec();
        tiny_tiles[24..32].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(decode_jpeg2000(&tiny_tiles, expected(12, 8, 1, 16)), Err(Jpeg2000Error::Tiles(96)));
        // Cut short: OpenJPEG's own error, not a crash.
        for end in [2, 20, 60, 120, HTJ2K_GREY.len() - 2] {
            assert!(decode_jpeg2000(&HTJ2K_GREY[..end], expected(12, 8, 1, 16)).is_err(), "{end}");
        }
    }

    /// Four byte planes, most significant first, with literal runs, a repeat and a no-op.
    #[test]
    fn rle32_reassembles_byte_planes() {
        let segments: [&[u8]; 4] = [
            &[0x00, 0x01, 0xFF, 0xAA],       // 01, then AA twice
            &[0x02, 0x02, 0xBB, 0xBB],       // literal of 3
            &[0x80, 0x00, 0x03, 0xFF, 0xCC], // no-op, 03, then CC twice
            &[0x02, 0x04, 0xDD, 0xDE, 0x00], // literal of 3, then padding
        ];
        let mut frame = vec![0u8; 64];
        frame[..4].copy_from_slice(&4u32.to_le_bytes());
        for (i, segment) in segments.iter().enumerate() {
            let at = frame.len() as u32;
            frame[4 + 4 * i..8 + 4 * i].copy_from_slice(&at.to_le_bytes());
            frame.extend_from_slice(segment);
        }
        let words: Vec<u8> = [0x0102_0304u32, 0xAABB_CCDD, 0xAABB_CCDE]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert_eq!(decode_rle(&frame, 3, 1, 4).unwrap(), words);
        assert_eq!(
            decode_rle(&frame, 4, 1, 4),
            Err(RleError::Short { segment: 0, bytes: 3, expected: 4 })
        );
        assert_eq!(
            decode_rle(&frame, 3, 3, 4),
            Err(RleError::Segments { found: 4, expected: 12 })
        );
    }
}
