//! Decoding one frame of encapsulated pixel data into native little-endian samples
//! (colour interleaved). JPEG 2000 goes to `hayro-jpeg2000` (pure Rust, builds for wasm32),
//! JPEG-LS to our own decoder (`super::jpegls`), 8-bit lossy JPEG to `super::jpeg`
//! (dcm2niix's arithmetic); RLE and other JPEG to dicom-pixeldata's pure-Rust decoders.

use std::borrow::Cow;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::{jpeg, jpegls, text};
use crate::instance::Object;

/// JPEG 2000 Image Compression: lossless only, and lossless or lossy.
pub const JPEG_2000: &[&str] = &["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"];

/// JPEG-LS: lossless, and near-lossless.
pub const JPEG_LS: &[&str] = &["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

/// RLE Lossless: dicom-pixeldata decodes its 8- and 16-bit forms, `decode_rle32` the 32-bit one.
pub const RLE: &str = "1.2.840.10008.1.2.5";

/// JPEG baseline and extended (8-bit).
const LOSSY_JPEG: &[&str] = &["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"];

type Value = dicom_core::value::Value<InMemDicomObject, Vec<u8>>;

/// Frame `frame` of `frames`, decoded.
pub fn decode_frame(
    object: &Object,
    value: &Value,
    ts: &str,
    frame: usize,
    frames: usize,
) -> Result<Vec<u8>, String> {
    if JPEG_2000.contains(&ts) {
        let ds: &InMemDicomObject = object;
        let bits = text(ds, tags::BITS_ALLOCATED)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(16);
        let codestream = frame_fragments(value, frame, frames)?;
        return decode_jpeg2000(&codestream, bits)
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    let ds: &InMemDicomObject = object;
    if ts == RLE && text(ds, tags::BITS_ALLOCATED).as_deref() == Some("32") {
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
        let stream = frame_fragments(value, frame, frames)?;
        let pixels = int(tags::COLUMNS).unwrap_or(0) * int(tags::ROWS).unwrap_or(0);
        return decode_rle32(&stream, pixels, int(tags::SAMPLES_PER_PIXEL).unwrap_or(1))
            .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    if JPEG_LS.contains(&ts) {
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
        let stream = frame_fragments(value, frame, frames)?;
        let expected = jpegls::Expected {
            columns: int(tags::COLUMNS).unwrap_or(0),
            rows: int(tags::ROWS).unwrap_or(0),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1),
            bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(16),
        };
        return jpegls::decode(&stream, expected)
        .map_err(|e| format!("pixel data in {ts} could not be decoded: {e}"));
    }
    let rgb = text(ds, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB");
    if LOSSY_JPEG.contains(&ts) && text(ds, tags::BITS_ALLOCATED).as_deref() == Some("8") {
        // dcm2niix's own decoder, byte for byte; what it does not decode (12-bit and
        // progressive streams among others) goes on to the general decoders below.
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
        let expected = jpeg::Expected {
            columns: int(tags::COLUMNS).unwrap_or(0),
            rows: int(tags::ROWS).unwrap_or(0),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1),
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
    /// The decoder rejected the stream.
    Decoder(String),
    /// A component is larger than the DICOM sample that should hold it.
    Precision {
        precision: u8,
        bits_allocated: usize,
    },
    /// Neither 1 (grey) nor 3 (colour) components.
    Components(usize),
}

impl std::fmt::Display for Jpeg2000Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jpeg2000Error::Decoder(e) => write!(f, "JPEG 2000: {e}"),
            Jpeg2000Error::Precision {
                precision,
                bits_allocated,
            } => write!(
                f,
                "JPEG 2000 component of {precision} bits in {bits_allocated}-bit samples"
            ),
            Jpeg2000Error::Components(n) => write!(f, "JPEG 2000 image with {n} components"),
        }
    }
}

/// Whether the first component of the codestream is signed (SIZ marker, Ssiz bit 7):
/// the decoder always adds the unsigned DC offset, which a signed component must lose.
fn first_component_signed(stream: &[u8]) -> bool {
    // SOC + SIZ, then Lsiz, Rsiz, 8 × 32-bit sizes, Csiz, and Ssiz of component 0.
    stream
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .and_then(|p| stream.get(p + 2 + 40))
        .is_some_and(|ssiz| ssiz & 0x80 != 0)
}

/// Decodes a JPEG 2000 codestream (raw or in a JP2 box) into `bits_allocated`-bit
/// little-endian samples, colour interleaved. Samples are rounded to the nearest
/// integer (ties to even) and clamped to the component's range, as OpenJPEG does.
pub fn decode_jpeg2000(stream: &[u8], bits_allocated: usize) -> Result<Vec<u8>, Jpeg2000Error> {
    use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};
    let settings = DecodeSettings {
        resolve_palette_indices: false,
        ..DecodeSettings::default()
    };
    let image =
        Image::new(stream, &settings).map_err(|e| Jpeg2000Error::Decoder(format!("{e:?}")))?;
    let precision = image.original_bit_depth();
    if precision as usize > bits_allocated || !matches!(bits_allocated, 8 | 16) {
        return Err(Jpeg2000Error::Precision {
            precision,
            bits_allocated,
        });
    }
    let signed = first_component_signed(stream);
    let mut context = DecoderContext::default();
    let decoded = image
        .decode(&mut context)
        .map_err(|e| Jpeg2000Error::Decoder(format!("{e:?}")))?;
    let components = decoded.components();
    if !matches!(components.len(), 1 | 3) {
        return Err(Jpeg2000Error::Components(components.len()));
    }
    let offset = (1u32 << (precision - 1)) as f32;
    let (low, high) = if signed {
        (-offset, offset - 1.0)
    } else {
        (0.0, 2.0 * offset - 1.0)
    };
    let shift = if signed { offset } else { 0.0 };
    let count = components[0].samples().len();
    let bpp = bits_allocated / 8;
    let mut out = vec![0u8; count * components.len() * bpp];
    for (c, component) in components.iter().enumerate() {
        for (i, &v) in component.samples().iter().enumerate() {
            let value = ((v - shift).round_ties_even()).clamp(low, high) as i32;
            let at = (i * components.len() + c) * bpp;
            match bpp {
                1 => out[at] = value as u8,
                _ => out[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes()),
            }
        }
    }
    Ok(out)
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

/// Decodes one RLE Lossless frame of 32-bit samples (PS3.5 Annex G): a 64-byte header
/// (segment count, 15 offsets), then per sample four PackBits segments, most significant
/// byte first. Returns little-endian samples, colour interleaved.
pub fn decode_rle32(frame: &[u8], pixels: usize, samples: usize) -> Result<Vec<u8>, RleError> {
    let word = |i: usize| -> Result<usize, RleError> {
        let b = frame.get(4 * i..4 * i + 4).ok_or(RleError::Header)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    };
    let count = word(0)?;
    let expected = 4 * samples;
    if count != expected || count > 15 {
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
        let bytes = unpack_bits(data, pixels);
        if bytes.len() < pixels {
            return Err(RleError::Short { segment, bytes: bytes.len(), expected: pixels });
        }
        let (sample, byte) = (segment / 4, 3 - segment % 4);
        for (i, &v) in bytes[..pixels].iter().enumerate() {
            out[(i * samples + sample) * 4 + byte] = v;
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
        assert_eq!(decode_rle32(&frame, 3, 1).unwrap(), words);
        assert_eq!(
            decode_rle32(&frame, 4, 1),
            Err(RleError::Short { segment: 0, bytes: 3, expected: 4 })
        );
        assert_eq!(
            decode_rle32(&frame, 3, 3),
            Err(RleError::Segments { found: 4, expected: 12 })
        );
    }
}
