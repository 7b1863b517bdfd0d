//! The BIDS-style JSON sidecar: the acquisition fields dcm2niix writes, each kept only
//! when the de-identification policy keeps its DICOM attribute. No names, IDs, UIDs,
//! institution, station, serial numbers, dates or times are ever written.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use crate::dicom::{in_functional_groups, numbers, text};
use super::complex::Complex;
use super::Volume;
use crate::dicom::Object;
use crate::profile::{Action, Code, Policy};

/// How a DICOM value becomes a JSON value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Number,
    /// Milliseconds in DICOM, seconds in BIDS.
    Seconds,
    Integer,
    /// A multi-valued code string, as an array: split at `\\` and at `_`, as dcm2niix
    /// writes ImageType (`ECHO_00` → `ECHO`, `00`).
    Codes,
    Numbers,
}

const FIELDS: &[(&str, Tag, Kind)] = &[
    ("Modality", tags::MODALITY, Kind::Text),
    (
        "MagneticFieldStrength",
        tags::MAGNETIC_FIELD_STRENGTH,
        Kind::Number,
    ),
    ("ImagingFrequency", tags::IMAGING_FREQUENCY, Kind::Number),
    ("Manufacturer", tags::MANUFACTURER, Kind::Text),
    (
        "ManufacturersModelName",
        tags::MANUFACTURER_MODEL_NAME,
        Kind::Text,
    ),
    ("BodyPartExamined", tags::BODY_PART_EXAMINED, Kind::Text),
    ("PatientPosition", tags::PATIENT_POSITION, Kind::Text),
    ("SoftwareVersions", tags::SOFTWARE_VERSIONS, Kind::Text),
    ("MRAcquisitionType", tags::MR_ACQUISITION_TYPE, Kind::Text),
    ("SeriesDescription", tags::SERIES_DESCRIPTION, Kind::Text),
    ("ProtocolName", tags::PROTOCOL_NAME, Kind::Text),
    ("ScanningSequence", tags::SCANNING_SEQUENCE, Kind::Text),
    ("SequenceVariant", tags::SEQUENCE_VARIANT, Kind::Text),
    ("ScanOptions", tags::SCAN_OPTIONS, Kind::Text),
    ("SequenceName", tags::SEQUENCE_NAME, Kind::Text),
    ("ImageType", tags::IMAGE_TYPE, Kind::Codes),
    ("SeriesNumber", tags::SERIES_NUMBER, Kind::Integer),
    ("AcquisitionNumber", tags::ACQUISITION_NUMBER, Kind::Integer),
    ("SliceThickness", tags::SLICE_THICKNESS, Kind::Number),
    (
        "SpacingBetweenSlices",
        tags::SPACING_BETWEEN_SLICES,
        Kind::Number,
    ),
    ("SAR", tags::SAR, Kind::Number),
    ("EchoNumber", tags::ECHO_NUMBERS, Kind::Integer),
    ("EchoTime", tags::ECHO_TIME, Kind::Seconds),
    ("RepetitionTime", tags::REPETITION_TIME, Kind::Seconds),
    ("InversionTime", tags::INVERSION_TIME, Kind::Seconds),
    ("FlipAngle", tags::FLIP_ANGLE, Kind::Number),
    ("PixelBandwidth", tags::PIXEL_BANDWIDTH, Kind::Number),
    (
        "InPlanePhaseEncodingDirectionDICOM",
        tags::IN_PLANE_PHASE_ENCODING_DIRECTION,
        Kind::Text,
    ),
    ("ConvolutionKernel", tags::CONVOLUTION_KERNEL, Kind::Text),
    ("KVP", tags::KVP, Kind::Number),
    ("ExposureTime", tags::EXPOSURE_TIME, Kind::Seconds),
    ("XRayTubeCurrent", tags::X_RAY_TUBE_CURRENT, Kind::Number),
    ("XRayExposure", tags::EXPOSURE, Kind::Number),
    (
        "ImageOrientationPatientDICOM",
        tags::IMAGE_ORIENTATION_PATIENT,
        Kind::Numbers,
    ),
];

/// Whether the policy lets the attribute's value through unchanged.
fn kept(policy: &Policy, tag: Tag) -> bool {
    matches!(policy.action(tag), Action::Code(Code::K) | Action::Unlisted)
}

fn json_number(v: f64) -> Option<Value> {
    serde_json::Number::from_f64(v).map(Value::Number)
}

