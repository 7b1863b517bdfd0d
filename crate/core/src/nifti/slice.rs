//! What the plan needs to know of one image ([`Slice`]), read from its header by the scan.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicom::{number, numbers, text};
use super::enhanced::{converted_alone, reads_dimension_indices};
use super::fieldmap;
use super::diffusion::{self, Gradient};
use super::mosaic::{mosaic_images, mosaic_normal_sign};
use super::pixels;
use super::suffix::Naming;
use super::timing::{self, Timing};
use crate::dicom::Object;

/// What the plan needs to know of one image, read from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Attributes that must agree within one volume (dcm2niix splits on them).
    pub(super) split: String,
    pub(super) series_number: Option<i64>,
    /// Protocol name, else series description, and its tag: a file name. As the export
    /// writes it once [`Slice::export_name`] has run (`None`: removed).
    pub(super) name: Option<(Tag, String)>,
    /// The length of the native samples the export will split off the file, as the scan
    /// found it (`instance::Header::Parsed`); set by the job.
    pub native_bytes: Option<u64>,
    pub(super) orientation: Option<[f64; 6]>,
    pub(super) position: Option<[f64; 3]>,
    /// PixelSpacing: between rows, between columns (mm).
    pub(super) spacing: Option<[f64; 2]>,
    pub(super) thickness: Option<f64>,
    /// SpacingBetweenSlices: what dcm2niix takes for the slice spacing of a single image.
    pub(super) between: Option<f64>,
    /// GantryDetectorTilt (degrees).
    pub(super) tilt: Option<f64>,
    /// PixelPaddingValue: what a tilt-corrected volume fills its new voxels with.
    pub(super) padding: Option<f64>,
    pub(super) rows: usize,
    pub(super) columns: usize,
    pub(super) bits_allocated: u16,
    pub(super) bits_stored: u16,
    pub(super) signed: bool,
    pub(super) samples: u16,
    pub(super) frames: u32,
    pub(super) rescale: (f64, f64),
    pub(super) repetition_time: Option<f64>,
    pub(super) echo_time: Option<f64>,
    pub(super) modality: String,
    pub(super) transfer_syntax: String,
    /// Acquisition order: InstanceNumber, then the SOP Instance UID for ties.
    pub(super) order: (i64, String),
    pub(super) phase_rows: Option<bool>,
    pub(super) photometric: String,
    /// An enhanced multi-frame image: geometry per frame in functional groups.
    pub(super) enhanced: bool,
    /// An enhanced image's frames, in the file's order (empty otherwise).
    pub(super) frame_list: Vec<Frame>,
    /// MRAcquisitionType 3D: dcm2niix turns such a volume to the axes nearest RAS.
    pub(super) acquisition_3d: bool,
    /// Philips' private scale slope (2005,100E), for dcm2niix's precise floating-point scaling.
    pub(super) philips_scale: Option<f64>,
    /// -1 for a mosaic whose slices run against the row × column normal (see
    /// `mosaic_normal_sign`): the volume's k axis follows them.
    pub(super) normal_sign: f64,
    /// A Siemens mosaic (ImageType MOSAIC): the slices tiled in one image.
    pub(super) mosaic: bool,
    /// When it was acquired (SliceTiming), as the scan reads it.
    pub(super) timing: Timing,
    /// Its diffusion weighting, if any (`.bval`/`.bvec`).
    pub(super) gradient: Option<Gradient>,
    /// The slice spacing dcm2niix takes from the header, not the positions: an enhanced
    /// image whose frames it does not order by DimensionIndexValues (see `enhanced`) is
    /// SpacingBetweenSlices, else SliceThickness, apart.
    pub(super) header_spacing: Option<f64>,
    /// Echo number and phase, for dcm2niix's file-name suffixes.
    pub(super) naming: Naming,
}

