//! DICOM → NIfTI-1, as dcm2niix converts (voxel order, affine, data type), with a
//! BIDS-style JSON sidecar filtered through the de-identification policy.
//!
//! Works in the two passes of the [`Job`](crate::job::Job): the scan reads each file's
//! header into a [`Slice`]; [`plan`] groups the slices into volumes and fixes each
//! volume's header (geometry, data type) and the place of every slice in it; the export
//! then hands over one parsed file at a time ([`Converter::add`]), which copies its pixels
//! straight into the place of the volume's output buffer, and returns the finished
//! `.json` + `.nii` when the volume's last slice has arrived. Memory is one series; or one
//! file, for a volume whose files arrive in voxel order with samples of a size the scan
//! checked (most series): it is written as its files arrive ([`Output::Stream`]).
//!
//! dcm2niix's conventions, measured against its 1.0.20260724 build: slices ascending
//! along the normal of ImageOrientationPatient (cross product of row and column
//! directions); rows stored bottom-up (dcm2niix flips Y), so the affine's second column
//! points against the DICOM column direction; LPS → RAS; qform = sform = scanner
//! (code 1); repeated positions become volumes in acquisition order.

mod header;
mod pixels;
mod sidecar;

use std::collections::BTreeMap;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

pub use header::{DataType, Header, VOX_OFFSET};

use crate::instance::Object;
use crate::profile::Policy;

/// The folder of the NIfTI tree in the zip.
pub const ROOT: &str = "NIFTI/";

/// The extension of a volume: `.nii`, or `.nii.gz` when compressed.
pub fn extension(gzip: bool) -> &'static str {
    if gzip {
        ".nii.gz"
    } else {
        ".nii"
    }
}

/// A finished `.nii` as written: as is, or gzip-compressed for `.nii.gz` (no name and a
/// zero time in the gzip header, so the same volume always gives the same bytes).
pub fn pack(nii: Vec<u8>, gzip: bool) -> Vec<u8> {
    if !gzip {
        return nii;
    }
    use std::io::Write;
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(nii.len() / 2), flate2::Compression::default());
    encoder
        .write_all(&nii)
        .and_then(|()| encoder.try_finish())
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// Transfer syntaxes whose pixel data is read as is.
const NATIVE_TS: &[&str] = &[
    "1.2.840.10008.1.2",      // implicit VR little endian
    "1.2.840.10008.1.2.1",    // explicit VR little endian
    "1.2.840.10008.1.2.2",    // explicit VR big endian (dicom-rs decodes the words)
    "1.2.840.10008.1.2.1.99", // deflated explicit VR little endian
];

/// JPEG Extended (process 2 & 4): its 8-bit form only is decoded here.
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Why pixel data in transfer syntax `ts` cannot be read, if it cannot. Besides the native
/// syntaxes, those that dicom-pixeldata's pure-Rust decoders handle (they build for
/// wasm32): RLE Lossless, JPEG baseline / extended (8-bit; `codec::jpeg`, with dcm2niix's
/// arithmetic, else jpeg-decoder) / lossless (jpeg-decoder);
/// JPEG 2000 and HTJ2K (openjp2 called directly, see `pixels`, with the C functions of
/// `codec::libc_shim` on wasm32) and JPEG-LS (our own decoder, `codec::jpegls`; dicom-pixeldata's
/// CharLS is C++). Not 12-bit lossy JPEG or JPEG XL.
fn undecodable(ts: &str, bits_allocated: u16, bits_stored: u16) -> Option<String> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    if NATIVE_TS.contains(&ts)
        || pixels::JPEG_2000.contains(&ts)
        || pixels::HTJ2K.contains(&ts)
        || pixels::JPEG_LS.contains(&ts)
        || (ts == pixels::RLE && bits_allocated == 32)
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

/// An attribute read with the VR the dictionary gives it when the file has it as UN (as
/// some converters write standard attributes; dcm2niix reads them too).
fn element(ds: &InMemDicomObject, tag: Tag) -> Option<std::borrow::Cow<'_, dicom_object::mem::InMemElement>> {
    use std::borrow::Cow;
    let element = ds.element_opt(tag).ok()??;
    Some(match element.vr() {
        dicom_core::VR::UN => Cow::Owned(crate::profile::reinterpret_un(element.clone())),
        _ => Cow::Borrowed(element),
    })
}

/// A text attribute, trimmed; `None` when absent or empty.
fn text(ds: &InMemDicomObject, tag: Tag) -> Option<String> {
    let element = element(ds, tag)?;
    let value = element.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn numbers(ds: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    element(ds, tag)?.to_multi_float64().ok()
}

fn number(ds: &InMemDicomObject, tag: Tag) -> Option<f64> {
    numbers(ds, tag)?.first().copied().filter(|v| v.is_finite())
}

/// What the plan needs to know of one image, read from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Attributes that must agree within one volume (dcm2niix splits on them).
    split: String,
    series_number: Option<i64>,
    /// Protocol name, else series description: a file name when the policy keeps it.
    name: Option<(Tag, String)>,
    /// The length of the native samples the export will split off the file, as the scan
    /// found it (`instance::Header::Parsed`); set by the job.
    pub native_bytes: Option<u64>,
    orientation: Option<[f64; 6]>,
    position: Option<[f64; 3]>,
    /// PixelSpacing: between rows, between columns (mm).
    spacing: Option<[f64; 2]>,
    thickness: Option<f64>,
    /// SpacingBetweenSlices: what dcm2niix takes for the slice spacing of a single image.
    between: Option<f64>,
    /// GantryDetectorTilt (degrees).
    tilt: Option<f64>,
    rows: usize,
    columns: usize,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    samples: u16,
    frames: u32,
    rescale: (f64, f64),
    repetition_time: Option<f64>,
    echo_time: Option<f64>,
    modality: String,
    transfer_syntax: String,
    /// Acquisition order: InstanceNumber, then the SOP Instance UID for ties.
    order: (i64, String),
    phase_rows: Option<bool>,
    photometric: String,
    /// An enhanced multi-frame image: geometry per frame in functional groups.
    enhanced: bool,
    /// An enhanced image's frames, in the file's order (empty otherwise).
    frame_list: Vec<Frame>,
    /// MRAcquisitionType 3D: dcm2niix turns such a volume to the axes nearest RAS.
    acquisition_3d: bool,
    /// Philips' private scale slope (2005,100E), for dcm2niix's precise floating-point scaling.
    philips_scale: Option<f64>,
    /// -1 for a mosaic whose slices run against the row × column normal (see
    /// `mosaic_normal_sign`): the volume's k axis follows them.
    normal_sign: f64,
    /// A Siemens mosaic (ImageType MOSAIC): the slices tiled in one image.
    mosaic: bool,
}

/// What differs between the frames of an enhanced image.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    position: Option<[f64; 3]>,
    rescale: (f64, f64),
    /// EffectiveEchoTime of an enhanced MR frame (ms).
    echo: Option<f64>,
}

/// An enhanced image's functional groups (PS3.3 C.7.6.16): the shared item and one item
/// per frame; a frame's attribute is in its own item, else in the shared one.
struct Groups<'a> {
    shared: Option<&'a InMemDicomObject>,
    per_frame: Vec<&'a InMemDicomObject>,
}

