//! Decoding one frame of encapsulated pixel data into native little-endian samples
//! (colour interleaved). JPEG 2000 goes to `hayro-jpeg2000` (pure Rust, builds for
//! wasm32); RLE and JPEG to dicom-pixeldata's pure-Rust decoders.

use std::borrow::Cow;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::instance::{text, Object};

/// JPEG 2000 Image Compression: lossless only, and lossless or lossy.
pub const JPEG_2000: &[&str] = &["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"];

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
    if LOSSY_JPEG.contains(&ts)
        && text(ds, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB")
    {
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