fn value(ds: &InMemDicomObject, tag: Tag, kind: Kind) -> Option<Value> {
    match kind {
        Kind::Text => text(ds, tag).map(Value::String),
        Kind::Codes => {
            let v = text(ds, tag)?;
            Some(Value::Array(
                v.split(['\\', '_'])
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        Kind::Integer => text(ds, tag)?
            .split('\\')
            .next()?
            .trim()
            .parse::<i64>()
            .ok()
            .map(Value::from),
        Kind::Number => numbers(ds, tag)?.first().copied().and_then(json_number),
        Kind::Seconds => numbers(ds, tag)?
            .first()
            .and_then(|ms| json_number(ms / 1000.0)),
        Kind::Numbers => Some(Value::Array(
            numbers(ds, tag)?
                .into_iter()
                .filter_map(json_number)
                .collect(),
        )),
    }
}

/// A field of an enhanced image, which keeps it in a functional group: the first item of a
/// standard (even group) sequence of the shared item, else of the first frame's item.
/// EchoTime is EffectiveEchoTime there.
fn grouped(ds: &InMemDicomObject, tag: Tag, kind: Kind) -> Option<Value> {
    let tag_there = match tag {
        t if t == tags::ECHO_TIME => tags::EFFECTIVE_ECHO_TIME,
        t => t,
    };
    in_functional_groups(ds, |item| value(item, tag_there, kind))
}

/// dcm2niix's short name of a manufacturer, from the first two letters as it reads them;
/// another name as it is.
fn manufacturer(name: &str) -> String {
    let known = [
        ("SI", "Siemens"), ("CP", "Siemens"), ("GE", "GE"), ("PH", "Philips"), ("TO", "Toshiba"),
        ("CA", "Canon"), ("HI", "Hitachi"), ("UI", "UIH"), ("BR", "Bruker"), ("ME", "Mediso"),
        ("HY", "Hyperfine"),
    ];
    let head = name.trim().get(..2).unwrap_or("").to_ascii_uppercase();
    known.iter().find(|(k, _)| *k == head).map_or(name.to_string(), |(_, v)| v.to_string())
}

/// dcm2niix's forms of Manufacturer and ImageType (completed with the complex kind, or
/// FIELDMAPHZ for a field map in Hz).
fn complete(fields: &mut [(String, Value)], ds: &InMemDicomObject, field_map_hz: bool) {
    for (key, value) in fields.iter_mut() {
        match (key.as_str(), value) {
            ("Manufacturer", Value::String(name)) => *name = manufacturer(name),
            ("ImageType", Value::Array(words)) => {
                let kind = if field_map_hz { Some(super::fieldmap::IMAGE_TYPE) } else { Complex::of(ds).map(Complex::word) };
                if let Some(kind) = kind.filter(|k| !words.iter().any(|w| w == k)) {
                    words.push(Value::String(kind.into()));
                }
            }
            _ => {}
        }
    }
}

/// BIDS 1.10's DeidentificationMethod and DeidentificationMethodCodeSequence: the same words
/// and CID 7050 codes as the DICOM export's (0012,0063) and (0012,0064).
fn deidentification(policy: &Policy) -> [(String, Value); 2] {
    let codes = policy
        .method_codes()
        .into_iter()
        .map(|(value, meaning)| {
            serde_json::json!({ "CodeValue": value, "CodingSchemeDesignator": "DCM", "CodeMeaning": meaning })
        })
        .collect();
    [
        ("DeidentificationMethod".into(), Value::Array(policy.method().into_iter().map(Value::String).collect())),
        ("DeidentificationMethodCodeSequence".into(), Value::Array(codes)),
    ]
}

/// The sidecar of one volume, from its first slice.
pub fn json(object: &Object, volume: &Volume, policy: &Policy) -> Vec<u8> {
    let ds: &InMemDicomObject = object;
    let mut fields: Vec<(String, Value)> = Vec::new();
    for &(key, tag, kind) in FIELDS {
        // Text the policy cleans is written as the DICOM export writes it.
        if let (Kind::Text, Action::Code(Code::C)) = (kind, policy.action(tag)) {
            if let Some(v) = crate::profile::exported_text(ds, policy, tag) {
                fields.push((key.to_string(), Value::String(v)));
            }
            continue;
        }
        if !kept(policy, tag) {
            continue;
        }
        if let Some(v) = value(ds, tag, kind).or_else(|| grouped(ds, tag, kind)) {
            fields.push((key.to_string(), v));
        }
    }
    // One echo of a multi-echo file: its own echo time, not the first frame's.
    if let (Some((_, te)), true) = (volume.echo, kept(policy, tags::ECHO_TIME)) {
        let te = json_number(te / 1000.0).unwrap_or(Value::Null);
        match fields.iter_mut().find(|(k, _)| k == "EchoTime") {
            Some(field) => field.1 = te,
            None => fields.push(("EchoTime".into(), te)),
        }
    }
    complete(&mut fields, ds, volume.field_map_hz);
    if volume.field_map_hz {
        super::fieldmap::sidecar(&mut fields);
    }
    if let Some(times) = &volume.slice_timing {
        fields.push(("SliceTiming".into(), Value::Array(times.iter().filter_map(|&t| json_number(t)).collect())));
    }
    // Phase encoding, readout, acceleration, matrix: derived as dcm2niix derives them (after
    // SliceTiming, from which it takes the multiband factor).
    super::bids::extend(&mut fields, ds, volume);
    if !volume.warnings.is_empty() {
        fields.push((
            "ConversionWarnings".into(),
            Value::Array(volume.warnings.iter().cloned().map(Value::String).collect()),
        ));
    }
    fields.extend(deidentification(policy));
    fields.push(("ConversionSoftware".into(), Value::String("capture".into())));
    fields.push((
        "ConversionSoftwareVersion".into(),
        Value::String(env!("CARGO_PKG_VERSION").into()),
    ));
    let mut out = String::from("{\n");
    for (n, (key, v)) in fields.iter().enumerate() {
        let comma = if n + 1 < fields.len() { "," } else { "" };
        out.push_str(&format!("\t{}: {}{comma}\n", Value::String(key.clone()), v));
    }
    out.push_str("}\n");
    out.into_bytes()
}