fn items(ds: &InMemDicomObject, sequence: Tag) -> &[InMemDicomObject] {
    ds.element_opt(sequence)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

impl<'a> Groups<'a> {
    fn of(ds: &'a InMemDicomObject) -> Groups<'a> {
        Groups {
            shared: items(ds, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first(),
            per_frame: items(ds, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
                .iter()
                .collect(),
        }
    }

    /// The item of functional group `sequence` that applies to `frame`.
    fn group(&self, frame: usize, sequence: Tag) -> Option<&'a InMemDicomObject> {
        let first = |item: &'a InMemDicomObject| items(item, sequence).first();
        self.per_frame
            .get(frame)
            .and_then(|&f| first(f))
            .or_else(|| self.shared.and_then(first))
    }

    fn numbers(&self, frame: usize, sequence: Tag, tag: Tag) -> Option<Vec<f64>> {
        numbers(self.group(frame, sequence)?, tag)
    }

    fn number(&self, frame: usize, sequence: Tag, tag: Tag) -> Option<f64> {
        number(self.group(frame, sequence)?, tag)
    }
}

/// Philips' private MR scale slope (2005,100E, FL; creator "Philips MR Imaging DD 001"):
/// in the data set, or in the first frame's private functional group (2005,140F). Read
/// only as a number for `scl_slope`; the private tags never reach the output.
fn philips_scale(ds: &InMemDicomObject, groups: &Groups) -> Option<f64> {
    const SCALE_SLOPE: Tag = Tag(0x2005, 0x100E);
    const PRIVATE_GROUP: Tag = Tag(0x2005, 0x140F);
    let read = |item: &InMemDicomObject| -> Option<f64> {
        let element = item.element_opt(SCALE_SLOPE).ok()??;
        let value = match element.vr() {
            // Implicit VR files leave private values as bytes: one little-endian float.
            dicom_core::VR::FL => element.to_float64().ok()?,
            _ => f32::from_le_bytes(element.to_bytes().ok()?.as_ref().try_into().ok()?) as f64,
        };
        (value.is_finite() && value != 0.0).then_some(value)
    };
    read(ds).or_else(|| {
        let frame = groups.per_frame.first()?;
        read(items(frame, PRIVATE_GROUP).first()?)
    })
}

/// Siemens' number of images in a mosaic (0019,100A, US, creator "SIEMENS MR HEADER";
/// an implicit VR file leaves it as two little-endian bytes), else the CSA image header's
/// NumberOfImagesInMosaic.
fn mosaic_images(ds: &InMemDicomObject) -> Option<usize> {
    let from_tag = || {
        let element = ds.element_opt(Tag(0x0019, 0x100A)).ok()??;
        Some(match element.vr() {
            dicom_core::VR::US => element.to_int::<u16>().ok()?,
            _ => u16::from_le_bytes(element.to_bytes().ok()?.get(..2)?.try_into().ok()?),
        } as usize)
    };
    let from_csa = || csa_values(&csa_image_header(ds)?, "NumberOfImagesInMosaic")?.first()?.parse().ok();
    // At most a US value (the tag's VR): a hostile CSA count must not size the frame list.
    from_tag().or_else(from_csa).filter(|&n| n > 0 && n <= u16::MAX as usize)
}

/// The CSA image header (0029,1010) of a Siemens image.
fn csa_image_header(ds: &InMemDicomObject) -> Option<Vec<u8>> {
    Some(ds.element_opt(Tag(0x0029, 0x1010)).ok()??.to_bytes().ok()?.into_owned())
}

/// -1 when the CSA header's SliceNormalVector points against the row × column normal: the
/// tiles then run the other way, and dcm2niix keeps their order with k along that vector.
fn mosaic_normal_sign(ds: &InMemDicomObject, orientation: Option<[f64; 6]>) -> f64 {
    let given = csa_image_header(ds)
        .and_then(|csa| csa_values(&csa, "SliceNormalVector"))
        .and_then(|v| <[f64; 3]>::try_from(v.iter().map(|x| x.parse().ok()).collect::<Option<Vec<f64>>>()?).ok());
    match (given, orientation) {
        (Some(n), Some(o)) if dot(n, cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])) < 0.0 => -1.0,
        _ => 1.0,
    }
}

/// The text items of element `name` of a Siemens CSA header (SV10: "SV10", 4 bytes, the
/// number of elements, 4 bytes; each element a 64-byte name, VM, VR, type, item count and
/// 4 bytes; each item four 32-bit words, its length second, then the text padded to 4).
/// Read for geometry only: nothing of the CSA header is ever written.
fn csa_values(csa: &[u8], name: &str) -> Option<Vec<String>> {
    let word = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(csa.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
    };
    if !csa.starts_with(b"SV10") {
        return None;
    }
    let mut at = 16;
    for _ in 0..word(8)?.min(1024) {
        let field = csa.get(at..at + 64)?;
        let this = &field[..field.iter().position(|&b| b == 0).unwrap_or(64)];
        let count = word(at + 76)?;
        at += 84;
        let mut values = Vec::new();
        for _ in 0..count.min(1024) {
            let len = word(at + 4)?;
            at += 16;
            // Lengths come from the file: checked, so that none wraps on wasm32.
            let text = String::from_utf8_lossy(csa.get(at..at.checked_add(len)?)?);
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            if !text.is_empty() {
                values.push(text.to_string());
            }
            at = at.checked_add(len.div_ceil(4).checked_mul(4)?)?;
        }
        if this == name.as_bytes() {
            return Some(values);
        }
    }
    None
}

/// Tiles per row (and column) of a mosaic of `images`.
fn mosaic_tiles(images: usize) -> usize {
    (1..=images).find(|t| t * t >= images).unwrap_or(1)
}

impl Slice {
    /// Names the slice as the export writes its name: `exported` gives the value of the
    /// name's attribute as written (`None`: removed).
    pub fn export_name(&mut self, exported: impl FnOnce(Tag) -> Option<String>) {
        self.name = self.name.take().and_then(|(tag, _)| Some((tag, exported(tag)?)));
    }

    /// A Siemens mosaic as the images it tiles: the tile size, and each tile's position
    /// (ImagePositionPatient is the corner of the whole mosaic: its centre stays, as
    /// dcm2niix corrects it), SpacingBetweenSlices (else SliceThickness) apart along the
    /// normal.
    fn untiled(mut self, images: usize, sign: f64) -> Slice {
        let tiles = mosaic_tiles(images);
        let (rows, columns) = (self.rows / tiles, self.columns / tiles);
        if let (Some(p), Some(o)) = (self.position, self.orientation) {
            let [dy, dx] = self.spacing.unwrap_or([1.0, 1.0]);
            let (r, c) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
            let normal = normalise(cross(r, c)).map(|v| v * sign);
            let dz = self.between.or(self.thickness).unwrap_or(1.0);
            // With the tile size as a fraction when the tiles do not divide the image
            // (measured on nibabel's shrunken mosaics, as dcm2niix places them).
            let shift_r = dx * (self.columns as f64 - self.columns as f64 / tiles as f64) / 2.0;
            let shift_c = dy * (self.rows as f64 - self.rows as f64 / tiles as f64) / 2.0;
            let corner = [0, 1, 2].map(|i| p[i] + r[i] * shift_r + c[i] * shift_c);
            self.frame_list = (0..images)
                .map(|k| Frame {
                    position: Some([0, 1, 2].map(|i| corner[i] + normal[i] * dz * k as f64)),
                    rescale: self.rescale,
                    echo: None,
                })
                .collect();
            self.position = Some(corner);
        }
        self.rows = rows;
        self.columns = columns;
        self.frames = images as u32;
        self.normal_sign = sign;
        self
    }

    pub fn of(object: &Object) -> Slice {
        let ds: &InMemDicomObject = object;
        let t = |tag| text(ds, tag).unwrap_or_default();
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<i64>().ok());
        let groups = Groups::of(ds);
        // An enhanced image keeps geometry, rescale and timing in functional groups; the
        // first frame's values stand for the image, each frame keeps its position and rescale.
        let (position_seq, rescale_seq) = (
            tags::PLANE_POSITION_SEQUENCE,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        );
        let frame_position = |f: usize| {
            groups
                .numbers(f, position_seq, tags::IMAGE_POSITION_PATIENT)
                .and_then(|v| <[f64; 3]>::try_from(v).ok())
        };
        let frame_rescale = |f: usize| {
            (
                groups
                    .number(f, rescale_seq, tags::RESCALE_SLOPE)
                    .or_else(|| number(ds, tags::RESCALE_SLOPE))
                    .unwrap_or(1.0),
                groups
                    .number(f, rescale_seq, tags::RESCALE_INTERCEPT)
                    .or_else(|| number(ds, tags::RESCALE_INTERCEPT))
                    .unwrap_or(0.0),
            )
        };
        let frame_list: Vec<Frame> = (0..groups.per_frame.len())
            .map(|f| Frame {
                position: frame_position(f),
                rescale: frame_rescale(f),
                echo: groups.number(f, tags::MR_ECHO_SEQUENCE, tags::EFFECTIVE_ECHO_TIME),
            })
            .collect();
        let position = numbers(ds, tags::IMAGE_POSITION_PATIENT)
            .and_then(|v| <[f64; 3]>::try_from(v).ok())
            .or_else(|| frame_position(0));
        let grouped = |sequence, tag| numbers(ds, tag).or_else(|| groups.numbers(0, sequence, tag));
        let measures = tags::PIXEL_MEASURES_SEQUENCE;
        // A position without an orientation: dcm2niix takes the axial one.
        let orientation = grouped(tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT)
            .and_then(|v| <[f64; 6]>::try_from(v).ok())
            .or(position.map(|_| [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        let first = |v: Option<Vec<f64>>| v?.first().copied().filter(|v| v.is_finite());
        let timing = tags::MR_TIMING_AND_RELATED_PARAMETERS_SEQUENCE;
        let split = [
            t(tags::SERIES_INSTANCE_UID),
            t(tags::IMAGE_TYPE).to_ascii_uppercase(),
            t(tags::ECHO_NUMBERS),
            t(tags::ECHO_TIME),
            t(tags::ACQUISITION_MATRIX),
            orientation
                .map(|o| {
                    o.iter()
                        .map(|v| format!("{:.4}", v))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
            grouped(measures, tags::PIXEL_SPACING)
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
        ]
        .join("|");
        let name = [tags::PROTOCOL_NAME, tags::SERIES_DESCRIPTION]
            .into_iter()
            .find_map(|tag| text(ds, tag).map(|v| (tag, v)));
        let slice = Slice {
            split,
            series_number: int(tags::SERIES_NUMBER),
            name,
            native_bytes: None,
            orientation,
            position,
            spacing: grouped(measures, tags::PIXEL_SPACING)
                .and_then(|v| <[f64; 2]>::try_from(v).ok()),
            thickness: first(grouped(measures, tags::SLICE_THICKNESS)),
            between: first(grouped(measures, tags::SPACING_BETWEEN_SLICES)).filter(|v| *v > 0.0),
            tilt: number(ds, tags::GANTRY_DETECTOR_TILT).filter(|v| *v != 0.0),
            rows: int(tags::ROWS).unwrap_or(0) as usize,
            columns: int(tags::COLUMNS).unwrap_or(0) as usize,
            bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(0) as u16,
            bits_stored: int(tags::BITS_STORED).unwrap_or(0) as u16,
            signed: int(tags::PIXEL_REPRESENTATION) == Some(1),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
            frames: int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as u32,
            rescale: frame_rescale(0),
            repetition_time: first(grouped(timing, tags::REPETITION_TIME)),
            echo_time: number(ds, tags::ECHO_TIME).or_else(|| {
                groups.number(0, tags::MR_ECHO_SEQUENCE, tags::EFFECTIVE_ECHO_TIME)
            }),
            modality: t(tags::MODALITY),
            transfer_syntax: object
                .meta()
                .transfer_syntax()
                .trim_end_matches(['\0', ' '])
                .to_string(),
            order: (
                int(tags::INSTANCE_NUMBER).unwrap_or(i64::MAX),
                t(tags::SOP_INSTANCE_UID),
            ),
            phase_rows: text(ds, tags::IN_PLANE_PHASE_ENCODING_DIRECTION)
                .map(|v| v.eq_ignore_ascii_case("ROW")),
            photometric: t(tags::PHOTOMETRIC_INTERPRETATION)
                .trim()
                .to_ascii_uppercase(),
            mosaic: t(tags::IMAGE_TYPE)
                .to_ascii_uppercase()
                .split('\\')
                .any(|v| v.trim() == "MOSAIC"),
            enhanced: !frame_list.is_empty(),
            frame_list,
            acquisition_3d: t(tags::MR_ACQUISITION_TYPE).eq_ignore_ascii_case("3D"),
            philips_scale: t(tags::MANUFACTURER)
                .to_ascii_lowercase()
                .contains("philips")
                .then(|| philips_scale(ds, &groups))
                .flatten(),
            normal_sign: 1.0,
        };
        match (slice.mosaic, mosaic_images(ds)) {
            (true, Some(images)) => {
                let sign = mosaic_normal_sign(ds, slice.orientation);
                slice.untiled(images, sign)
            }
            // Measured: dcm2niix writes each enhanced file as a volume of its own.
            // Functional groups beyond NumberOfFrames are ignored (measured on a trimmed SEG).
            _ if slice.enhanced => Slice {
                split: format!("{}|{}", slice.split, slice.order.1),
                frame_list: slice.frame_list[..slice.frame_list.len().min(slice.frames as usize)].to_vec(),
                ..slice
            },
            _ => slice,
        }
    }

    /// Whether the export will place this file's samples straight from its bytes, all of
    /// them there (the scan saw native samples of at least the image's size end the file).
    fn placed_as_scanned(&self) -> bool {
        let frame = self.rows * self.columns * self.samples as usize * (self.bits_allocated as usize / 8);
        !self.mosaic
            && matches!(self.bits_allocated, 8 | 16 | 32)
            && self.native_bytes.is_some_and(|n| n >= frame as u64 * u64::from(self.frames.max(1)))
    }

    /// Why this image cannot go into a NIfTI volume, if it cannot.
    fn unsupported(&self) -> Option<String> {
        if let Some(why) = undecodable(&self.transfer_syntax, self.bits_allocated, self.bits_stored)
        {
            return Some(why);
        }
        if self.rows == 0 || self.columns == 0 {
            return Some("no image (Rows/Columns missing)".into());
        }
        match self.samples {
            1 => {}
            // RGB24, as dcm2niix writes colour; compressed YBR comes out of its decoder as RGB.
            3 if self.bits_allocated == 8
                && (self.photometric == "RGB" || !NATIVE_TS.contains(&self.transfer_syntax.as_str())) => {}
            3 if self.bits_allocated != 8 => {
                return Some(format!(
                    "colour image with {}-bit samples (samples per pixel 3; only 8-bit colour is converted)",
                    self.bits_allocated
                ))
            }
            3 => {
                return Some(format!(
                    "uncompressed {} colour (samples per pixel 3) not converted",
                    self.photometric
                ))
            }
            n => return Some(format!("{n} samples per pixel not converted")),
        }
        // 1-bit (segmentations) uncompressed: unpacked to one byte a voxel, as dcm2niix.
        let binary = self.bits_allocated == 1
            && self.samples == 1
            && NATIVE_TS.contains(&self.transfer_syntax.as_str());
        if !binary && !matches!(self.bits_allocated, 8 | 16 | 32) {
            return Some(format!(
                "{} bits allocated not converted yet (samples of 1 uncompressed, 8, 16 or 32 bits only)",
                self.bits_allocated
            ));
        }
        if self.mosaic && (self.frame_list.is_empty() || !NATIVE_TS.contains(&self.transfer_syntax.as_str())) {
            return Some(
                "Siemens mosaic without its number of images ((0019,100A) or the CSA header), a position or uncompressed pixels: not converted yet"
                    .into(),
            );
        }
        if self.enhanced && self.frame_list.len() < self.frames as usize {
            return Some(format!(
                "enhanced multi-frame image with {} frames and {} per-frame functional groups",
                self.frames,
                self.frame_list.len()
            ));
        }
        None
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `v` turned by `angle` (radians) about the unit `axis` (Rodrigues).
fn rotate(v: [f64; 3], axis: [f64; 3], angle: f64) -> [f64; 3] {
    let (sin, cos) = angle.sin_cos();
    let k = cross(axis, v);
    let d = dot(axis, v) * (1.0 - cos);
    [0, 1, 2].map(|i| v[i] * cos + k[i] * sin + axis[i] * d)
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: [f64; 3]) -> [f64; 3] {
    let len = dot(v, v).sqrt();
    if len > 0.0 {
        v.map(|x| x / len)
    } else {
        v
    }
}

/// One NIfTI volume of the plan.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Inputs in voxel order: volume by volume, slices ascending along the normal.
    pub members: Vec<usize>,
    pub series_number: Option<i64>,
    /// What the file is named after (ProtocolName or SeriesDescription), when the
    /// policy keeps that attribute.
    pub name: Option<String>,
    pub slices: usize,
    pub volumes: usize,
    /// Why it is not converted (the members are reported with this reason).
    pub problem: Option<String>,
    /// Converted, but something the user should know (uneven spacing, gantry tilt).
    pub warnings: Vec<String>,
    pub header: Option<Header>,
    /// The `.nii` path in the zip, set by the job's plan.
    pub path: Option<String>,
    /// Once its last slice has arrived: written, or why not.
    pub outcome: Option<Result<(), String>>,
    rescale_varies: bool,
    /// Frames of each member (more than 1 for a multi-frame file).
    frames: usize,
    /// The frames of enhanced images and mosaics, member after member in file order:
    /// (slot in the volume, rescale), or `None` for a frame of another volume (echo).
    frame_places: Vec<Option<(usize, (f64, f64))>>,
    /// The echo (EffectiveEchoTime, ms) of one volume of a multi-echo enhanced file, which
    /// dcm2niix writes as one volume per echo, named `_e1`, `_e2`…
    pub echo: Option<(usize, f64)>,
    /// A 3D acquisition turned to the axes nearest RAS once filled.
    reorient: Option<Reorient>,
    /// Its files can be written as they arrive: they fill whole slices in voxel order (no
    /// turning, no frames placed elsewhere), each with samples the scan saw (see
    /// [`Slice::placed_as_scanned`]).
    streamable: bool,
}

/// How a filled volume is turned to the voxel axes nearest RAS, as dcm2niix does with
/// 3D acquisitions (its default `-x n`): output axis `w` is stored axis `axes[w].0`,
/// reversed when `axes[w].1`.
#[derive(Debug, Clone)]
struct Reorient {
    /// The header the slices are placed with, before turning.
    stored: Header,
    axes: [(usize, bool); 3],
}

impl Reorient {
    /// `None` when the stored axes already are the nearest (no permutation, no flip).
    fn of(stored: &Header) -> Option<(Reorient, Header)> {
        let a = &stored.affine;
        // Greedy: the largest remaining |entry| pairs a world axis with a voxel axis.
        let mut axes = [(usize::MAX, false); 3];
        let mut used = [false; 3];
        for _ in 0..3 {
            let mut best = (0.0, 0, 0);
            for (w, row) in a.iter().enumerate() {
                for (v, &x) in row[..3].iter().enumerate() {
                    if axes[w].0 == usize::MAX && !used[v] && x.abs() >= best.0 {
                        best = (x.abs(), w, v);
                    }
                }
            }
            let (_, w, v) = best;
            axes[w] = (v, a[w][v] < 0.0);
            used[v] = true;
        }
        if axes.iter().enumerate().all(|(w, &(v, flip))| v == w && !flip) {
            return None;
        }
        let mut header = stored.clone();
        for (w, &(v, flip)) in axes.iter().enumerate() {
            let sign = if flip { -1.0 } else { 1.0 };
            for r in 0..3 {
                header.affine[r][w] = sign * a[r][v];
                if flip {
                    header.affine[r][3] += a[r][v] * (stored.dim[v] as f64 - 1.0);
                }
            }
            header.dim[w] = stored.dim[v];
            header.pixdim[w] = stored.pixdim[v];
        }
        // dim_info names axes 1-3 (frequency, phase, slice in 2-bit fields).
        let moved = |field: u8| match field {
            0 => 0,
            f => axes.iter().position(|&(v, _)| v + 1 == f as usize).map_or(0, |w| w as u8 + 1),
        };
        let d = stored.dim_info;
        header.dim_info = moved(d & 3) | (moved((d >> 2) & 3) << 2) | (moved((d >> 4) & 3) << 4);
        Some((
            Reorient {
                stored: stored.clone(),
                axes,
            },
            header,
        ))
    }

    /// The voxels (after the header) turned: each 3D volume of `data` in the new order.
    fn apply(&self, data: &mut [u8], bytes: usize) {
        let [nx, ny, nz, nt] = self.stored.dim;
        let n = [nx, ny, nz];
        let out_dim = self.axes.map(|(v, _)| n[v]);
        let volume = nx * ny * nz * bytes;
        let mut turned = vec![0u8; volume];
        for t in 0..nt {
            let src = &data[t * volume..(t + 1) * volume];
            let mut at = 0;
            for k in 0..out_dim[2] {
                for j in 0..out_dim[1] {
                    for i in 0..out_dim[0] {
                        let mut p = [0usize; 3];
                        for (w, &o) in [i, j, k].iter().enumerate() {
                            let (v, flip) = self.axes[w];
                            p[v] = if flip { n[v] - 1 - o } else { o };
                        }
                        let from = ((p[2] * ny + p[1]) * nx + p[0]) * bytes;
                        turned[at..at + bytes].copy_from_slice(&src[from..from + bytes]);
                        at += bytes;
                    }
                }
            }
            data[t * volume..(t + 1) * volume].copy_from_slice(&turned);
        }
    }
}

impl Volume {
    /// `<SeriesNumber>_<sanitised name>`, without the extension.
    pub fn stem(&self) -> String {
        let number = self
            .series_number
            .map(|n| n.to_string())
            .unwrap_or_else(|| "0".into());
        let echo = self.echo.map(|(n, _)| format!("_e{n}")).unwrap_or_default();
        match self.name.as_deref().map(sanitise).filter(|n| !n.is_empty()) {
            Some(name) => format!("{number}_{name}{echo}"),
            None => format!("{number}{echo}"),
        }
    }
}

/// A file-name-safe form of a protocol name: ASCII letters, digits, `-`; the rest `_`.
pub fn sanitise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    let trimmed = out.trim_end_matches('_');
    trimmed.chars().take(64).collect()
}

/// Groups the slices into volumes (as dcm2niix splits a series) and fixes each
/// volume's geometry. `slices` are (input index, header). The result does not depend
/// on the order of `slices`.
pub fn plan(slices: &[(usize, &Slice)], policy: &Policy) -> Vec<Volume> {
    let mut groups: BTreeMap<(i64, String), Vec<(usize, &Slice)>> = BTreeMap::new();
    for &(i, s) in slices {
        groups
            .entry((s.series_number.unwrap_or(i64::MAX), s.split.clone()))
            .or_default()
            .push((i, s));
    }
    // (A name the policy cleans was cleaned when the slice was scanned.)
    let keeps = |tag: Tag| {
        matches!(
            policy.action(tag),
            crate::profile::Action::Code(crate::profile::Code::K | crate::profile::Code::C)
        )
    };
    groups
        .into_values()
        .flat_map(|mut members| {
            members.sort_by(|a, b| a.1.order.cmp(&b.1.order));
            // The distinct echoes of an enhanced file, ascending: one volume each.
            let mut echoes: Vec<f64> = members[0].1.frame_list.iter().filter_map(|f| f.echo).collect();
            echoes.sort_by(f64::total_cmp);
            echoes.dedup();
            let echoes: Vec<Option<(usize, f64)>> = match echoes.len() {
                0 | 1 => vec![None],
                _ => echoes.into_iter().enumerate().map(|(n, e)| Some((n + 1, e))).collect(),
            };
            echoes.into_iter().map(move |echo| (members.clone(), echo))
        })
        .map(|(members, echo)| {
            let first = members[0].1;
            let mut volume = Volume {
                members: members.iter().map(|m| m.0).collect(),
                series_number: first.series_number,
                name: first
                    .name
                    .as_ref()
                    .filter(|(tag, _)| keeps(*tag))
                    .map(|(_, n)| n.clone()),
                slices: members.len(),
                volumes: 1,
                problem: None,
                warnings: Vec::new(),
                header: None,
                path: None,
                outcome: None,
                rescale_varies: false,
                frames: 1,
                frame_places: Vec::new(),
                echo,
                reorient: None,
                streamable: false,
            };
            if let Some(why) = members.iter().find_map(|m| m.1.unsupported()) {
                volume.problem = Some(why);
                return volume;
            }
            if let Err(why) = arrange(&mut volume, &members) {
                volume.problem = Some(why);
            }
            volume.streamable = volume.reorient.is_none()
                && volume.frame_places.is_empty()
                && members.iter().all(|m| m.1.placed_as_scanned());
            volume
        })
        .collect()
}

/// Orders the members of one volume, detects 4D, checks the spacing, sets the header.
/// An enhanced image's frames are arranged as if each were an image of its own (in file
/// order, which is acquisition order for the 4D stacking).
fn arrange(volume: &mut Volume, members: &[(usize, &Slice)]) -> Result<(), String> {
    let first = members[0].1;
    if first.frame_list.is_empty() || first.frames < 2 {
        return arrange_images(volume, members);
    }
    if members.iter().any(|m| m.1.frame_list.len() != first.frame_list.len()) {
        return Err("multi-frame files with different numbers of frames in one series".into());
    }
    let image = Slice {
        frames: 1,
        frame_list: Vec::new(),
        ..first.clone()
    };
    // Frame f of the m-th member is image m × frames + f, in acquisition order (only
    // the frames of this volume's echo).
    let all: Vec<&Frame> = members.iter().flat_map(|m| &m.1.frame_list).collect();
    let frames: Vec<(usize, Slice)> = all
        .iter()
        .enumerate()
        .filter(|(_, frame)| volume.echo.is_none_or(|(_, te)| frame.echo == Some(te)))
        .map(|(f, frame)| {
            let echo_time = frame.echo.or(image.echo_time);
            (f, Slice { position: frame.position, rescale: frame.rescale, echo_time, ..image.clone() })
        })
        .collect();
    let pseudo: Vec<(usize, &Slice)> = frames.iter().map(|(_, s)| s).enumerate().collect();
    arrange_images(volume, &pseudo)?;
    let mut places = vec![None; all.len()];
    for (slot, &p) in volume.members.iter().enumerate() {
        let (f, frame) = &frames[p];
        places[*f] = Some((slot, frame.rescale));
    }
    volume.frame_places = places;
    volume.members = members.iter().map(|m| m.0).collect();
    volume.frames = first.frame_list.len();
    Ok(())
}

/// `arrange` for images of one frame each, or one classic multi-frame file.
fn arrange_images(volume: &mut Volume, members: &[(usize, &Slice)]) -> Result<(), String> {
    let first = members[0].1;
    if members.iter().any(|m| {
        (
            m.1.rows,
            m.1.columns,
            m.1.bits_allocated,
            m.1.signed,
            m.1.samples,
        ) != (
            first.rows,
            first.columns,
            first.bits_allocated,
            first.signed,
            first.samples,
        )
    }) {
        return Err("images of different sizes or pixel formats in one series".into());
    }
    let located = first.position.is_some();
    if members.iter().any(|m| m.1.position.is_some() != located) {
        return Err("some images of the series have ImagePositionPatient, others not".into());
    }
    if first.frames > 1 && members.len() > 1 {
        return Err(format!(
            "{} multi-frame files in one series: not converted yet",
            members.len()
        ));
    }
    let o = first.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let (row_dir, col_dir) = (normalise([o[0], o[1], o[2]]), normalise([o[3], o[4], o[5]]));
    let mut normal = normalise(cross(row_dir, col_dir)).map(|v| v * first.normal_sign);
    // Without positions (or within one multi-frame file) the images stay in acquisition
    // order, one slice each, SliceThickness (else 1 mm) apart, as dcm2niix stacks them.
    let (nz, nt, dz, lowest) = if first.frames > 1 || !located {
        volume.members = members.iter().map(|m| m.0).collect();
        let nz = members.len() * first.frames as usize;
        let dz = match nz {
            1 => first.between.or(first.thickness),
            _ => first.thickness,
        };
        (nz, 1, dz.unwrap_or(1.0), first)
    } else {
        stack(volume, members, normal)?
    };
    // One tilted CT slice: dcm2niix steps along the table (the normal turned back by the
    // gantry tilt about the row direction), not along the tilted normal.
    if let (1, Some(tilt)) = (nz * nt, first.tilt) {
        normal = rotate(normal, row_dir, -tilt.to_radians());
    }
    volume.frames = first.frames as usize;
    volume.slices = nz;
    volume.volumes = nt;
    let [dy, dx] = first.spacing.unwrap_or([1.0, 1.0]);
    let affine = match lowest.position {
        // LPS affine of the stored voxels: i along the row direction, j against the
        // column direction (rows bottom-up), k along the normal, origin at the last row
        // of the lowest slice.
        Some(position) => {
            let origin = add(
                position,
                col_dir.map(|v| v * dy * (first.rows as f64 - 1.0)),
            );
            let columns = [
                row_dir.map(|v| v * dx),
                col_dir.map(|v| -v * dy),
                normal.map(|v| v * dz),
            ];
            let mut affine = [[0.0; 4]; 3];
            for r in 0..3 {
                let sign = if r < 2 { -1.0 } else { 1.0 }; // LPS → RAS
                for c in 0..3 {
                    affine[r][c] = sign * columns[c][r];
                }
                affine[r][3] = sign * origin[r];
            }
            affine
        }
        // No position: dcm2niix's unit voxel grid (rows bottom-up), with no transform code.
        None => [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, -(first.rows as f64 - 1.0)],
            [0.0, 0.0, 1.0, 0.0],
        ],
    };
    volume.rescale_varies = members.iter().any(|m| m.1.rescale != first.rescale);
    let datatype = if first.samples == 3 {
        DataType::Rgb24
    } else if volume.rescale_varies {
        DataType::F32
    } else {
        match (first.bits_allocated, first.signed) {
            (8 | 1, false) => DataType::U8,
            (8, true) => DataType::I8,
            (16, true) => DataType::I16,
            (16, false) if first.bits_stored < 16 => DataType::I16,
            (16, false) => DataType::U16,
            // dcm2niix stores 32-bit integers as signed.
            _ => DataType::I32,
        }
    };
    let (slope, inter) = match (volume.rescale_varies || first.samples == 3, first.philips_scale) {
        (true, _) => (1.0, 0.0),
        // dcm2niix's Philips precise values: (stored × RS + RI) / (RS × SS).
        (false, Some(ss)) if first.rescale.0 != 0.0 => {
            (1.0 / ss, first.rescale.1 / (first.rescale.0 * ss))
        }
        (false, _) => first.rescale,
    };
    let tr = first.repetition_time.map(|ms| ms / 1000.0).unwrap_or(0.0);
    let header = Header {
        dim: [first.columns, first.rows, nz, nt],
        datatype,
        pixdim: [dx as f32, dy as f32, dz as f32, tr as f32],
        scl_slope: slope as f32,
        scl_inter: inter as f32,
        dim_info: match first.phase_rows {
            Some(true) => (3 << 4) | (1 << 2) | 2,
            Some(false) => (3 << 4) | (2 << 2) | 1,
            None => 0,
        },
        affine,
        descrip: match (first.modality.as_str(), first.echo_time) {
            ("MR", Some(te)) => format!("TE={te}"),
            _ => String::new(),
        },
        xform: if located {
            header::XFORM_SCANNER_ANAT
        } else {
            0
        },
    };
    // Measured: dcm2niix leaves a single slice of a 3D acquisition as it is.
    match Reorient::of(&header).filter(|_| first.acquisition_3d && located && nz > 1) {
        Some((reorient, turned)) => {
            volume.reorient = Some(reorient);
            volume.header = Some(turned);
        }
        None => volume.header = Some(header),
    }
    Ok(())
}

/// Sorts located single-frame images along the normal and stacks repeated positions
/// into volumes: (slices, volumes, slice spacing, the lowest slice).
fn stack<'a>(
    volume: &mut Volume,
    members: &[(usize, &'a Slice)],
    normal: [f64; 3],
) -> Result<(usize, usize, f64, &'a Slice), String> {
    let first = members[0].1;
    // Distinct positions along the normal; members are in acquisition order.
    let along = |s: &Slice| dot(s.position.expect("checked"), normal);
    let mut positions: Vec<f64> = Vec::new();
    let mut at: Vec<Vec<usize>> = Vec::new(); // member indices per position
    for (k, m) in members.iter().enumerate() {
        let p = along(m.1);
        match positions.iter().position(|&q| (q - p).abs() < 1e-3) {
            Some(j) => at[j].push(k),
            None => {
                positions.push(p);
                at.push(vec![k]);
            }
        }
    }
    let mut by_position: Vec<usize> = (0..positions.len()).collect();
    by_position.sort_by(|&a, &b| positions[a].total_cmp(&positions[b]));
    let nz = positions.len();
    let nt = members.len() / nz;
    if at.iter().any(|v| v.len() != nt) {
        return Err(format!(
            "{} images at {} positions: the positions do not repeat evenly (incomplete 4D series)",
            members.len(),
            nz
        ));
    }
    let mut order = Vec::with_capacity(members.len());
    for t in 0..nt {
        for &j in &by_position {
            order.push(members[at[j][t]].0);
        }
    }
    volume.members = order;
    let lowest = members[at[by_position[0]][0]].1;
    let highest = members[at[by_position[nz - 1]][0]].1;
    // Slice spacing: measured, else the slice thickness.
    let dz = if nz > 1 {
        let gaps: Vec<f64> = by_position
            .windows(2)
            .map(|w| positions[w[1]] - positions[w[0]])
            .collect();
        let mean = (positions[by_position[nz - 1]] - positions[by_position[0]]) / (nz - 1) as f64;
        if gaps
            .iter()
            .any(|g| (g - mean).abs() > 0.01 * mean.abs().max(1e-3))
        {
            volume.warnings.push(format!(
                "slice spacing varies ({:.3} to {:.3} mm): the NIfTI assumes {mean:.3} mm",
                gaps.iter().cloned().fold(f64::INFINITY, f64::min),
                gaps.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            ));
        }
        let travel = sub(highest.position.unwrap(), lowest.position.unwrap());
        let cos = dot(normalise(travel), normal);
        if cos < 0.9999 {
            volume.warnings.push(format!(
                "gantry tilt of {:.2}° (slices are sheared, not corrected)",
                cos.clamp(-1.0, 1.0).acos().to_degrees()
            ));
        }
        mean
    } else {
        first.between.or(first.thickness).unwrap_or(1.0)
    };
    Ok((nz, nt, dz, lowest))
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// The report's line for one volume.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeReport {
    /// Where it was written; `None` when it was not (see `reason`).
    pub path: Option<String>,
    pub series_number: Option<i64>,
    pub files: usize,
    pub slices: usize,
    pub volumes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A volume being filled.
struct Building {
    volume: usize,
    /// The whole `.nii` (header and voxels); empty for a streamed volume.
    buffer: Vec<u8>,
    received: usize,
    sidecar: Option<Vec<u8>>,
    failed: Option<String>,
    /// A streamed volume whose first bytes are written: none of its files can be left out.
    started: bool,
}

/// A finished volume: the sidecar and the `.nii` bytes, or why it failed.
pub struct Finished {
    pub volume: usize,
    pub result: Result<(Vec<u8>, Vec<u8>), String>,
}

/// What the job writes after [`Converter::add`].
pub enum Output {
    /// Nothing yet: a file of a volume written once complete, or of one that failed.
    Nothing,
    /// A volume written whole once its last file arrived, or why it was not written.
    Whole(Finished),
    /// The next bytes of a streamed volume's `.nii`, in order. With `start` (its first file),
    /// the sidecar and the `.nii`'s size, and `bytes` begin with the header; `last` once the
    /// volume is complete.
    Stream {
        volume: usize,
        start: Option<(Vec<u8>, usize)>,
        bytes: Vec<u8>,
        last: bool,
    },
}

/// A streamed volume that cannot be completed: a file failed after the volume's first bytes
/// were written (the scan had read its header; it changed or became unreadable since).
#[derive(Debug)]
pub struct Broken {
    pub volume: usize,
    pub why: String,
}

/// Fills the planned volumes from the parsed files, one series at a time.
pub struct Converter {
    volumes: Vec<Volume>,
    /// input → (volume, place in the volume's member list), one for each volume it is in
    /// (the echoes of a multi-echo file), in the order the job plans their steps.
    place: BTreeMap<usize, std::collections::VecDeque<(usize, usize)>>,
    building: BTreeMap<usize, Building>,
    /// Streamable volumes are written as their files arrive (not when compressed: a
    /// `.nii.gz` is deflated whole).
    stream: bool,
}

impl Converter {
    pub fn new(volumes: Vec<Volume>, stream: bool) -> Converter {
        let mut place: BTreeMap<usize, std::collections::VecDeque<(usize, usize)>> = BTreeMap::new();
        for (v, volume) in volumes.iter().enumerate() {
            if volume.problem.is_none() {
                for (k, &i) in volume.members.iter().enumerate() {
                    place.entry(i).or_default().push_back((v, k));
                }
            }
        }
        Converter {
            volumes,
            place,
            building: BTreeMap::new(),
            stream,
        }
    }

    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// One line per volume for the report.
    pub fn report(&self) -> Vec<VolumeReport> {
        self.volumes
            .iter()
            .map(|v| {
                let reason = v.problem.clone().or_else(|| match &v.outcome {
                    Some(Err(why)) => Some(why.clone()),
                    Some(Ok(())) => None,
                    None => Some("not written: the export ended before its last slice".into()),
                });
                VolumeReport {
                    path: if reason.is_none() {
                        v.path.clone()
                    } else {
                        None
                    },
                    series_number: v.series_number,
                    files: v.members.len(),
                    slices: v.slices,
                    volumes: v.volumes,
                    reason,
                    warnings: v.warnings.clone(),
                }
            })
            .collect()
    }

    /// A streamed volume whose first bytes are written and its last not yet.
    pub fn started_unfinished(&self) -> Option<usize> {
        self.building.values().find(|b| b.started).map(|b| b.volume)
    }

    pub fn volume_of(&self, input: usize) -> Option<usize> {
        self.place.get(&input)?.front().map(|p| p.0)
    }

    /// Adds one planned input (parsed with its pixel data, or without them and given their
    /// native little-endian samples; or the reason it could not be read) to the next volume
    /// it is planned in (an input in several volumes is added once per volume, in plan
    /// order). A streamed volume gives its bytes at once; another, once its last member has
    /// arrived.
    pub fn add(
        &mut self,
        input: usize,
        object: Result<(&Object, Option<&[u8]>), String>,
        policy: &Policy,
    ) -> Result<Output, Broken> {
        let Some((v, k)) = self.place.get_mut(&input).and_then(|p| p.pop_front()) else {
            return Ok(Output::Nothing);
        };
        let volume = &self.volumes[v];
        let streamed = self.stream && volume.streamable;
        // Slices are placed in the stored order; a 3D acquisition is turned at the end.
        let header = match &volume.reorient {
            Some(r) => &r.stored,
            None => volume.header.as_ref().expect("planned volumes have a header"),
        };
        let building = self.building.entry(v).or_insert_with(|| {
            let mut buffer = Vec::new();
            if !streamed {
                buffer.reserve_exact(VOX_OFFSET + header.data_len());
                buffer.extend_from_slice(&header.encode());
                buffer.resize(VOX_OFFSET + header.data_len(), 0);
            }
            Building {
                volume: v,
                buffer,
                received: 0,
                sidecar: None,
                failed: None,
                started: false,
            }
        });
        building.received += 1;
        let last = building.received == volume.members.len();
        let mut streamed_bytes = None;
        match object {
            Ok((object, native)) if building.failed.is_none() => {
                if k == 0 {
                    building.sidecar = Some(sidecar::json(object, volume, policy));
                }
                let placed = if streamed {
                    // This file's slices alone, after the header for the first.
                    let mut bytes = if k == 0 { header.encode() } else { Vec::new() };
                    let start = bytes.len();
                    bytes.resize(start + volume.frames * header.slice_len(), 0);
                    let placed = place_slice(object, native, header, volume.rescale_varies, 0, volume.frames, &[], &mut bytes, start);
                    streamed_bytes = Some(bytes);
                    placed
                } else {
                    place_slice(
                        object,
                        native,
                        header,
                        volume.rescale_varies,
                        k * volume.frames,
                        volume.frames,
                        &volume.frame_places,
                        &mut building.buffer,
                        VOX_OFFSET,
                    )
                };
                if let Err(why) = placed {
                    building.failed = Some(why);
                    building.buffer = Vec::new();
                    streamed_bytes = None;
                }
            }
            Ok(_) => {}
            Err(why) => {
                building.failed = Some(format!("a slice of the series could not be read: {why}"));
                building.buffer = Vec::new();
            }
        }
        if let (true, Some(why)) = (building.started, &building.failed) {
            let why = why.clone();
            self.building.remove(&v);
            self.volumes[v].outcome = Some(Err(why.clone()));
            return Err(Broken { volume: v, why });
        }
        if let Some(bytes) = streamed_bytes {
            let start = (!building.started).then(|| {
                building.started = true;
                (building.sidecar.take().unwrap_or_default(), VOX_OFFSET + header.data_len())
            });
            if last {
                self.building.remove(&v);
                self.volumes[v].outcome = Some(Ok(()));
            }
            return Ok(Output::Stream { volume: v, start, bytes, last });
        }
        if !last {
            return Ok(Output::Nothing);
        }
        let mut b = self.building.remove(&v).expect("present");
        if let (Some(r), None) = (&volume.reorient, &b.failed) {
            let turned = volume.header.as_ref().expect("planned volumes have a header");
            r.apply(&mut b.buffer[VOX_OFFSET..], turned.datatype.bytes());
            b.buffer[..VOX_OFFSET].copy_from_slice(&turned.encode());
        }
        let result = match b.failed {
            Some(why) => Err(why),
            None => Ok((b.sidecar.unwrap_or_default(), b.buffer)),
        };
        self.volumes[v].outcome = Some(result.as_ref().map(|_| ()).map_err(Clone::clone));
        Ok(Output::Whole(Finished {
            volume: b.volume,
            result,
        }))
    }
}

/// Copies the frames of one input to their places (slices `first..first + frames`, or
/// for enhanced images and mosaics the slot and rescale of each in `places[first..]`; slot
/// 0 at `out[start..]`): rows bottom-up, colour interleaved, as dcm2niix stores them.
fn place_slice(
    object: &Object,
    native: Option<&[u8]>,
    header: &Header,
    to_float: bool,
    first: usize,
    frames: usize,
    places: &[Option<(usize, (f64, f64))>],
    out: &mut [u8],
    start: usize,
) -> Result<(), String> {
    // Without `native` samples, the object holds the pixel data.
    let element = match native {
        Some(_) => None,
        None => Some(object.element(tags::PIXEL_DATA).map_err(|_| "no pixel data".to_string())?),
    };
    let ts = object
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' ']);
    let [columns, rows, _, _] = header.dim;
    let ds: &InMemDicomObject = object;
    let int = |tag| text(ds, tag).and_then(|v| v.parse::<usize>().ok());
    let bits = int(tags::BITS_ALLOCATED).unwrap_or(16);
    // 1-bit samples are unpacked to bytes before they are placed.
    let binary = bits == 1;
    let bits = if binary { 8 } else { bits };
    let samples = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let layout = Layout {
        columns,
        rows,
        in_bpp: bits / 8,
        samples,
        planar: samples > 1 && int(tags::PLANAR_CONFIGURATION) == Some(1),
        signed: text(ds, tags::PIXEL_REPRESENTATION).as_deref() == Some("1"),
        big_endian: false,
        swap_halves: false,
        rescale: to_float.then(|| {
            (
                number(ds, tags::RESCALE_SLOPE).unwrap_or(1.0),
                number(ds, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
            )
        }),
    };
    let frame_in = layout.columns * layout.rows * layout.samples * layout.in_bpp;
    let slice_out = header.slice_len();
    // Frames of another volume (another echo of the file) are left out.
    let wanted = |f: usize| places.is_empty() || places.get(first + f).is_some_and(Option::is_some);
    let slot = |f: usize| places.get(first + f).copied().flatten().map_or(first + f, |p| p.0);
    let target = |f: usize| start + slot(f) * slice_out..start + (slot(f) + 1) * slice_out;
    // The layout of frame `f`: its own rescale, for an enhanced image.
    let layout_of = |f: usize, layout: Layout| match (layout.rescale, places.get(first + f).copied().flatten()) {
        (Some(_), Some((_, rescale))) => Layout {
            rescale: Some(rescale),
            ..layout
        },
        _ => layout,
    };
    // dicom-rs decodes big endian OW into native 16-bit words; OB stays as bytes.
    let big_endian_words = ts == "1.2.840.10008.1.2.2";
    let samples_and_layout = match (native, element) {
        (Some(bytes), _) => Some((std::borrow::Cow::Borrowed(bytes), layout)),
        (None, Some(element)) => element.value().primitive().map(|value| {
            let layout = match value {
                dicom_core::PrimitiveValue::U8(_) => Layout {
                    big_endian: big_endian_words && layout.in_bpp > 1,
                    ..layout
                },
                _ => Layout {
                    swap_halves: big_endian_words && layout.in_bpp == 4,
                    ..layout
                },
            };
            (value.to_bytes(), layout)
        }),
        (None, None) => unreachable!("the object holds the pixel data"),
    };
    match samples_and_layout {
        Some((mut bytes, layout)) => {
            if binary {
                bytes = unpack_bits(&bytes, columns * rows * frames).into();
            }
            // A mosaic (its Columns wider than the volume's): the tiles, one after another.
            let mosaic = [int(tags::ROWS).unwrap_or(rows), int(tags::COLUMNS).unwrap_or(columns)];
            if mosaic[1] > columns && samples == 1 {
                bytes = untile(&bytes, mosaic, columns, rows, frames, bits / 8).into();
            }
            for f in (0..frames).filter(|&f| wanted(f)) {
                let src = bytes.get(f * frame_in..(f + 1) * frame_in).ok_or_else(|| {
                    format!(
                        "pixel data has {} bytes, {} expected",
                        bytes.len(),
                        frames * frame_in
                    )
                })?;
                let range = target(f);
                layout_of(f, layout).copy(src, &mut out[range]);
            }
        }
        None => {
            for f in (0..frames).filter(|&f| wanted(f)) {
                // Decoded to native little-endian samples, colour interleaved.
                let value = element.expect("encapsulated pixel data are in the object").value();
                let decoded = pixels::decode_frame(object, value, ts, f, frames)?;
                if decoded.len() < frame_in {
                    return Err(format!(
                        "decoded frame has {} bytes, {frame_in} expected",
                        decoded.len()
                    ));
                }
                let range = target(f);
                let layout = Layout {
                    planar: false,
                    ..layout
                };
                layout_of(f, layout).copy(&decoded[..frame_in], &mut out[range]);
            }
        }
    }
    Ok(())
}

/// 1-bit samples, packed from the least significant bit of each byte (PS3.5 8.1.1),
/// as one byte (0 or 1) each.
fn unpack_bits(bytes: &[u8], count: usize) -> Vec<u8> {
    (0..count)
        .map_while(|i| bytes.get(i / 8).map(|b| (b >> (i % 8)) & 1))
        .collect()
}

/// The `images` tiles of a mosaic of `[rows, columns]` samples, tile after tile (row-major
/// tiles of `columns` × `rows` samples of `bpp` bytes). A row of tiles starts at `tile
/// row × (all samples / tiles)`, which is `tile row × rows × columns` when the tiles divide
/// the image; when they do not, dcm2niix starts them there (measured on nibabel's shrunken
/// mosaics).
fn untile(
    bytes: &[u8],
    [mosaic_rows, mosaic_columns]: [usize; 2],
    columns: usize,
    rows: usize,
    images: usize,
    bpp: usize,
) -> Vec<u8> {
    let tiles = mosaic_tiles(images);
    let mut out = Vec::with_capacity(images * rows * columns * bpp);
    for k in 0..images {
        let (tile_row, tile_column) = (k / tiles, k % tiles);
        let row_start = tile_row * (mosaic_rows * mosaic_columns / tiles);
        for y in 0..rows {
            let from = (row_start + y * mosaic_columns + tile_column * columns) * bpp;
            match bytes.get(from..from + columns * bpp) {
                Some(row) => out.extend_from_slice(row),
                None => return out, // short pixel data: reported by the length check
            }
        }
    }
    out
}

/// How the samples of one frame are stored, and how they are written.
#[derive(Clone, Copy)]
struct Layout {
    columns: usize,
    rows: usize,
    in_bpp: usize,
    samples: usize,
    /// Colour planes one after the other (PlanarConfiguration 1).
    planar: bool,
    signed: bool,
    big_endian: bool,
    /// 32-bit words decoded as two swapped 16-bit halves.
    swap_halves: bool,
    /// Slope and intercept to apply (float32 output), when they vary per slice.
    rescale: Option<(f64, f64)>,
}

impl Layout {
    /// Writes one frame to `dst` (one slice of the output), rows bottom-up.
    fn copy(&self, src: &[u8], dst: &mut [u8]) {
        let (columns, rows) = (self.columns, self.rows);
        if self.samples > 1 {
            let plane = columns * rows;
            for r in 0..rows {
                let out_row = &mut dst[(rows - 1 - r) * columns * 3..(rows - r) * columns * 3];
                for c in 0..columns {
                    for s in 0..3 {
                        out_row[c * 3 + s] = if self.planar {
                            src[s * plane + r * columns + c]
                        } else {
                            src[(r * columns + c) * self.samples + s]
                        };
                    }
                }
            }
            return;
        }
        let in_bpp = self.in_bpp;
        let row_in = columns * in_bpp;
        let row_out = columns * if self.rescale.is_some() { 4 } else { in_bpp };
        for r in 0..rows {
            let src = &src[r * row_in..(r + 1) * row_in];
            let dst = &mut dst[(rows - 1 - r) * row_out..(rows - r) * row_out];
            if self.rescale.is_none() && !self.big_endian && !self.swap_halves {
                dst.copy_from_slice(src);
                continue;
            }
            for (c, word) in src.chunks_exact(in_bpp).enumerate() {
                let mut w = [0u8; 4];
                w[..in_bpp].copy_from_slice(word);
                if self.big_endian {
                    w[..in_bpp].reverse();
                }
                if self.swap_halves {
                    w = [w[2], w[3], w[0], w[1]];
                }
                let Some((slope, inter)) = self.rescale else {
                    dst[c * in_bpp..(c + 1) * in_bpp].copy_from_slice(&w[..in_bpp]);
                    continue;
                };
                let raw = match (in_bpp, self.signed) {
                    (1, false) => w[0] as f32,
                    (1, true) => w[0] as i8 as f32,
                    (2, false) => u16::from_le_bytes([w[0], w[1]]) as f32,
                    (2, true) => i16::from_le_bytes([w[0], w[1]]) as f32,
                    (_, false) => u32::from_le_bytes(w) as f32,
                    (_, true) => i32::from_le_bytes(w) as f32,
                };
                // In single precision, rounded after the product and after the sum, as
                // dcm2niix computes it (measured: a slope of 16.05882 differs by one ulp in
                // double precision).
                let value = raw * slope as f32 + inter as f32;
                dst[c * 4..(c + 1) * 4].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Least significant bit first; a short buffer gives fewer samples, never a panic.
    #[test]
    fn one_bit_samples_unpack_lsb_first() {
        assert_eq!(unpack_bits(&[0b1000_0101, 0b0000_0010], 10), [1, 0, 1, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(unpack_bits(&[0xFF], 12).len(), 8);
    }

    /// One CSA element with one item of `len` declared bytes holding `text`.
    fn csa(name: &str, len: u32, text: &[u8]) -> Vec<u8> {
        let mut out = b"SV10\x04\x03\x02\x01".to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&77u32.to_le_bytes());
        let mut field = [0u8; 64];
        field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&field);
        for word in [1u32, u32::from_le_bytes(*b"US\0\0"), 3, 1, 77] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in [len, len, 77, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(text);
        out
    }

    /// The CSA reader takes an item's text, and a length beyond the header (or one that
    /// would wrap) gives nothing rather than a panic.
    #[test]
    fn csa_items_are_read_within_bounds() {
        let good = csa("NumberOfImagesInMosaic", 9, b"48      \0");
        assert_eq!(csa_values(&good, "NumberOfImagesInMosaic"), Some(vec!["48".to_string()]));
        assert_eq!(csa_values(&good, "SliceNormalVector"), None);
        assert_eq!(csa_values(&csa("NumberOfImagesInMosaic", u32::MAX, b"48"), "NumberOfImagesInMosaic"), None);
        assert_eq!(csa_values(b"SV10", "NumberOfImagesInMosaic"), None);
    }

    /// Tiles of a 2 × 2 mosaic of 3 images (the fourth tile empty), one after another.
    #[test]
    fn mosaic_tiles_come_out_in_order() {
        // 4 × 4 samples of 1 byte: tiles of 2 × 2 labelled 1, 2, 3, 0.
        let mosaic = [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 0, 0, 3, 3, 0, 0];
        assert_eq!(untile(&mosaic, [4, 4], 2, 2, 3, 1), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        assert_eq!(mosaic_tiles(48), 7);
        assert_eq!(mosaic_tiles(49), 7);
        assert_eq!(mosaic_tiles(50), 8);
    }

    #[test]
    fn names_are_file_safe() {
        assert_eq!(sanitise("T1 MPRAGE / sag (1.0mm)"), "T1_MPRAGE_sag_1_0mm");
        assert_eq!(sanitise("  "), "");
        assert_eq!(sanitise("ép2d-bold"), "p2d-bold");
    }
}
