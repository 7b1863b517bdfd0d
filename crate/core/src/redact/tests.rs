//! The engine on images built here (native, RLE, JPEG; grey, RGB, YBR, palette) and on
//! pydicom's test files (JPEG-LS, JPEG 2000, big endian) when they are fetched.

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::*;

pub(crate) const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const RLE: &str = "1.2.840.10008.1.2.5";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

/// A DICOM file of `attributes` (tag, VR, value) and `pixels`, in transfer syntax `ts`.
pub(crate) fn file(ts: &str, attributes: &[(Tag, VR, &str)], pixels: Value<InMemDicomObject, Vec<u8>>) -> Vec<u8> {
    let value = |vr, v: &str| match vr {
        VR::US => PrimitiveValue::U16(v.split('\\').map(|n| n.parse().unwrap()).collect()),
        _ => PrimitiveValue::from(v),
    };
    let mut ds = InMemDicomObject::from_element_iter(attributes.iter().map(|&(tag, vr, v)| DataElement::new(tag, vr, value(vr, v))));
    for (tag, vr, v) in [
        (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.4"),
        (tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
    ] {
        if ds.element(tag).is_err() {
            ds.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
    }
    let vr = match &pixels {
        Value::Primitive(PrimitiveValue::U16(_)) => VR::OW,
        _ => VR::OB,
    };
    ds.put(DataElement::new(tags::PIXEL_DATA, vr, pixels));
    let meta = crate::dicom::meta("1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5", ts).unwrap();
    let mut out = Vec::new();
    ds.with_exact_meta(meta).write_all(&mut out).unwrap();
    out
}

/// The pixel description of a `columns` × `rows` image of `frames` frames.
pub(crate) fn described<'a>(photometric: &'a str, samples: &'a str, bits: &'a str, signed: &'a str, size: (&'a str, &'a str), frames: &'a str) -> Vec<(Tag, VR, &'a str)> {
    let stored = if bits == "16" { "12" } else { "8" };
    let high = if bits == "16" { "11" } else { "7" };
    vec![
        (tags::SAMPLES_PER_PIXEL, VR::US, samples),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric),
        (tags::NUMBER_OF_FRAMES, VR::IS, frames),
        (tags::ROWS, VR::US, size.1),
        (tags::COLUMNS, VR::US, size.0),
        (tags::BITS_ALLOCATED, VR::US, bits),
        (tags::BITS_STORED, VR::US, stored),
        (tags::HIGH_BIT, VR::US, high),
        (tags::PIXEL_REPRESENTATION, VR::US, signed),
    ]
}

fn native(bytes: Vec<u8>) -> Value<InMemDicomObject, Vec<u8>> {
    Value::Primitive(PrimitiveValue::U8(bytes.into()))
}

fn image_of(bytes: &[u8]) -> (Image<'_>, Vec<Vec<u8>>) {
    let split = crate::dicom::parse_split(bytes, false).unwrap();
    let image = Image::open(&split, bytes).unwrap();
    let frames = (0..image.format.frames).map(|f| image.frame(f).unwrap()).collect();
    (image, frames)
}

/// A box at (2, 1), 3 × 2.
const BOX: Rect = Rect { x: 2, y: 1, width: 3, height: 2 };

/// Fills BOX in every frame and checks each sample: `black` inside, the frame's own outside.
/// Whether the box changed every frame.
fn check_fill(image: &Image, frames: &[Vec<u8>], black: &[u8]) -> bool {
    let mut changed = true;
    let (columns, pixel) = (image.format.columns, black.len());
    for frame in frames {
        let mut filled = frame.clone();
        image.fill(&mut filled, &[BOX]);
        for (i, (got, was)) in filled.chunks(pixel).zip(frame.chunks(pixel)).enumerate() {
            let inside = BOX.contains((i % columns) as u32, (i / columns) as u32);
            assert_eq!(got, if inside { black } else { was }, "pixel {i}");
        }
        changed &= &filled != frame;
    }
    changed
}

/// 16-bit grey, 3 frames: each frame as stored; black per photometric and sign.
#[test]
fn grey_frames_are_filled_with_the_displayed_black() {
    let samples: Vec<u8> = (0..6 * 4 * 3u16).flat_map(|i| (i * 37 % 4000 + 5).to_le_bytes()).collect();
    for (photometric, signed, black) in [("MONOCHROME2", "0", 0u16), ("MONOCHROME2", "1", 0xF800), ("MONOCHROME1", "0", 4095), ("MONOCHROME1", "1", 2047)] {
        let bytes = file(EXPLICIT, &described(photometric, "1", "16", signed, ("6", "4"), "3"), native(samples.clone()));
        let (image, frames) = image_of(&bytes);
        assert_eq!(frames.concat(), samples);
        assert!(check_fill(&image, &frames, &black.to_le_bytes()));
        assert_eq!(image.format.output().photometric, photometric);
    }
}

/// RGB stored plane by plane (PlanarConfiguration 1) comes out interleaved.
#[test]
fn planar_rgb_is_interleaved() {
    let (r, g, b) = (vec![10u8; 24], vec![20u8; 24], vec![30u8; 24]);
    let mut attributes = described("RGB", "3", "8", "0", ("6", "4"), "1");
    attributes.push((tags::PLANAR_CONFIGURATION, VR::US, "1"));
    let bytes = file(EXPLICIT, &attributes, native([r, g, b].concat()));
    let (image, frames) = image_of(&bytes);
    assert_eq!(frames[0], [10u8, 20, 30].repeat(24));
    assert!(check_fill(&image, &frames, &[0, 0, 0]));
}

/// YBR_FULL and native YBR_FULL_422 become RGB (BT.601 full range): grey stays grey, pure
/// colours come back within a rounding.
#[test]
fn ybr_becomes_rgb() {
    // Red (255, 0, 0) is Y 76, Cb 85, Cr 255; blue (0, 0, 255) is Y 29, Cb 255, Cr 107.
    let full = [[128u8, 128, 128], [76, 85, 255], [29, 255, 107], [255, 128, 128]].concat();
    let bytes = file(EXPLICIT, &described("YBR_FULL", "3", "8", "0", ("2", "2"), "1"), native(full));
    let (image, frames) = image_of(&bytes);
    let expected = [[128u8, 128, 128], [255, 0, 0], [0, 0, 255], [255, 255, 255]].concat();
    assert!(frames[0].iter().zip(&expected).all(|(a, b)| a.abs_diff(*b) <= 1), "{:?}", frames[0]);
    assert_eq!(image.format.output().photometric, "RGB");
    // 4:2:2: Y1 Y2 Cb Cr for each pair of pixels.
    let half = [[128u8, 200, 128, 128], [76, 76, 85, 255]].concat();
    let bytes = file(EXPLICIT, &described("YBR_FULL_422", "3", "8", "0", ("2", "2"), "1"), native(half));
    let (_, frames) = image_of(&bytes);
    let expected = [[128u8, 128, 128], [200, 200, 200], [255, 0, 0], [255, 0, 0]].concat();
    assert!(frames[0].iter().zip(&expected).all(|(a, b)| a.abs_diff(*b) <= 1), "{:?}", frames[0]);
}

/// Palette colour becomes RGB through its tables (16-bit entries stay 16-bit); indices before
/// the first mapped one take the first entry.
#[test]
fn palette_becomes_rgb() {
    let mut attributes = described("PALETTE COLOR", "1", "8", "0", ("2", "2"), "1");
    attributes.extend([
        (tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, VR::US, "3\\10\\16"),
        (tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, VR::US, "3\\10\\16"),
        (tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, VR::US, "3\\10\\16"),
    ]);
    let mut ds_bytes = file(EXPLICIT, &attributes, native(vec![10, 11, 12, 3]));
    // The tables, put in after: OW words.
    let mut object = crate::dicom::parse(&ds_bytes, false).unwrap();
    for (tag, words) in [
        (tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, [0u16, 1000, 65535]),
        (tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA, [1, 2, 3]),
        (tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA, [7, 8, 9]),
    ] {
        object.put(DataElement::new(tag, VR::OW, PrimitiveValue::U16(words.to_vec().into())));
    }
    ds_bytes.clear();
    object.write_all(&mut ds_bytes).unwrap();
    let (image, frames) = image_of(&ds_bytes);
    let rgb = |r: u16, g: u16, b: u16| [r.to_le_bytes(), g.to_le_bytes(), b.to_le_bytes()].concat();
    assert_eq!(frames[0], [rgb(0, 1, 7), rgb(1000, 2, 8), rgb(65535, 3, 9), rgb(0, 1, 7)].concat());
    assert_eq!(image.format.output(), Output { photometric: "RGB", samples: 3, bits: 16, bits_stored: 16, signed: false });
    // Palette without tables: not cleanable.
    let bare = file(EXPLICIT, &attributes, native(vec![0; 4]));
    let split = crate::dicom::parse_split(&bare, false).unwrap();
    assert!(matches!(cleanable(&split.object), Err(RedactError::Palette(_))));
}

/// PackBits of `data` as literal runs of up to 128 bytes.
fn pack_bits(data: &[u8]) -> Vec<u8> {
    data.chunks(128).flat_map(|run| std::iter::once((run.len() - 1) as u8).chain(run.iter().copied())).collect()
}

/// One RLE frame (PS3.5 G) of interleaved 8-bit samples: one segment per sample.
fn rle_frame(interleaved: &[u8], samples: usize) -> Vec<u8> {
    let segments: Vec<Vec<u8>> = (0..samples)
        .map(|s| pack_bits(&interleaved.iter().skip(s).step_by(samples).copied().collect::<Vec<_>>()))
        .map(|mut seg| {
            seg.resize(seg.len() + seg.len() % 2, 0);
            seg
        })
        .collect();
    let mut header = vec![0u8; 64];
    header[..4].copy_from_slice(&(samples as u32).to_le_bytes());
    let mut at = 64u32;
    for (i, seg) in segments.iter().enumerate() {
        header[4 + 4 * i..8 + 4 * i].copy_from_slice(&at.to_le_bytes());
        at += seg.len() as u32;
    }
    [header, segments.concat()].concat()
}

fn fragments(frames: Vec<Vec<u8>>) -> Value<InMemDicomObject, Vec<u8>> {
    Value::PixelSequence(PixelFragmentSequence::new_fragments(frames))
}

/// RLE RGB, 2 frames: decoded exactly, filled on each.
#[test]
fn rle_frames_are_decoded_and_filled() {
    let frames: Vec<Vec<u8>> = (0..2u8).map(|f| (0..8 * 5 * 3).map(|i| (i as u8).wrapping_mul(7).wrapping_add(f * 50)).collect()).collect();
    let encoded = frames.iter().map(|f| rle_frame(f, 3)).collect();
    let bytes = file(RLE, &described("RGB", "3", "8", "0", ("8", "5"), "2"), fragments(encoded));
    let (image, decoded) = image_of(&bytes);
    assert!(image.compressed());
    assert_eq!(decoded, frames);
    assert!(check_fill(&image, &decoded, &[0, 0, 0]));
}

/// Baseline JPEG stored as YBR_FULL_422: the decoder's RGB, grey where the image is grey.
#[test]
fn jpeg_ycbcr_is_decoded_to_rgb() {
    let (w, h) = (16u16, 8u16);
    let rgb: Vec<u8> = (0..w as usize * h as usize).flat_map(|i| { let v = (i * 3 % 200) as u8 + 20; [v, v, v] }).collect();
    let mut stream = Vec::new();
    jpeg_encoder::Encoder::new(&mut stream, 100).encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    let bytes = file(JPEG_BASELINE, &described("YBR_FULL_422", "3", "8", "0", ("16", "8"), "1"), fragments(vec![stream]));
    let (image, frames) = image_of(&bytes);
    assert_eq!(image.format.output().photometric, "RGB");
    let worst = frames[0].iter().zip(&rgb).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 3, "largest difference {worst}");
    assert!(check_fill(&image, &frames, &[0, 0, 0]));
}

