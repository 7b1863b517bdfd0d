//! An image's frames decoded one at a time into the samples the cleaned file will hold
//! (native little-endian, colour interleaved; YBR and palette colour as RGB), and a frame's
//! display grey ([`Luma`]) for the detector and the review's thumbnail.

use std::borrow::Cow;

use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::codec::frame;
use crate::dicom::{self, number, text, Object, Split};
use crate::error::RedactError;

use super::{Luma, Rect};

/// How the stored samples become RGB (or stay grey).
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// MONOCHROME1 (`inverted`: its black is the highest value) or MONOCHROME2.
    Grey { inverted: bool },
    /// RGB as stored, or as the decoder gives it (lossy JPEG's YCbCr, JPEG 2000's RCT/ICT).
    Rgb,
    /// YBR_FULL samples left as they are by the decoder: converted to RGB here.
    Ybr,
    /// Native YBR_FULL_422: Y1 Y2 Cb Cr for each pair of pixels.
    Ybr422,
    /// PALETTE COLOR: indices looked up in the red, green and blue tables.
    Palette(Palette),
}

/// A palette's three tables (PS3.3 C.7.6.3.1.5): entries from the first mapped index.
#[derive(Debug, Clone, PartialEq)]
struct Palette {
    first: i64,
    bits: usize,
    tables: [Vec<u16>; 3],
}

/// What the attributes say of the stored frames, checked to be ones this engine cleans.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    pub columns: usize,
    pub rows: usize,
    pub frames: usize,
    pub samples: usize,
    pub bits: usize,
    pub bits_stored: usize,
    pub signed: bool,
    /// Colour planes one after the other (native PlanarConfiguration 1).
    pub planar: bool,
    pub photometric: String,
    pub transfer_syntax: String,
    kind: Kind,
    /// Window centre and width, and the rescale slope and intercept, for the display grey.
    window: Option<(f64, f64)>,
    rescale: (f64, f64),
}

/// The samples of the cleaned file: photometric, samples per pixel, bits (allocated, stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub photometric: &'static str,
    pub samples: usize,
    pub bits: usize,
    pub bits_stored: usize,
    pub signed: bool,
}

fn int(ds: &InMemDicomObject, tag: dicom_core::Tag) -> Option<usize> {
    text(ds, tag).and_then(|v| v.trim().parse::<usize>().ok())
}

