//! Generated image series for the NIfTI tests: axial, sagittal, coronal, oblique, 4D and
//! rescaled MR/CT series, enhanced multi-frame MR/CT files and 3D acquisitions, written
//! with dicom-object, each with planted identifiers that
//! must not reach a NIfTI file or its sidecar.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

/// Identifying values planted in every generated file.
pub const PLANTED: &[&str] = &[
    "Nifti^Planted^Marker",
    "PIDNIFTI0042",
    "ACCNIFTI0043",
    "Planted General Hospital NIFTI",
    "Planted Street 7 NIFTI",
    "STATIONNIFTI7",
    "SERIALNIFTI99",
    "Referrer^Planted^NIFTI",
    "Operator^Planted^NIFTI",
    "19610704",
    "20190317",
    "101112.125",
    "101314.375",
    "1.2.826.0.1.3680043.10.5437.77",
];

/// The UID root of generated study, series, frame of reference and instance UIDs.
pub const UID_ROOT: &str = "1.2.826.0.1.3680043.10.5437.77";

/// One generated series.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    pub rows: usize,
    pub columns: usize,
    /// ImageOrientationPatient: row direction, column direction.
    pub orientation: [f64; 6],
    pub origin: [f64; 3],
    /// PixelSpacing: between rows, between columns.
    pub spacing: [f64; 2],
    /// Distance between slice centres along the normal.
    pub gap: f64,
    pub slices: usize,
    /// Time points (4D when > 1).
    pub volumes: usize,
    pub bits_stored: u16,
    pub signed: bool,
    /// RescaleSlope/Intercept (CT); with `vary`, the slope changes per slice.
    pub rescale: Option<(f64, f64)>,
    pub vary_rescale: bool,
    /// InstanceNumber descending along the normal (scanners do both).
    pub descending: bool,
    pub modality: &'static str,
    pub series_number: i64,
    /// One enhanced multi-frame file (Enhanced MR/CT Image Storage) instead of one file a
    /// slice: geometry, pixel measures and rescale in functional groups.
    pub enhanced: bool,
    /// MRAcquisitionType 3D (dcm2niix turns such volumes to the axes nearest RAS).
    pub acquisition_3d: bool,
    /// Siemens mosaics: one file a time point, its slices tiled (number in (0019,100A)).
    pub mosaic: bool,
    /// With `enhanced`: one enhanced file a time point (dcm2niix makes each a volume).
    pub file_per_volume: bool,
    /// With `enhanced`: the "time points" are echoes (EffectiveEchoTime 30, 40… ms per frame).
    pub multi_echo: bool,
    /// GantryDetectorTilt (degrees, CT): when not 0, the slices step along the table (z) by
    /// `gap`, not along their normal, as a scanner with a tilted gantry writes them.
    pub tilt: f64,
    /// ImageType (`ORIGINAL\\PRIMARY\\OTHER` unless set).
    pub image_type: &'static str,
    /// A scout: image z turned about the origin to axial, coronal, sagittal in turn (three
    /// orthogonal planes), as a three-plane localizer stores them.
    pub orthogonal: bool,
    /// More images in the same folder under the same SeriesNumber, each part with its own
    /// pixels and InstanceNumbers after the series' own; `true`: the same SeriesInstanceUID.
    pub with: Vec<(Spec, bool)>,
    /// XRayExposure (0018,1152, mAs): with it dcm2niix stacks a CT series' images whatever
    /// their orientation or ImageType (its `isXRay` shortcut).
    pub exposure: Option<&'static str>,
}

impl Spec {
    /// How many NIfTI volumes dcm2niix (and the export) make of the series.
    pub fn outputs(&self) -> usize {
        if self.enhanced && (self.file_per_volume || self.multi_echo) {
            self.volumes
        } else if self.tilt != 0.0 && self.volumes == 1 && self.slices >= 3 {
            2 // the volume as stored and dcm2niix's tilt-corrected `_Tilt_1`
        } else {
            1
        }
    }
}

impl Spec {
    fn base(name: &'static str, orientation: [f64; 6]) -> Spec {
        Spec {
            name,
            rows: 24,
            columns: 20,
            orientation,
            origin: [-61.5, -80.25, 12.75],
            spacing: [0.9375, 1.25],
            gap: 3.3,
            slices: 6,
            volumes: 1,
            bits_stored: 12,
            signed: false,
            rescale: None,
            vary_rescale: false,
            descending: false,
            modality: "MR",
            series_number: 3,
            enhanced: false,
            acquisition_3d: false,
            mosaic: false,
            file_per_volume: false,
            multi_echo: false,
            tilt: 0.0,
            image_type: "ORIGINAL\\PRIMARY\\OTHER",
            orthogonal: false,
            with: Vec::new(),
            exposure: None,
        }
    }
}