/// What differs between the frames of an enhanced image.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    pub(super) position: Option<[f64; 3]>,
    pub(super) rescale: (f64, f64),
    /// EffectiveEchoTime of an enhanced MR frame (ms).
    pub(super) echo: Option<f64>,
    /// When the frame (or mosaic tile) was acquired, in ms from a reference (SliceTiming).
    pub(super) time: Option<f64>,
    /// The frame's diffusion weighting, if any.
    pub(super) gradient: Option<Gradient>,
    /// A field map in Hz (see `fieldmap`).
    pub(super) field_map_hz: bool,
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

    /// ImagePositionPatient of `frame`.
    fn position(&self, frame: usize) -> Option<[f64; 3]> {
        self.numbers(frame, tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT)
            .and_then(|v| <[f64; 3]>::try_from(v).ok())
    }

    /// Rescale slope and intercept of `frame`, else of the data set `ds`, else (1, 0).
    fn rescale(&self, ds: &InMemDicomObject, frame: usize) -> (f64, f64) {
        let sequence = tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE;
        let value = |tag| self.number(frame, sequence, tag).or_else(|| number(ds, tag));
        (
            value(tags::RESCALE_SLOPE).unwrap_or(1.0),
            value(tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        )
    }

    /// Whether `frame` of enhanced image `ds` is a field map in Hz.
    fn field_map_hz(&self, ds: &InMemDicomObject, frame: usize) -> bool {
        let component = self
            .group(frame, tags::MR_IMAGE_FRAME_TYPE_SEQUENCE)
            .and_then(|item| text(item, tags::COMPLEX_IMAGE_COMPONENT));
        fieldmap::enhanced_frame(ds, self.per_frame.get(frame).copied(), component.as_deref())
    }

    /// The frames of an enhanced image `ds`, in the file's order (none for another image).
    fn frames(&self, ds: &InMemDicomObject) -> Vec<Frame> {
        (0..self.per_frame.len())
            .map(|f| Frame {
                position: self.position(f),
                rescale: self.rescale(ds, f),
                echo: self.number(f, tags::MR_ECHO_SEQUENCE, tags::EFFECTIVE_ECHO_TIME),
                time: self.per_frame.get(f).and_then(|item| timing::frame_time(item)),
                gradient: self.group(f, tags::MR_DIFFUSION_SEQUENCE).and_then(diffusion::standard),
                field_map_hz: self.field_map_hz(ds, f),
            })
            .collect()
    }
}