impl Format {
    /// The stored frames of `object` (its header is enough), or why they cannot be cleaned.
    pub fn of(object: &Object) -> Result<Format, RedactError> {
        let ds: &InMemDicomObject = object;
        let ts = object.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_string();
        let bits = int(ds, tags::BITS_ALLOCATED).unwrap_or(0);
        let bits_stored = int(ds, tags::BITS_STORED).unwrap_or(bits).clamp(1, bits.max(1));
        if let Some(why) = frame::undecodable(&ts, bits_stored as u16) {
            return Err(RedactError::TransferSyntax(why));
        }
        let photometric = text(ds, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default().trim().to_uppercase();
        let samples = int(ds, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let kind = kind(ds, &photometric, &ts)?;
        let (grey, eight_only) = match kind {
            Kind::Grey { .. } | Kind::Palette(_) => (true, false),
            Kind::Ybr | Kind::Ybr422 => (false, true),
            Kind::Rgb => (false, false),
        };
        let bits_fit = matches!((bits, eight_only), (8, _) | (16, false));
        if samples != if grey { 1 } else { 3 } || !bits_fit {
            return Err(RedactError::Layout { photometric, samples, bits_allocated: bits });
        }
        let (columns, rows) = (int(ds, tags::COLUMNS).unwrap_or(0), int(ds, tags::ROWS).unwrap_or(0));
        let frames = int(ds, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
        if columns == 0 || rows == 0 || (kind == Kind::Ybr422 && columns % 2 == 1) {
            return Err(RedactError::Size { columns, rows });
        }
        let window = number(ds, tags::WINDOW_CENTER).zip(number(ds, tags::WINDOW_WIDTH)).filter(|w| w.1 >= 1.0);
        let rescale = (number(ds, tags::RESCALE_SLOPE).unwrap_or(1.0), number(ds, tags::RESCALE_INTERCEPT).unwrap_or(0.0));
        Ok(Format {
            columns,
            rows,
            frames,
            samples,
            bits,
            bits_stored,
            signed: int(ds, tags::PIXEL_REPRESENTATION) == Some(1) && grey,
            planar: samples > 1 && int(ds, tags::PLANAR_CONFIGURATION) == Some(1),
            photometric,
            transfer_syntax: ts,
            kind,
            window,
            rescale,
        })
    }

    /// What the cleaned file holds.
    pub fn output(&self) -> Output {
        match &self.kind {
            Kind::Grey { inverted } => Output {
                photometric: if *inverted { "MONOCHROME1" } else { "MONOCHROME2" },
                samples: 1,
                bits: self.bits,
                bits_stored: self.bits_stored,
                signed: self.signed,
            },
            Kind::Palette(p) => Output { photometric: "RGB", samples: 3, bits: p.bits, bits_stored: p.bits, signed: false },
            _ => Output { photometric: "RGB", samples: 3, bits: self.bits, bits_stored: self.bits_stored, signed: false },
        }
    }

    /// Bytes of one stored native frame.
    fn stored_len(&self) -> usize {
        let pixels = self.columns * self.rows;
        match self.kind {
            Kind::Ybr422 => pixels * 2,
            _ => pixels * self.samples * self.bits / 8,
        }
    }

    /// Bytes of one decoded (encapsulated) frame: colour interleaved, full resolution.
    fn decoded_len(&self) -> usize {
        self.columns * self.rows * self.samples * self.bits / 8
    }

    /// Bytes of one frame of the cleaned file.
    pub fn output_len(&self) -> usize {
        let out = self.output();
        self.columns * self.rows * out.samples * out.bits / 8
    }
}

/// How `photometric` samples in transfer syntax `ts` come out of the decoder.
fn kind(ds: &InMemDicomObject, photometric: &str, ts: &str) -> Result<Kind, RedactError> {
    let lossy_jpeg = frame::LOSSY_JPEG.contains(&ts);
    let jpeg_2000 = frame::JPEG_2000.contains(&ts) || frame::HTJ2K.contains(&ts);
    let native = frame::NATIVE_TS.contains(&ts);
    Ok(match photometric {
        "MONOCHROME1" => Kind::Grey { inverted: true },
        "MONOCHROME2" => Kind::Grey { inverted: false },
        "RGB" => Kind::Rgb,
        "YBR_FULL" | "YBR_FULL_422" if lossy_jpeg => Kind::Rgb,
        "YBR_FULL" => Kind::Ybr,
        "YBR_FULL_422" if native => Kind::Ybr422,
        "YBR_RCT" | "YBR_ICT" if jpeg_2000 => Kind::Rgb,
        "PALETTE COLOR" => Kind::Palette(palette(ds)?),
        _ => return Err(RedactError::Photometric { photometric: photometric.to_string(), transfer_syntax: ts.to_string() }),
    })
}

/// The palette's tables from its descriptors and data (segmented palettes are not read).
fn palette(ds: &InMemDicomObject) -> Result<Palette, RedactError> {
    let descriptors = [tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR];
    let data = [tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA];
    let mut tables: [Vec<u16>; 3] = Default::default();
    let (mut first, mut bits) = (0, 8);
    for c in 0..3 {
        let missing = || RedactError::Palette(format!("no {} table", ["red", "green", "blue"][c]));
        let d = ds.element(descriptors[c]).ok().and_then(|e| e.value().to_multi_int::<i64>().ok()).ok_or_else(missing)?;
        let [entries, from, depth] = <[i64; 3]>::try_from(d).map_err(|_| RedactError::Palette("a descriptor without 3 values".into()))?;
        // 0 entries means 65,536 (PS3.3 C.7.6.3.1.5); the first index is unsigned when stored as US.
        let entries = if entries == 0 { 65536 } else { entries as u16 as usize };
        let bytes = ds.element(data[c]).ok().and_then(|e| e.value().to_bytes().ok().map(Cow::into_owned)).ok_or_else(missing)?;
        let words: Vec<u16> = match depth {
            8 if bytes.len() == entries => bytes.iter().map(|&b| b as u16).collect(),
            _ => bytes.chunks_exact(2).map(|w| u16::from_le_bytes([w[0], w[1]])).collect(),
        };
        // 8-bit entries written in the high byte of each word by some writers.
        let high = depth == 8 && words.iter().any(|&w| w > 255);
        tables[c] = words.into_iter().take(entries).map(|w| if high { w >> 8 } else { w }).collect();
        if tables[c].is_empty() || !matches!(depth, 8 | 16) {
            return Err(RedactError::Palette(format!("{} entries of {depth} bits", tables[c].len())));
        }
        (first, bits) = (from as u16 as i64, depth as usize);
    }
    Ok(Palette { first, bits, tables })
}

/// Where the frames come from: native samples (the file's own bytes, or the parser's), or a
/// whole parsed object whose encapsulated frames are decoded one at a time.
enum Source<'a> {
    Native(Cow<'a, [u8]>),
    Encapsulated(Box<Object>),
}

/// An image being cleaned: its format and its frames, decoded on demand (one in memory).
pub struct Image<'a> {
    pub format: Format,
    source: Source<'a>,
}

impl<'a> Image<'a> {
    /// The image of a file read for the export (`split`, from `bytes`): native samples are
    /// read where the file holds them; otherwise the file is parsed whole for its pixel data.
    pub fn open(split: &Split<'a>, bytes: &'a [u8]) -> Result<Image<'a>, RedactError> {
        let format = Format::of(&split.object)?;
        let source = match split.native_pixels() {
            Some(pixels) => Source::Native(Cow::Borrowed(pixels)),
            None => {
                let whole = dicom::parse(bytes, false).map_err(|e| RedactError::Decode { frame: 0, why: e.to_string() })?;
                let element = whole.element(tags::PIXEL_DATA).map_err(|_| RedactError::NoPixelData)?;
                match element.value() {
                    Value::Primitive(p) => Source::Native(Cow::Owned(p.to_bytes().into_owned())),
                    Value::PixelSequence(_) => Source::Encapsulated(Box::new(whole)),
                    Value::Sequence(_) => return Err(RedactError::NoPixelData),
                }
            }
        };
        if let Source::Native(data) = &source {
            let expected = format.stored_len().checked_mul(format.frames).unwrap_or(usize::MAX);
            if data.len() < expected {
                return Err(RedactError::Short { bytes: data.len(), expected });
            }
        }
        Ok(Image { format, source })
    }

    /// Whether a frame's decoding can fail (compressed): the export then decodes every frame
    /// once before it writes any.
    pub fn compressed(&self) -> bool {
        matches!(self.source, Source::Encapsulated(_))
    }

    /// Frame `f` as stored (native) or decoded.
    fn stored(&self, f: usize) -> Result<Cow<'_, [u8]>, RedactError> {
        let format = &self.format;
        match &self.source {
            Source::Native(data) => {
                let len = format.stored_len();
                Ok(Cow::Borrowed(&data[f * len..(f + 1) * len]))
            }
            Source::Encapsulated(object) => {
                let value = object.element(tags::PIXEL_DATA).map_err(|_| RedactError::NoPixelData)?.value();
                let mut decoded = frame::decode_frame(object, value, &format.transfer_syntax, f, format.frames)
                    .map_err(|why| RedactError::Decode { frame: f, why })?;
                let expected = format.decoded_len();
                if decoded.len() < expected {
                    return Err(RedactError::Decode { frame: f, why: format!("{} bytes decoded, {expected} expected", decoded.len()) });
                }
                decoded.truncate(expected);
                Ok(Cow::Owned(decoded))
            }
        }
    }