/// The display grey: MONOCHROME1 inverted, the window when there is one, else the frame's
/// range; RGB by integer luminance weights.
#[test]
fn luma_is_the_displayed_grey() {
    let samples: Vec<u8> = [100u16, 200, 300, 1100].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = file(EXPLICIT, &described("MONOCHROME2", "1", "16", "0", ("2", "2"), "1"), native(samples.clone()));
    let (image, frames) = image_of(&bytes);
    assert_eq!(image.luma(&frames[0]).pixels, [0, 25, 51, 255]);
    let mut windowed = described("MONOCHROME1", "1", "16", "0", ("2", "2"), "1");
    windowed.extend([(tags::WINDOW_CENTER, VR::DS, "200"), (tags::WINDOW_WIDTH, VR::DS, "101")]);
    let bytes = file(EXPLICIT, &windowed, native(samples));
    let (image, frames) = image_of(&bytes);
    // 100 → below the window (black, shown white as MONOCHROME1); 200 → just past its middle
    // ((200 − 199.5) / 100 + 0.5) × 255 = 128.8, inverted; 300 → above.
    assert_eq!(image.luma(&frames[0]).pixels, [255, 126, 0, 0]);
    let bytes = file(EXPLICIT, &described("RGB", "3", "8", "0", ("2", "1"), "1"), native(vec![255, 0, 0, 0, 0, 255]));
    let (image, frames) = image_of(&bytes);
    assert_eq!(image.luma(&frames[0]), Luma { width: 2, height: 1, pixels: vec![77, 29] });
}