/// Attributes that must agree within one volume, joined (dcm2niix splits a series on them).
fn split_key(ds: &InMemDicomObject, orientation: Option<[f64; 6]>, spacing: Option<&[f64]>) -> String {
    let t = |tag| text(ds, tag).unwrap_or_default();
    let orientation = orientation
        .map(|o| o.iter().map(|v| format!("{:.4}", v)).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    [
        t(tags::SERIES_INSTANCE_UID),
        t(tags::IMAGE_TYPE).to_ascii_uppercase(),
        t(tags::ECHO_NUMBERS),
        t(tags::ECHO_TIME),
        t(tags::ACQUISITION_MATRIX),
        orientation,
        spacing.map(|v| format!("{v:?}")).unwrap_or_default(),
    ]
    .join("|")
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

impl Slice {
    /// Names the slice as the export writes its name: `exported` gives the value of the
    /// name's attribute as written (`None`: removed).
    pub fn export_name(&mut self, exported: impl FnOnce(Tag) -> Option<String>) {
        self.name = self.name.take().and_then(|(tag, _)| Some((tag, exported(tag)?)));
    }

    pub fn of(object: &Object) -> Slice {
        let ds: &InMemDicomObject = object;
        let slice = Slice::read(object, &Groups::of(ds));
        match (slice.mosaic, mosaic_images(ds)) {
            (true, Some(images)) => {
                let sign = mosaic_normal_sign(ds, slice.orientation);
                slice.untiled(images, sign)
            }
            // A file whose frames dcm2niix orders is a volume of its own; other enhanced files
            // of a series are stacked (see `enhanced`). Their echo is in the frames.
            // Functional groups beyond NumberOfFrames are ignored (measured on a trimmed SEG).
            _ if slice.enhanced => Slice {
                header_spacing: (!reads_dimension_indices(ds)).then_some(slice.between.or(slice.thickness)).flatten(),
                split: match converted_alone(ds) {
                    true => format!("{}|{}", slice.split, slice.order.1),
                    false => format!("{}|{:?}", slice.split, slice.echo_time),
                },
                frame_list: slice.frame_list[..slice.frame_list.len().min(slice.frames as usize)].to_vec(),
                ..slice
            },
            _ => slice,
        }
    }

    /// The image's attributes as they are in the file. An enhanced image keeps geometry,
    /// rescale and timing in functional groups: its first frame's values stand for the image.
    fn read(object: &Object, groups: &Groups) -> Slice {
        let ds: &InMemDicomObject = object;
        let t = |tag| text(ds, tag).unwrap_or_default();
        let int = |tag| text(ds, tag).and_then(|v| v.parse::<i64>().ok());
        let first = |v: Option<Vec<f64>>| v?.first().copied().filter(|v| v.is_finite());
        let grouped = |sequence, tag| numbers(ds, tag).or_else(|| groups.numbers(0, sequence, tag));
        let measures = tags::PIXEL_MEASURES_SEQUENCE;
        let timing = tags::MR_TIMING_AND_RELATED_PARAMETERS_SEQUENCE;
        let position = numbers(ds, tags::IMAGE_POSITION_PATIENT)
            .and_then(|v| <[f64; 3]>::try_from(v).ok())
            .or_else(|| groups.position(0));
        // A position without an orientation: dcm2niix takes the axial one.
        let orientation = grouped(tags::PLANE_ORIENTATION_SEQUENCE, tags::IMAGE_ORIENTATION_PATIENT)
            .and_then(|v| <[f64; 6]>::try_from(v).ok())
            .or(position.map(|_| [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        let pixel_spacing = grouped(measures, tags::PIXEL_SPACING);
        let frame_list = groups.frames(ds);
        let mosaic = t(tags::IMAGE_TYPE).to_ascii_uppercase().split('\\').any(|v| v.trim() == "MOSAIC");
        let naming = Naming::of(ds);
        // dcm2niix does not stack a field map in Hz with other images of its series.
        let split = match super::xray::is_x_ray(ds) {
            true => super::xray::split_key(ds),
            false => split_key(ds, orientation, pixel_spacing.as_deref()),
        };
        Slice {
            split: if naming.field_map_hz { split + "|fieldmaphz" } else { split },
            series_number: int(tags::SERIES_NUMBER),
            name: [tags::PROTOCOL_NAME, tags::SERIES_DESCRIPTION]
                .into_iter()
                .find_map(|tag| text(ds, tag).map(|v| (tag, v))),
            native_bytes: None,
            orientation,
            position,
            spacing: pixel_spacing.and_then(|v| <[f64; 2]>::try_from(v).ok()),
            thickness: first(grouped(measures, tags::SLICE_THICKNESS)),
            between: first(grouped(measures, tags::SPACING_BETWEEN_SLICES)).filter(|v| *v > 0.0),
            tilt: number(ds, tags::GANTRY_DETECTOR_TILT).filter(|v| *v != 0.0),
            padding: number(ds, tags::PIXEL_PADDING_VALUE),
            rows: int(tags::ROWS).unwrap_or(0) as usize,
            columns: int(tags::COLUMNS).unwrap_or(0) as usize,
            bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(0) as u16,
            bits_stored: int(tags::BITS_STORED).unwrap_or(0) as u16,
            signed: int(tags::PIXEL_REPRESENTATION) == Some(1),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
            frames: int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as u32,
            rescale: groups.rescale(ds, 0),
            repetition_time: first(grouped(timing, tags::REPETITION_TIME)),
            echo_time: number(ds, tags::ECHO_TIME)
                .or_else(|| groups.number(0, tags::MR_ECHO_SEQUENCE, tags::EFFECTIVE_ECHO_TIME)),
            modality: t(tags::MODALITY),
            transfer_syntax: object.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_string(),
            order: (int(tags::INSTANCE_NUMBER).unwrap_or(i64::MAX), t(tags::SOP_INSTANCE_UID)),
            phase_rows: text(ds, tags::IN_PLANE_PHASE_ENCODING_DIRECTION).map(|v| v.eq_ignore_ascii_case("ROW")),
            photometric: t(tags::PHOTOMETRIC_INTERPRETATION).trim().to_ascii_uppercase(),
            mosaic,
            timing: timing::of_image(ds, mosaic),
            gradient: diffusion::of_image(ds, &t(tags::MANUFACTURER)),
            enhanced: !frame_list.is_empty(),
            frame_list,
            acquisition_3d: t(tags::MR_ACQUISITION_TYPE).eq_ignore_ascii_case("3D"),
            philips_scale: t(tags::MANUFACTURER)
                .to_ascii_lowercase()
                .contains("philips")
                .then(|| philips_scale(ds, groups))
                .flatten(),
            normal_sign: 1.0,
            header_spacing: None,
            naming,
        }
    }

    /// The SeriesInstanceUID (the split key's first part).
    pub(super) fn series_uid(&self) -> &str {
        self.split.split('|').next().unwrap_or_default()
    }

    /// Whether the export will place this file's samples straight from its bytes, all of
    /// them there (the scan saw native samples of at least the image's size end the file).
    pub(super) fn placed_as_scanned(&self) -> bool {
        let frame = self.rows * self.columns * self.samples as usize * (self.bits_allocated as usize / 8);
        !self.mosaic
            && matches!(self.bits_allocated, 8 | 16 | 32)
            && self.native_bytes.is_some_and(|n| n >= frame as u64 * u64::from(self.frames.max(1)))
    }

    /// Why this image cannot go into a NIfTI volume, if it cannot.
    pub(super) fn unsupported(&self) -> Option<String> {
        if let Some(why) = pixels::undecodable(&self.transfer_syntax, self.bits_stored)
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
                && (self.photometric == "RGB" || !pixels::NATIVE_TS.contains(&self.transfer_syntax.as_str())) => {}
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
            && pixels::NATIVE_TS.contains(&self.transfer_syntax.as_str());
        if !binary && !matches!(self.bits_allocated, 8 | 16 | 32) {
            return Some(format!(
                "{} bits allocated not converted yet (samples of 1 uncompressed, 8, 16 or 32 bits only)",
                self.bits_allocated
            ));
        }
        if self.mosaic && (self.frame_list.is_empty() || !pixels::NATIVE_TS.contains(&self.transfer_syntax.as_str())) {
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