    /// Frame `f` as the cleaned file holds it (see [`Format::output`]).
    pub fn frame(&self, f: usize) -> Result<Vec<u8>, RedactError> {
        let format = &self.format;
        let stored = self.stored(f)?;
        let native = matches!(self.source, Source::Native(_));
        let interleaved = match native && format.planar {
            true => interleave(&stored, format.columns * format.rows, format.bits / 8),
            false => stored.into_owned(),
        };
        Ok(match &format.kind {
            Kind::Grey { .. } | Kind::Rgb => interleaved,
            Kind::Ybr => interleaved.chunks_exact(3).flat_map(|p| ybr_to_rgb(p[0], p[1], p[2])).collect(),
            Kind::Ybr422 => interleaved
                .chunks_exact(4)
                .flat_map(|q| ybr_to_rgb(q[0], q[2], q[3]).into_iter().chain(ybr_to_rgb(q[1], q[2], q[3])))
                .collect(),
            Kind::Palette(p) => lookup(p, &interleaved, format.bits),
        })
    }

    /// The value a box is filled with, per sample: black as the image is displayed.
    fn black(&self) -> i64 {
        let out = self.format.output();
        let bits = out.bits_stored as u32;
        match (out.photometric, out.signed) {
            ("MONOCHROME1", false) => (1i64 << bits) - 1,
            ("MONOCHROME1", true) => (1i64 << (bits - 1)) - 1,
            ("MONOCHROME2", true) => -(1i64 << (bits - 1)),
            _ => 0,
        }
    }