#[test]
fn the_preview_is_the_first_frame() {
    let samples: Vec<u8> = (0..2 * 4 * 3u8).collect();
    let bytes = file(EXPLICIT, &described("MONOCHROME2", "1", "8", "0", ("4", "2"), "3"), native(samples.clone()));
    let preview = preview(&bytes).unwrap();
    assert_eq!((preview.columns, preview.rows, preview.frames), (4, 2, 3));
    assert_eq!(preview.luma.pixels, samples[..8]);
}

/// Area average, aspect kept; a small image as it is.
#[test]
fn thumbnails_average_areas() {
    let luma = Luma { width: 4, height: 2, pixels: vec![0, 100, 200, 200, 100, 0, 50, 51] };
    assert_eq!(thumbnail(&luma, 2), Luma { width: 2, height: 1, pixels: vec![50, 125] });
    assert_eq!(thumbnail(&luma, 8), luma);
    let big = Luma { width: 640, height: 480, pixels: vec![9; 640 * 480] };
    let small = thumbnail(&big, 160);
    assert_eq!((small.width, small.height), (160, 120));
    assert!(small.pixels.iter().all(|&p| p == 9));
}

#[test]
fn overlapping_boxes_merge() {
    let a = Rect { x: 0, y: 0, width: 10, height: 10 };
    let b = Rect { x: 5, y: 5, width: 10, height: 2 };
    let c = Rect { x: 100, y: 0, width: 1, height: 1 };
    assert_eq!(merge(vec![c, b, a]), vec![Rect { x: 0, y: 0, width: 15, height: 10 }, c]);
}