/// The benchmark studies (`make bench`): `ct600`, one axial CT series of 600 slices of 512×512
/// signed 16-bit (about 315 MB); `mr4d`, 100 volumes of 64×64×30 (3,000 files, about 30 MB).
/// `quick` shrinks them (80 CT slices, 10 MR volumes) for developing the harness.
pub fn bench_specs(quick: bool) -> Vec<Spec> {
    let axial = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    vec![
        Spec {
            rows: 512,
            columns: 512,
            origin: [-249.51, -410.51, -37.5],
            spacing: [0.9766, 0.9766],
            gap: 0.625,
            slices: if quick { 80 } else { 600 },
            modality: "CT",
            bits_stored: 16,
            signed: true,
            rescale: Some((1.0, -1024.0)),
            series_number: 2,
            ..Spec::base("ct600", axial)
        },
        Spec {
            rows: 64,
            columns: 64,
            origin: [-120.0, -110.0, -40.0],
            spacing: [3.75, 3.75],
            gap: 4.0,
            slices: 30,
            volumes: if quick { 10 } else { 100 },
            series_number: 5,
            ..Spec::base("mr4d", axial)
        },
    ]
}

/// The generated series the NIfTI tests compare with dcm2niix.
pub fn specs() -> Vec<Spec> {
    let c = std::f64::consts::FRAC_1_SQRT_2;
    let (a, b) = (0.2f64.cos(), 0.2f64.sin());
    // Gantry tilts of 15° and -12°: the image plane turned about the row direction.
    let (t, u) = (15f64.to_radians(), 12f64.to_radians());
    vec![
        Spec::base("axial", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        Spec {
            descending: true,
            series_number: 4,
            ..Spec::base("axial-descending", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            series_number: 5,
            ..Spec::base("sagittal", [0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            descending: true,
            series_number: 6,
            ..Spec::base("coronal", [1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            series_number: 7,
            ..Spec::base("oblique", [a, b, 0.0, -b * c, a * c, -c])
        },
        Spec {
            volumes: 4,
            slices: 5,
            series_number: 8,
            ..Spec::base("bold-4d", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            modality: "CT",
            bits_stored: 16,
            signed: true,
            rescale: Some((1.0, -1024.0)),
            series_number: 9,
            gap: 2.5,
            ..Spec::base("ct-rescaled", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            modality: "CT",
            bits_stored: 12,
            rescale: Some((0.5, -100.0)),
            vary_rescale: true,
            series_number: 10,
            ..Spec::base("ct-slope-varies", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            bits_stored: 16,
            series_number: 11,
            ..Spec::base("uint16-full", [0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            slices: 1,
            series_number: 12,
            ..Spec::base("single-slice", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            mosaic: true,
            volumes: 3,
            slices: 7,
            series_number: 20,
            ..Spec::base("mosaic-4d", [a, b, 0.0, -b * c, a * c, -c])
        },
        Spec {
            enhanced: true,
            multi_echo: true,
            volumes: 3,
            slices: 4,
            series_number: 23,
            ..Spec::base("enhanced-multi-echo", [0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            mosaic: true,
            descending: true,
            slices: 5,
            series_number: 22,
            ..Spec::base("mosaic-descending", [1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            enhanced: true,
            file_per_volume: true,
            volumes: 2,
            slices: 4,
            series_number: 21,
            ..Spec::base("enhanced-two-files", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            acquisition_3d: true,
            series_number: 16,
            ..Spec::base("sagittal-3d", [0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            acquisition_3d: true,
            descending: true,
            series_number: 18,
            ..Spec::base("coronal-3d", [1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            acquisition_3d: true,
            series_number: 19,
            ..Spec::base("axial-3d", [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            enhanced: true,
            acquisition_3d: true,
            series_number: 17,
            ..Spec::base("enhanced-oblique-3d", [a, b, 0.0, -b * c, a * c, -c])
        },
        Spec {
            enhanced: true,
            volumes: 3,
            slices: 5,
            descending: true,
            series_number: 13,
            ..Spec::base("enhanced-mr-4d", [a, b, 0.0, -b * c, a * c, -c])
        },
        Spec {
            enhanced: true,
            modality: "CT",
            bits_stored: 16,
            signed: true,
            rescale: Some((1.0, -1024.0)),
            series_number: 14,
            gap: 2.5,
            ..Spec::base("enhanced-ct", [0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
        },
        Spec {
            enhanced: true,
            modality: "CT",
            rescale: Some((0.5, -100.0)),
            vary_rescale: true,
            series_number: 15,
            ..Spec::base("enhanced-ct-slope-varies", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        },
        Spec {
            rows: 64,
            columns: 64,
            slices: 20,
            modality: "CT",
            bits_stored: 16,
            signed: true,
            rescale: Some((1.0, -1024.0)),
            series_number: 24,
            gap: 2.5,
            tilt: 15.0,
            ..Spec::base("ct-tilt", [1.0, 0.0, 0.0, 0.0, t.cos(), -t.sin()])
        },
        Spec {
            rows: 64,
            columns: 48,
            slices: 12,
            modality: "CT",
            bits_stored: 12,
            rescale: Some((1.0, -1024.0)),
            descending: true,
            series_number: 25,
            gap: 3.0,
            tilt: -12.0,
            ..Spec::base("ct-tilt-negative", [1.0, 0.0, 0.0, 0.0, u.cos(), u.sin()])
        },
    ]
}

/// Series that dcm2niix splits or names in its own way, compared with it by name as well as by
/// voxels (kept apart from [`specs`], whose exports are the golden files): CT scouts (three
/// orthogonal planes), a CT series with a scout of another size or of its own size, two
/// reconstructions under one SeriesNumber (their own SeriesInstanceUIDs, or one), an MR
/// three-plane localizer, and a single CT image; then CT with XRayExposure, which dcm2niix
/// stacks whatever the orientation or ImageType: an axial series, a three-plane scout (one
/// volume), an axial series with a scout of its size (one volume of 7 slices) and with a
/// taller scout (two volumes).
pub fn grouping_specs() -> Vec<Spec> {
    let axial = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    let ct = |name, series_number| Spec {
        modality: "CT",
        bits_stored: 16,
        signed: true,
        rescale: Some((1.0, -1024.0)),
        series_number,
        gap: 2.5,
        ..Spec::base(name, axial)
    };
    let scout = |name, rows| Spec {
        slices: 1,
        rows,
        image_type: "ORIGINAL\\PRIMARY\\LOCALIZER",
        ..Spec { orientation: [1.0, 0.0, 0.0, 0.0, 0.0, -1.0], ..ct(name, 0) }
    };
    let x = Some("120");
    vec![
        Spec { slices: 3, orthogonal: true, image_type: "ORIGINAL\\PRIMARY\\LOCALIZER", ..ct("ct-scout", 31) },
        Spec { with: vec![(scout("ct-scout-tall", 40), true)], ..ct("ct-with-scout", 32) },
        Spec { with: vec![(scout("ct-scout-same-size", 24), true)], ..ct("ct-with-scout-same-size", 33) },
        Spec { with: vec![(Spec { gap: 1.25, slices: 8, ..ct("ct-recon-thin", 0) }, false)], ..ct("ct-two-recons", 34) },
        Spec {
            with: vec![(Spec { image_type: "DERIVED\\SECONDARY\\AXIAL", ..ct("ct-recon-derived", 0) }, true)],
            ..ct("ct-recons-one-uid", 35)
        },
        Spec { slices: 3, orthogonal: true, series_number: 36, ..Spec::base("mr-localizer", axial) },
        Spec { slices: 1, ..ct("ct-single", 37) },
        // With XRayExposure dcm2niix stacks a CT series' images whatever their orientation.
        Spec { exposure: x, ..ct("ct-xray", 38) },
        Spec { slices: 3, orthogonal: true, image_type: "ORIGINAL\\PRIMARY\\LOCALIZER", exposure: x, ..ct("ct-scout-xray", 39) },
        Spec {
            with: vec![(Spec { exposure: x, ..scout("ct-scout-same-size-xray", 24) }, true)],
            exposure: x,
            ..ct("ct-with-scout-same-size-xray", 40)
        },
        Spec { with: vec![(Spec { exposure: x, ..scout("ct-scout-tall-xray", 40) }, true)], exposure: x, ..ct("ct-with-scout-xray", 41) },
    ]
}

fn text(obj: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn ds(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.6}"))
        .map(|s| s.trim_end_matches('0').trim_end_matches('.').to_string())
        .collect::<Vec<_>>()
        .join("\\")
}

/// Writes the series' files into `dir`; returns their paths.
pub fn write(spec: &Spec, index: usize, dir: &Path) -> Vec<PathBuf> {
    let mut paths = write_part(spec, index, Part { study: index, series: index, first: 0 }, dir);
    let mut first = spec.volumes * spec.slices;
    for (k, (part, same_uid)) in spec.with.iter().enumerate() {
        let part = Spec { name: spec.name, series_number: spec.series_number, ..part.clone() };
        let series = if *same_uid { index } else { 1000 + index * 10 + k };
        let ids = Part { study: index, series, first };
        paths.extend(write_part(&part, 1000 + index * 10 + k, ids, dir));
        first += part.volumes * part.slices;
    }
    paths
}

/// Which study and series UIDs a part of a series takes, and the InstanceNumber before its first.
struct Part {
    study: usize,
    series: usize,
    first: usize,
}

/// The orientation of image `z` of `spec`: a scout's turns through axial, coronal, sagittal.
fn orientation_of(spec: &Spec, z: usize) -> [f64; 6] {
    match (spec.orthogonal, z % 3) {
        (false, _) | (true, 0) => spec.orientation,
        (true, 1) => [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        (true, _) => [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
    }
}

/// `write` for one part of a series (`index`: its pixels and SOP Instance UIDs).
fn write_part(spec: &Spec, index: usize, ids: Part, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("series folder");
    let o = spec.orientation;
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let n = [
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    ];
    let study = format!("{UID_ROOT}.1.{}", ids.study);
    let series = format!("{UID_ROOT}.2.{}", ids.series);
    let frame = format!("{UID_ROOT}.3.{}", ids.study);
    let sop_class = if spec.modality == "CT" {
        "1.2.840.10008.5.1.4.1.1.2"
    } else {
        "1.2.840.10008.5.1.4.1.1.4"
    };
    let mut paths = Vec::new();
    let mut frames = Vec::new();
    for t in 0..spec.volumes {
        for z in 0..spec.slices {
            let k = if spec.descending {
                spec.slices - 1 - z
            } else {
                z
            };
            let number = ids.first + t * spec.slices + z + 1;
            let step = if spec.tilt != 0.0 { [0.0, 0.0, 1.0] } else { n };
            let position: Vec<f64> = (0..3)
                .map(|i| spec.origin[i] + step[i] * spec.gap * k as f64)
                .collect();
            let sop = format!("{UID_ROOT}.4.{index}.{number}");
            let mut obj = InMemDicomObject::new_empty();
            text(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
            text(
                &mut obj,
                tags::IMAGE_TYPE,
                VR::CS,
                spec.image_type,
            );
            text(&mut obj, tags::SOP_CLASS_UID, VR::UI, sop_class);
            text(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop);
            text(&mut obj, tags::STUDY_DATE, VR::DA, "20190317");
            text(&mut obj, tags::SERIES_DATE, VR::DA, "20190317");
            text(&mut obj, tags::ACQUISITION_DATE, VR::DA, "20190317");
            text(&mut obj, tags::STUDY_TIME, VR::TM, "101112.125");
            // 10:13:14.375 + t seconds (valid TM for any number of volumes).
            let second = 10 * 3600 + 13 * 60 + 14 + t;
            text(
                &mut obj,
                tags::ACQUISITION_TIME,
                VR::TM,
                &format!("{:02}{:02}{:02}.375", second / 3600 % 24, second / 60 % 60, second % 60),
            );
            text(&mut obj, tags::CONTENT_TIME, VR::TM, "101314.375");
            text(&mut obj, tags::ACCESSION_NUMBER, VR::SH, "ACCNIFTI0043");
            text(&mut obj, tags::MODALITY, VR::CS, spec.modality);
            text(&mut obj, tags::MANUFACTURER, VR::LO, "ACME");
            text(
                &mut obj,
                tags::INSTITUTION_NAME,
                VR::LO,
                "Planted General Hospital NIFTI",
            );
            text(
                &mut obj,
                tags::INSTITUTION_ADDRESS,
                VR::ST,
                "Planted Street 7 NIFTI",
            );
            text(
                &mut obj,
                tags::REFERRING_PHYSICIAN_NAME,
                VR::PN,
                "Referrer^Planted^NIFTI",
            );
            text(&mut obj, tags::STATION_NAME, VR::SH, "STATIONNIFTI7");
            text(
                &mut obj,
                tags::SERIES_DESCRIPTION,
                VR::LO,
                &format!("{} series", spec.name),
            );
            text(
                &mut obj,
                tags::OPERATORS_NAME,
                VR::PN,
                "Operator^Planted^NIFTI",
            );
            text(&mut obj, tags::MANUFACTURER_MODEL_NAME, VR::LO, "Model 1");
            text(&mut obj, tags::PATIENT_NAME, VR::PN, "Nifti^Planted^Marker");
            text(&mut obj, tags::PATIENT_ID, VR::LO, "PIDNIFTI0042");
            text(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, "19610704");
            text(&mut obj, tags::PATIENT_SEX, VR::CS, "O");
            text(&mut obj, tags::SLICE_THICKNESS, VR::DS, &ds(&[spec.gap]));
            if let Some(exposure) = spec.exposure {
                text(&mut obj, tags::EXPOSURE, VR::IS, exposure);
            }
            if spec.tilt != 0.0 {
                text(&mut obj, tags::GANTRY_DETECTOR_TILT, VR::DS, &ds(&[spec.tilt]));
            }
            if spec.acquisition_3d {
                text(&mut obj, tags::MR_ACQUISITION_TYPE, VR::CS, "3D");
            }
            if spec.modality == "MR" {
                text(&mut obj, tags::REPETITION_TIME, VR::DS, "2000");
                text(&mut obj, tags::ECHO_TIME, VR::DS, "30");
                text(&mut obj, tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "3");
                text(&mut obj, tags::FLIP_ANGLE, VR::DS, "90");
            }
            text(
                &mut obj,
                tags::DEVICE_SERIAL_NUMBER,
                VR::LO,
                "SERIALNIFTI99",
            );
            text(&mut obj, tags::PROTOCOL_NAME, VR::LO, spec.name);
            text(&mut obj, tags::PATIENT_POSITION, VR::CS, "HFS");
            text(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, &study);
            text(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, &series);
            text(&mut obj, tags::STUDY_ID, VR::SH, "STUDYNIFTI5");
            text(
                &mut obj,
                tags::SERIES_NUMBER,
                VR::IS,
                &spec.series_number.to_string(),
            );
            text(
                &mut obj,
                tags::ACQUISITION_NUMBER,
                VR::IS,
                &(t + 1).to_string(),
            );
            text(&mut obj, tags::INSTANCE_NUMBER, VR::IS, &number.to_string());
            text(
                &mut obj,
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                &ds(&position),
            );
            text(
                &mut obj,
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                &ds(&orientation_of(spec, z)),
            );
            text(&mut obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, &frame);
            obj.put(DataElement::new(
                tags::SAMPLES_PER_PIXEL,
                VR::US,
                PrimitiveValue::from(1u16),
            ));
            text(
                &mut obj,
                tags::PHOTOMETRIC_INTERPRETATION,
                VR::CS,
                "MONOCHROME2",
            );
            obj.put(DataElement::new(
                tags::ROWS,
                VR::US,
                PrimitiveValue::from(spec.rows as u16),
            ));
            obj.put(DataElement::new(
                tags::COLUMNS,
                VR::US,
                PrimitiveValue::from(spec.columns as u16),
            ));
            text(&mut obj, tags::PIXEL_SPACING, VR::DS, &ds(&spec.spacing));
            obj.put(DataElement::new(
                tags::BITS_ALLOCATED,
                VR::US,
                PrimitiveValue::from(16u16),
            ));
            obj.put(DataElement::new(
                tags::BITS_STORED,
                VR::US,
                PrimitiveValue::from(spec.bits_stored),
            ));
            obj.put(DataElement::new(
                tags::HIGH_BIT,
                VR::US,
                PrimitiveValue::from(spec.bits_stored - 1),
            ));
            obj.put(DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(spec.signed as u16),
            ));
            if let Some((slope, intercept)) = spec.rescale {
                let slope = if spec.vary_rescale {
                    slope * (1.0 + k as f64 * 0.25)
                } else {
                    slope
                };
                text(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, &ds(&[intercept]));
                text(&mut obj, tags::RESCALE_SLOPE, VR::DS, &ds(&[slope]));
                text(&mut obj, tags::RESCALE_TYPE, VR::LO, "HU");
            }
            let max = if spec.signed {
                1i64 << (spec.bits_stored - 1)
            } else {
                1i64 << spec.bits_stored
            };
            let pixels: Vec<u16> = (0..spec.rows * spec.columns)
                .map(|p| {
                    let (y, x) = ((p / spec.columns) as i64, (p % spec.columns) as i64);
                    let v =
                        (x * 37 + y * 101 + k as i64 * 1009 + t as i64 * 7919 + index as i64 * 13)
                            % max;
                    let v = if spec.signed { v - max / 2 } else { v };
                    v as u16
                })
                .collect();
            obj.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(pixels.into()),
            ));
            let meta = meta(sop_class, &sop);
            if spec.enhanced || spec.mosaic {
                frames.push(Frame { obj, t, z, position });
                continue;
            }
            let path = dir.join(format!("{}_{number:03}.dcm", spec.name));
            obj.with_exact_meta(meta)
                .write_to_file(&path)
                .expect("write generated slice");
            paths.push(path);
        }
    }
    if spec.mosaic {
        paths.extend(write_mosaics(spec, frames, dir));
    } else if spec.enhanced && spec.file_per_volume {
        let mut by_time: Vec<Vec<Frame>> = (0..spec.volumes).map(|_| Vec::new()).collect();
        for f in frames {
            by_time[f.t].push(f);
        }
        for (t, frames) in by_time.into_iter().enumerate() {
            let single = Spec { volumes: 1, ..spec.clone() };
            let path = write_enhanced(&single, index * 100 + t, frames, dir);
            let named = dir.join(format!("{}_{t}.dcm", spec.name));
            std::fs::rename(&path, &named).expect("rename");
            paths.push(named);
        }
    } else if spec.enhanced {
        paths.push(write_enhanced(spec, index, frames, dir));
    }
    paths
}

/// A Siemens CSA header (SV10): for each element its name, VM, VR and text items, each item
/// a 16-byte header (its length second) and the text padded to 4 bytes.
fn csa(elements: &[(&str, &str, &[&str])]) -> Vec<u8> {
    let mut out = b"SV10\x04\x03\x02\x01".to_vec();
    out.extend_from_slice(&(elements.len() as u32).to_le_bytes());
    out.extend_from_slice(&77u32.to_le_bytes());
    for (name, vr, items) in elements {
        let mut field = [0u8; 64];
        field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&field);
        out.extend_from_slice(&(items.len() as i32).to_le_bytes());
        let mut code = [0u8; 4];
        code[..vr.len()].copy_from_slice(vr.as_bytes());
        out.extend_from_slice(&code);
        for v in [0i32, items.len() as i32, 77] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for item in items.iter() {
            let len = item.len() as i32 + 1;
            for v in [len, len, 77, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(item.as_bytes());
            out.resize(out.len() + (len as usize).div_ceil(4) * 4 - item.len(), 0);
        }
    }
    out
}

/// The frames of each time point tiled into one Siemens mosaic file: ceil(sqrt(n)) tiles a
/// row, ImagePositionPatient moved to the corner of the whole mosaic (as Siemens writes it),
/// the number of images in (0019,100A).
fn write_mosaics(spec: &Spec, frames: Vec<Frame>, dir: &Path) -> Vec<PathBuf> {
    let tiles = (1..).find(|t| t * t >= spec.slices).expect("some size");
    let (rows, columns) = (spec.rows * tiles, spec.columns * tiles);
    let o = spec.orientation;
    let mut paths = Vec::new();
    for t in 0..spec.volumes {
        let time: Vec<&Frame> = frames.iter().filter(|f| f.t == t).collect();
        let mut obj = time[0].obj.clone();
        let mut pixels = vec![0u16; rows * columns];
        for f in &time {
            let tile = f.obj.element(tags::PIXEL_DATA).expect("pixels").to_multi_int::<u16>().expect("words");
            let (tr, tc) = (f.z / tiles, f.z % tiles);
            for y in 0..spec.rows {
                let at = (tr * spec.rows + y) * columns + tc * spec.columns;
                pixels[at..at + spec.columns].copy_from_slice(&tile[y * spec.columns..(y + 1) * spec.columns]);
            }
        }
        let p = &time[0].position;
        let (dx, dy) = (spec.spacing[1], spec.spacing[0]);
        let corner: Vec<f64> = (0..3)
            .map(|i| {
                p[i] - o[i] * dx * (columns - spec.columns) as f64 / 2.0
                    - o[3 + i] * dy * (rows - spec.rows) as f64 / 2.0
            })
            .collect();
        obj.put(string(tags::IMAGE_POSITION_PATIENT, VR::DS, &ds(&corner)));
        obj.put(string(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\M\\ND\\MOSAIC"));
        obj.put(string(tags::MANUFACTURER, VR::LO, "SIEMENS"));
        obj.put(string(tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(&[spec.gap])));
        // The descending one leaves the count to the CSA header alone.
        if !spec.descending {
            obj.put(string(dicom_core::Tag(0x0019, 0x0010), VR::LO, "SIEMENS MR HEADER"));
            obj.put(DataElement::new(
                dicom_core::Tag(0x0019, 0x100A),
                VR::US,
                PrimitiveValue::from(spec.slices as u16),
            ));
        }
        // Siemens' CSA image header: the tiles run along SliceNormalVector (against the
        // row × column normal when the slices descend).
        let sign = if spec.descending { -1.0 } else { 1.0 };
        let normal = [
            o[1] * o[5] - o[2] * o[4],
            o[2] * o[3] - o[0] * o[5],
            o[0] * o[4] - o[1] * o[3],
        ]
        .map(|v| format!("{:.8}", sign * v));
        let count = spec.slices.to_string();
        obj.put(string(dicom_core::Tag(0x0029, 0x0010), VR::LO, "SIEMENS CSA HEADER"));
        obj.put(DataElement::new(
            dicom_core::Tag(0x0029, 0x1010),
            VR::OB,
            PrimitiveValue::from(csa(&[
                ("NumberOfImagesInMosaic", "US", &[&count]),
                ("SliceNormalVector", "FD", &[&normal[0], &normal[1], &normal[2]]),
            ])),
        ));
        obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows as u16)));
        obj.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(columns as u16)));
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())));
        let sop = obj
            .element(tags::SOP_INSTANCE_UID)
            .expect("sop")
            .to_str()
            .expect("text")
            .to_string();
        let class = obj.element(tags::SOP_CLASS_UID).expect("class").to_str().expect("text").to_string();
        let path = dir.join(format!("{}_{t:03}.dcm", spec.name));
        obj.with_exact_meta(meta(&class, &sop))
            .write_to_file(&path)
            .expect("write generated mosaic");
        paths.push(path);
    }
    paths
}

/// The file meta group of a generated file (explicit VR little endian).
fn meta(sop_class: &str, sop: &str) -> dicom_object::meta::FileMetaTable {
    FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop)
        .transfer_syntax("1.2.840.10008.1.2.1")
        .implementation_class_uid("1.2.826.0.1.3680043.10.5437.99")
        .build()
        .expect("file meta")
}

/// One frame of an enhanced file, as the single-frame loop made it.
struct Frame {
    obj: InMemDicomObject,
    t: usize,
    z: usize,
    position: Vec<f64>,
}

/// An MR Echo functional group.
fn echo(ms: f64) -> DataElement<InMemDicomObject> {
    sequence(
        tags::MR_ECHO_SEQUENCE,
        vec![item(vec![DataElement::new(tags::EFFECTIVE_ECHO_TIME, VR::FD, PrimitiveValue::from(ms))])],
    )
}

fn sequence(tag: dicom_core::Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(items))
}

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

fn string(tag: dicom_core::Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// The frames as one Enhanced MR/CT Image file: the first frame's attributes, minus the
/// per-image geometry and rescale, which move into shared and per-frame functional groups
/// (pixel measures, plane orientation and position, pixel value transformation, frame
/// content with dimension index values, MR timing and echo).
fn write_enhanced(spec: &Spec, index: usize, frames: Vec<Frame>, dir: &Path) -> PathBuf {
    let sop_class = if spec.modality == "CT" {
        "1.2.840.10008.5.1.4.1.1.2.1"
    } else {
        "1.2.840.10008.5.1.4.1.1.4.1"
    };
    let rescale_tag = tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE;
    let sop = format!("{UID_ROOT}.4.{index}.1");
    let mut obj = frames[0].obj.clone();
    let take = |o: &mut InMemDicomObject, tag| o.take_element(tag).ok();
    let mut shared = vec![
        sequence(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(
                [tags::PIXEL_SPACING, tags::SLICE_THICKNESS]
                    .into_iter()
                    .filter_map(|tag| take(&mut obj, tag))
                    .collect(),
            )],
        ),
        sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(take(&mut obj, tags::IMAGE_ORIENTATION_PATIENT).into_iter().collect())],
        ),
    ];
    let rescale = [tags::RESCALE_INTERCEPT, tags::RESCALE_SLOPE, tags::RESCALE_TYPE];
    if spec.rescale.is_some() && !spec.vary_rescale {
        let group = rescale.into_iter().filter_map(|tag| take(&mut obj, tag)).collect();
        shared.push(sequence(rescale_tag, vec![item(group)]));
    }
    if spec.modality == "MR" {
        let timing = [tags::REPETITION_TIME, tags::FLIP_ANGLE]
            .into_iter()
            .filter_map(|tag| take(&mut obj, tag))
            .collect();
        shared.push(sequence(tags::MR_TIMING_AND_RELATED_PARAMETERS_SEQUENCE, vec![item(timing)]));
        take(&mut obj, tags::ECHO_TIME);
        if !spec.multi_echo {
            shared.push(echo(30.0));
        }
    }
    for tag in [tags::IMAGE_POSITION_PATIENT, tags::PIXEL_DATA] {
        take(&mut obj, tag);
    }
    for tag in rescale {
        take(&mut obj, tag);
    }
    let four_d = spec.volumes > 1 && !spec.multi_echo;
    let mut pointers = vec![
        (tags::STACK_ID, tags::FRAME_CONTENT_SEQUENCE),
        (tags::IN_STACK_POSITION_NUMBER, tags::FRAME_CONTENT_SEQUENCE),
    ];
    if four_d {
        pointers.push((tags::TEMPORAL_POSITION_INDEX, tags::FRAME_CONTENT_SEQUENCE));
    }
    if spec.multi_echo {
        pointers.push((tags::EFFECTIVE_ECHO_TIME, tags::MR_ECHO_SEQUENCE));
    }
    obj.put(sequence(
        tags::DIMENSION_INDEX_SEQUENCE,
        pointers
            .iter()
            .map(|&(p, group)| {
                item(vec![
                    DataElement::new(tags::DIMENSION_INDEX_POINTER, VR::AT, PrimitiveValue::Tags([p][..].into())),
                    DataElement::new(tags::FUNCTIONAL_GROUP_POINTER, VR::AT, PrimitiveValue::Tags([group][..].into())),
                ])
            })
            .collect(),
    ));
    let mut per_frame = Vec::new();
    let mut pixels: Vec<u16> = Vec::new();
    for f in &frames {
        let (t, z) = (f.t as u32 + 1, f.z as u32 + 1);
        let mut values = vec![1, z];
        let mut content = vec![
            string(tags::STACK_ID, VR::SH, "1"),
            DataElement::new(tags::IN_STACK_POSITION_NUMBER, VR::UL, PrimitiveValue::from(z)),
        ];
        if spec.multi_echo {
            values.push(t); // the echo's index
        }
        if four_d {
            values.push(t);
            content.push(DataElement::new(tags::TEMPORAL_POSITION_INDEX, VR::UL, PrimitiveValue::from(t)));
        }
        content.push(DataElement::new(
            tags::DIMENSION_INDEX_VALUES,
            VR::UL,
            PrimitiveValue::U32(values.into()),
        ));
        let mut groups = vec![
            sequence(tags::FRAME_CONTENT_SEQUENCE, vec![item(content)]),
            sequence(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![string(tags::IMAGE_POSITION_PATIENT, VR::DS, &ds(&f.position))])],
            ),
        ];
        if spec.multi_echo {
            groups.push(echo(30.0 + 10.0 * f.t as f64));
        }
        if spec.vary_rescale {
            let group = rescale
                .into_iter()
                .filter_map(|tag| f.obj.element(tag).ok().cloned())
                .collect();
            groups.push(sequence(rescale_tag, vec![item(group)]));
        }
        per_frame.push(item(groups));
        let frame = f.obj.element(tags::PIXEL_DATA).expect("pixels").to_multi_int::<u16>().expect("words");
        pixels.extend(frame);
    }
    obj.put(sequence(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![item(shared)]));
    obj.put(sequence(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    obj.put(string(tags::NUMBER_OF_FRAMES, VR::IS, &frames.len().to_string()));
    obj.put(string(tags::INSTANCE_NUMBER, VR::IS, &(frames[0].t + 1).to_string()));
    obj.put(string(tags::SOP_CLASS_UID, VR::UI, sop_class));
    obj.put(string(tags::SOP_INSTANCE_UID, VR::UI, &sop));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())));
    let path = dir.join(format!("{}.dcm", spec.name));
    obj.with_exact_meta(meta(sop_class, &sop))
        .write_to_file(&path)
        .expect("write generated enhanced file");
    path
}