    /// Fills `boxes` (clipped to the image) in `frame` (as [`Image::frame`] gives it) with black.
    pub fn fill(&self, frame: &mut [u8], boxes: &[Rect]) {
        let out = self.format.output();
        let bytes = out.bits / 8;
        let black = self.black();
        let value: Vec<u8> = match bytes {
            1 => vec![black as u8; out.samples],
            _ => (0..out.samples).flat_map(|_| (black as u16).to_le_bytes()).collect(),
        };
        let (columns, rows) = (self.format.columns, self.format.rows);
        let pixel = value.len();
        for r in boxes.iter().filter_map(|b| b.clip(columns as u32, rows as u32)) {
            for y in r.y as usize..(r.y + r.height) as usize {
                let start = (y * columns + r.x as usize) * pixel;
                let row = &mut frame[start..start + r.width as usize * pixel];
                row.chunks_exact_mut(pixel).for_each(|p| p.copy_from_slice(&value));
            }
        }
    }

    /// Sets every pixel of `frame` (as [`Image::frame`] gives it) where `mask` (row-major, a
    /// flag per pixel) holds to the stored `value` on every sample, clamped to the samples' range.
    pub fn fill_where(&self, frame: &mut [u8], mask: &[bool], value: i64) {
        let out = self.format.output();
        let bits = out.bits_stored.min(out.bits) as u32;
        let (low, high) = match out.signed {
            true => (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1),
            false => (0, (1i64 << bits) - 1),
        };
        let value = value.clamp(low, high);
        let sample: Vec<u8> = match out.bits / 8 {
            1 => vec![value as u8],
            _ => (value as u16).to_le_bytes().to_vec(),
        };
        let pixel = sample.len() * out.samples;
        for (p, _) in frame.chunks_exact_mut(pixel).zip(mask).filter(|(_, &m)| m) {
            p.chunks_exact_mut(sample.len()).for_each(|s| s.copy_from_slice(&sample));
        }
    }

    /// The display grey of `frame` (as [`Image::frame`] gives it).
    pub fn luma(&self, frame: &[u8]) -> Luma {
        let format = &self.format;
        let out = format.output();
        let pixels = match (&format.kind, out.samples) {
            (Kind::Grey { inverted }, _) => {
                let grey = grey_display(format, frame);
                if *inverted { grey.into_iter().map(|v| 255 - v).collect() } else { grey }
            }
            (_, _) => {
                let shift = out.bits_stored.saturating_sub(8) as u32;
                let sample = |p: &[u8], c: usize| -> u32 {
                    match out.bits {
                        8 => p[c] as u32,
                        _ => (u16::from_le_bytes([p[2 * c], p[2 * c + 1]]) >> shift).min(255) as u32,
                    }
                };
                frame
                    .chunks_exact(3 * out.bits / 8)
                    .map(|p| ((77 * sample(p, 0) + 150 * sample(p, 1) + 29 * sample(p, 2) + 128) >> 8) as u8)
                    .collect()
            }
        };
        Luma { width: format.columns as u32, height: format.rows as u32, pixels }
    }
}