/// Video, subsampled YBR, one-bit samples and unknown photometrics are not cleaned.
#[test]
fn what_is_not_cleanable_says_why() {
    let header = |ts: &str, photometric: &str, samples: &str, bits: &str| {
        let bytes = file(ts, &described(photometric, samples, bits, "0", ("4", "2"), "1"), native(vec![0; 24]));
        cleanable(&crate::dicom::parse_split(&bytes, false).unwrap().object)
    };
    assert!(matches!(header("1.2.840.10008.1.2.4.102", "YBR_PARTIAL_420", "3", "8"), Err(RedactError::TransferSyntax(_))));
    assert!(matches!(header(EXPLICIT, "YBR_PARTIAL_420", "3", "8"), Err(RedactError::Photometric { .. })));
    assert!(matches!(header(EXPLICIT, "MONOCHROME2", "1", "1"), Err(RedactError::Layout { .. })));
    assert!(matches!(header(EXPLICIT, "RGB", "1", "8"), Err(RedactError::Layout { .. })));
    assert!(matches!(header(EXPLICIT, "YBR_FULL", "3", "16"), Err(RedactError::Layout { .. })));
    assert_eq!(header(EXPLICIT, "RGB", "3", "8"), Ok(()));
}

/// pydicom's test files, when fetched (target/fixtures): the same MR image in every encoding
/// decodes to the same frames as the native one.
#[test]
fn every_encoding_of_one_image_decodes_alike() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures/pydicom/test_files");
    let Ok(reference) = std::fs::read(dir.join("MR_small.dcm")) else {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    };
    let (_, expected) = image_of(&reference);
    for name in ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let (image, frames) = image_of(&bytes);
        assert!(frames == expected, "{name}: other samples");
        let out = image.format.output();
        assert!(out.signed && out.photometric == "MONOCHROME2", "{name}");
        assert!(check_fill(&image, &frames, &(-(1i32 << (out.bits_stored - 1)) as i16).to_le_bytes()), "{name}");
    }
    for name in ["SC_rgb_rle_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_jpeg_gdcm.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "examples_palette.dcm", "examples_ybr_color.dcm", "SC_ybr_full_422_uncompressed.dcm", "SC_rgb_jls_lossy_sample.dcm", "examples_jpeg2k.dcm"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let (image, frames) = image_of(&bytes);
        let out = image.format.output();
        assert_eq!((out.photometric, frames[0].len()), ("RGB", image.format.output_len()), "{name}");
        check_fill(&image, &frames, &vec![0; 3 * out.bits / 8]);
    }
}