/// The grey samples of a frame as stored values (masked, sign-extended to Bits Stored).
fn grey_values(format: &Format, frame: &[u8]) -> Vec<i64> {
    let bits = format.bits_stored as u32;
    let mask = (1i64 << bits) - 1;
    let value = |raw: i64| -> i64 {
        let v = raw & mask;
        if format.signed && v >> (bits - 1) == 1 { v - (1 << bits) } else { v }
    };
    match format.bits {
        8 => frame.iter().map(|&b| value(b as i64)).collect(),
        _ => frame.chunks_exact(2).map(|w| value(u16::from_le_bytes([w[0], w[1]]) as i64)).collect(),
    }
}

/// A grey frame for display, as MONOCHROME2: 8-bit samples as they are (signed ones shifted);
/// deeper ones through the window when the file has one, else the frame's range.
fn grey_display(format: &Format, frame: &[u8]) -> Vec<u8> {
    let values = grey_values(format, frame);
    if format.bits_stored <= 8 {
        let offset = if format.signed { 128 } else { 0 };
        return values.into_iter().map(|v| (v + offset).clamp(0, 255) as u8).collect();
    }
    if let Some((centre, width)) = format.window {
        let (slope, intercept) = format.rescale;
        // PS3.3 C.11.2.1.2.1, the linear function.
        return values
            .into_iter()
            .map(|v| {
                let x = v as f64 * slope + intercept;
                let y = ((x - (centre - 0.5)) / (width - 1.0).max(1.0) + 0.5) * 255.0;
                y.round().clamp(0.0, 255.0) as u8
            })
            .collect();
    }
    let (low, high) = values.iter().fold((i64::MAX, i64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let span = (high - low).max(1);
    values.into_iter().map(|v| ((v - low) * 255 / span) as u8).collect()
}

/// Colour planes (R…, G…, B…) of `pixels` pixels of `bytes` bytes each, interleaved.
fn interleave(planes: &[u8], pixels: usize, bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; planes.len()];
    for (c, plane) in planes.chunks_exact(pixels * bytes).enumerate().take(3) {
        for (i, sample) in plane.chunks_exact(bytes).enumerate() {
            let at = (i * 3 + c) * bytes;
            out[at..at + bytes].copy_from_slice(sample);
        }
    }
    out
}

/// One YBR_FULL pixel as RGB (PS3.3 C.7.6.3.1.2, ITU-R BT.601 full range), in 16-bit fixed
/// point so that every platform rounds alike.
fn ybr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = ((y as i32) << 16, cb as i32 - 128, cr as i32 - 128);
    let half = 1 << 15;
    let clamp = |v: i32| (v >> 16).clamp(0, 255) as u8;
    [
        clamp(y + 91_881 * cr + half),
        clamp(y - 22_554 * cb - 46_802 * cr + half),
        clamp(y + 116_130 * cb + half),
    ]
}

/// Palette indices (8 or 16 bits) as RGB samples of the palette's depth.
fn lookup(p: &Palette, indices: &[u8], bits: usize) -> Vec<u8> {
    let at = |table: &Vec<u16>, i: i64| table[(i - p.first).clamp(0, table.len() as i64 - 1) as usize];
    let index = |k: usize| -> i64 {
        match bits {
            8 => indices[k] as i64,
            _ => u16::from_le_bytes([indices[2 * k], indices[2 * k + 1]]) as i64,
        }
    };
    let count = indices.len() / (bits / 8);
    let mut out = Vec::with_capacity(count * 3 * p.bits / 8);
    for k in 0..count {
        let i = index(k);
        for table in &p.tables {
            match p.bits {
                8 => out.push(at(table, i) as u8),
                _ => out.extend(at(table, i).to_le_bytes()),
            }
        }
    }
    out
}
