//! The per-series acquisition fields of the BIDS sidecar that dcm2niix derives rather than
//! copies (phase encoding, echo spacing, readout time, acceleration, matrix sizes), each
//! computed as dcm2niix 1.0.20260724 computes it, from the volume's first file and the
//! NIfTI's in-plane size. Vendor private attributes (Siemens CSA and protocol, GE user data
//! and protocol block) are read here for these numbers only: nothing else of them is ever
//! written. Where a value a field needs is missing, the field is left out.

mod ge;
mod siemens;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use super::Volume;
use crate::dicom::{number, text};

/// The in-plane axis of the NIfTI along which the phase is encoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Axis {
    /// DICOM `ROW` (0018,1312): the NIfTI's first axis.
    I,
    /// DICOM `COL`/`COLUMN`: the NIfTI's second axis (rows stored bottom-up, as dcm2niix).
    J,
}

/// What dcm2niix writes of the phase encoding: the axis alone when its polarity is unknown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct PhaseEncoding {
    pub axis: Axis,
    /// Positive along the NIfTI axis (`j`), negative (`j-`), or unknown (`PhaseEncodingAxis`).
    pub positive: Option<bool>,
}

/// The derived fields of one volume, each `None` where dcm2niix writes nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Acquisition {
    pub phase_encoding: Option<PhaseEncoding>,
    /// Seconds.
    pub effective_echo_spacing: Option<f64>,
    /// Seconds (FSL's definition: effective echo spacing × (ReconMatrixPE − 1)).
    pub total_readout_time: Option<f64>,
    pub parallel_reduction: Option<f64>,
    pub multiband: Option<u32>,
    pub echo_train_length: Option<u32>,
    pub acquisition_matrix_pe: Option<u32>,
    pub recon_matrix_pe: Option<u32>,
    /// Hz per pixel.
    pub bandwidth_per_pixel_pe: Option<f64>,
    pub partial_fourier: Option<f64>,
    /// Seconds, where the vendor's RepetitionTime leaves a pause out (GE's group delay).
    pub repetition_time: Option<f64>,
}

/// What a vendor's private attributes tell, before the common arithmetic.
#[derive(Clone, Debug, Default, PartialEq)]
struct Private {
    /// DICOM's "phase encoding direction positive" (Siemens' sense; GE's mapped to it).
    dicom_positive: Option<bool>,
    bandwidth_per_pixel_pe: Option<f64>,
    parallel_reduction: Option<f64>,
    multiband: Option<u32>,
    /// From a protocol that states it (Siemens): then never inferred.
    partial_fourier: Option<f64>,
    /// The protocol was read, so partial Fourier is not inferred from the echo train.
    protocol_read: bool,
    /// The protocol's phase-encoding lines, when the public attributes have none.
    phase_lines: Option<u32>,
    /// Seconds, computed by the vendor (GE) rather than from the bandwidth.
    effective_echo_spacing: Option<f64>,
    /// Seconds added to RepetitionTime (GE's group delay).
    group_delay: Option<f64>,
}

/// Which vendor's private attributes apply.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Vendor {
    Siemens,
    Ge,
    Other,
}

/// The in-plane size and phase lines the vendor arithmetic needs.
#[derive(Clone, Copy, Debug)]
struct Matrix {
    axis: Option<Axis>,
    /// Acquired phase-encoding lines (AcquisitionMatrixPE).
    lines: Option<u32>,
    /// NIfTI dim[1] and dim[2] as stored (before any 3D reorientation).
    dims: Option<(usize, usize)>,
}

/// Adds the derived fields of `volume` to its sidecar's `fields`, from its first file `ds`
/// (the original object): dcm2niix's RepetitionTime where the vendor's leaves a pause out
/// (replacing the copied one, if any), and the multiband factor the slice times show.
pub(super) fn extend(fields: &mut Vec<(String, Value)>, ds: &InMemDicomObject, volume: &Volume) {
    let mut acquisition = derive(ds, stored_dims(ds, volume));
    if let (Some(tr), Some(field)) = (acquisition.repetition_time, fields.iter_mut().find(|(k, _)| k == "RepetitionTime")) {
        field.1 = g(tr).unwrap_or(Value::Null);
    }
    let times = fields.iter().find(|(k, _)| k == "SliceTiming").and_then(|(_, v)| v.as_array());
    let times: Option<Vec<f64>> = times.map(|t| t.iter().filter_map(Value::as_f64).collect());
    if let Some(m) = times.and_then(|t| multiband_from_times(&t, acquisition.multiband)) {
        acquisition.multiband = Some(m);
    }
    fields.extend(acquisition.fields());
}

/// The derived fields of an image `ds` whose NIfTI has in-plane size `dims`.
fn derive(ds: &InMemDicomObject, dims: Option<(usize, usize)>) -> Acquisition {
    // Measured: dcm2niix writes none of these for CT (not even ReconMatrixPE).
    if !text(ds, tags::MODALITY).is_some_and(|m| m.eq_ignore_ascii_case("MR")) {
        return Acquisition::default();
    }
    let vendor = vendor(ds);
    let axis = deep_text(ds, tags::IN_PLANE_PHASE_ENCODING_DIRECTION).and_then(|d| match d.to_ascii_uppercase().as_str() {
        "ROW" => Some(Axis::I),
        "COL" | "COLUMN" => Some(Axis::J),
        _ => None,
    });
    let mut matrix = Matrix { axis, lines: phase_lines(ds, axis), dims };
    let private = match vendor {
        Vendor::Siemens => siemens::private(ds),
        Vendor::Ge => ge::private(ds, &matrix),
        Vendor::Other => Private::default(),
    };
    matrix.lines = matrix.lines.or(private.phase_lines);
    combine(ds, &matrix, private)
}

/// The common arithmetic of dcm2niix's sidecar writer on the vendor's facts.
fn combine(ds: &InMemDicomObject, matrix: &Matrix, private: Private) -> Acquisition {
    let echo_train = deep_number(ds, tags::ECHO_TRAIN_LENGTH).filter(|&n| n > 1.0).map(|n| n as u32);
    let parallel = deep_number(ds, tags::PARALLEL_REDUCTION_FACTOR_IN_PLANE)
        .filter(|&r| r > 0.0)
        .or(private.parallel_reduction);
    let recon = recon_lines(matrix);
    let bandwidth = private.bandwidth_per_pixel_pe.filter(|&b| b > 0.0);
    let spacing = private.effective_echo_spacing.or_else(|| Some(1.0 / (bandwidth? * recon? as f64)));
    let readout = recon.zip(spacing).map(|(n, s)| s * (n as f64 - 1.0));
    let partial_fourier = match private.protocol_read {
        true => private.partial_fourier,
        false => inferred_partial_fourier(ds, matrix.lines, echo_train, parallel),
    };
    Acquisition {
        phase_encoding: phase_encoding(ds, matrix.axis, echo_train, private.dicom_positive),
        effective_echo_spacing: spacing.filter(|s| *s > 0.0),
        total_readout_time: readout.filter(|t| *t > 0.0),
        parallel_reduction: parallel,
        multiband: private.multiband.filter(|&m| m > 1),
        echo_train_length: echo_train,
        acquisition_matrix_pe: matrix.lines,
        recon_matrix_pe: recon,
        bandwidth_per_pixel_pe: bandwidth,
        partial_fourier,
        repetition_time: private
            .group_delay
            .filter(|&d| d > 0.0)
            .and_then(|d| Some(number(ds, tags::REPETITION_TIME)? / 1000.0 + d)),
    }
}

fn vendor(ds: &InMemDicomObject) -> Vendor {
    let maker = text(ds, tags::MANUFACTURER).unwrap_or_default().to_ascii_uppercase();
    if maker.contains("SIEMENS") {
        Vendor::Siemens
    } else if maker.starts_with("GE ") || maker == "GE" || maker.contains("GE MEDICAL") {
        Vendor::Ge
    } else {
        Vendor::Other
    }
}

/// dcm2niix's phase encoding: none for a 3D acquisition unless it is an echo train that
/// is not spin echo (3D EPI, multi-echo GRE); the axis alone when the polarity is unknown.
/// DICOM and NIfTI run opposite along j (rows are stored bottom-up), so a positive DICOM
/// column direction is `j-`; along i they agree.
fn phase_encoding(ds: &InMemDicomObject, axis: Option<Axis>, echo_train: Option<u32>, positive: Option<bool>) -> Option<PhaseEncoding> {
    let three_d = deep_text(ds, tags::MR_ACQUISITION_TYPE).is_some_and(|t| t.eq_ignore_ascii_case("3D"));
    let spin_echo = deep_text(ds, tags::SCANNING_SEQUENCE).is_some_and(|s| s.contains("SE"));
    if three_d && !(echo_train.is_some() && !spin_echo) {
        return None;
    }
    let axis = axis?;
    let positive = positive.map(|p| if axis == Axis::J { !p } else { p });
    Some(PhaseEncoding { axis, positive })
}

/// Acquired phase-encoding lines: AcquisitionMatrix (0018,1310, frequency rows\frequency
/// columns\phase rows\phase columns) along the phase axis, else the enhanced
/// MRAcquisitionPhaseEncodingStepsInPlane (0018,9231).
fn phase_lines(ds: &InMemDicomObject, axis: Option<Axis>) -> Option<u32> {
    let from_matrix = holder(ds, tags::ACQUISITION_MATRIX)
        .and_then(|h| crate::dicom::numbers(h, tags::ACQUISITION_MATRIX))
        .filter(|m| m.len() == 4)
        .map(|m| match axis {
            Some(Axis::I) if m[2] > 0.0 => m[2],
            Some(Axis::J) if m[3] > 0.0 => m[3],
            _ => m[2].max(m[3]),
        });
    from_matrix
        .filter(|&n| n > 0.0)
        .or_else(|| deep_number(ds, tags::MR_ACQUISITION_PHASE_ENCODING_STEPS_IN_PLANE).filter(|&n| n > 0.0))
        .map(|n| n as u32)
}

/// The NIfTI's size along the phase axis (dcm2niix: dim[2] when square or `COL`, dim[1]
/// for `ROW`), else the acquired lines.
fn recon_lines(matrix: &Matrix) -> Option<u32> {
    match (matrix.dims, matrix.axis) {
        (Some((i, j)), _) if i == j && j > 0 => Some(j as u32),
        (Some((_, j)), Some(Axis::J)) if j > 0 => Some(j as u32),
        (Some((i, _)), Some(Axis::I)) if i > 0 => Some(i as u32),
        _ => matrix.lines,
    }
}

/// NIfTI dim[1] and dim[2] as stored: a mosaic's tile, an image's columns and rows.
fn stored_dims(ds: &InMemDicomObject, volume: &Volume) -> Option<(usize, usize)> {
    match (&volume.reorient, &volume.header) {
        (Some(_), _) | (None, None) => {
            let columns = number(ds, tags::COLUMNS)?;
            let rows = number(ds, tags::ROWS)?;
            Some((columns as usize, rows as usize))
        }
        (None, Some(header)) => Some((header.dim[0], header.dim[1])),
    }
}

/// dcm2niix's estimate where no protocol states it (Siemens XA, others): the echo train
/// over the lines each shot covers, when below one; never for 3D.
fn inferred_partial_fourier(ds: &InMemDicomObject, lines: Option<u32>, echo_train: Option<u32>, parallel: Option<f64>) -> Option<f64> {
    let three_d = deep_text(ds, tags::MR_ACQUISITION_TYPE).is_some_and(|t| t.eq_ignore_ascii_case("3D"));
    let (lines, train) = (lines? as f64, echo_train? as f64);
    if three_d || lines <= train {
        return None;
    }
    let per_shot = match parallel {
        Some(r) if r > 1.0 => lines / r,
        _ => lines,
    };
    Some(train / per_shot).filter(|&pf| pf < 1.0)
}

/// dcm2niix's multiband factor from slice times: how many slices share the first time,
/// when that is more than one slice and fewer than all and more than the stated factor.
pub(super) fn multiband_from_times(times: &[f64], stated: Option<u32>) -> Option<u32> {
    let first = times.iter().copied().fold(f64::INFINITY, f64::min);
    let together = times.iter().filter(|&&t| (t - first).abs() < 5e-5).count() as u32;
    let stated = stated.unwrap_or(1);
    (together > 1 && (together as usize) < times.len() && together > stated).then_some(together)
}

/// The data set holding `tag`: this one, else depth first the first item of its sequences
/// (enhanced images keep attributes in functional groups, vendors in private sequences).
fn holder(ds: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    fn walk(ds: &InMemDicomObject, tag: Tag, depth: u8) -> Option<&InMemDicomObject> {
        if ds.element_opt(tag).ok().flatten().is_some() {
            return Some(ds);
        }
        if depth == 0 {
            return None;
        }
        ds.iter()
            .filter_map(|e| e.items()?.first())
            .find_map(|item| walk(item, tag, depth - 1))
    }
    walk(ds, tag, 3)
}

fn deep_text(ds: &InMemDicomObject, tag: Tag) -> Option<String> {
    text(holder(ds, tag)?, tag)
}

fn deep_number(ds: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let at = holder(ds, tag)?;
    number(at, tag).or_else(|| deep_text(at, tag)?.split('\\').next()?.trim().parse().ok())
}

/// A binary float (FD) or short (SS) read even where the file has it as UN.
fn binary_number(ds: &InMemDicomObject, tag: Tag, width: usize) -> Option<f64> {
    let at = holder(ds, tag)?;
    let element = at.element_opt(tag).ok()??;
    if element.vr() != dicom_core::VR::UN {
        return number(at, tag);
    }
    let bytes = element.to_bytes().ok()?;
    match (width, bytes.get(..width)?) {
        (8, b) => Some(f64::from_le_bytes(b.try_into().ok()?)),
        (2, b) => Some(i16::from_le_bytes(b.try_into().ok()?) as f64),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

/// A number as dcm2niix's `%g` writes it: six significant digits, integers without a point.
fn g(v: f64) -> Option<Value> {
    let rounded: f64 = format!("{v:.5e}").parse().ok()?;
    if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
        return Some(Value::from(rounded as i64));
    }
    serde_json::Number::from_f64(rounded).map(Value::Number)
}

impl Acquisition {
    /// The sidecar's fields, named as BIDS and dcm2niix name them.
    pub(super) fn fields(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(&str, Option<Value>)> = Vec::new();
        if let Some(pe) = self.phase_encoding {
            let axis = match pe.axis {
                Axis::I => "i",
                Axis::J => "j",
            };
            match pe.positive {
                Some(positive) => out.push(("PhaseEncodingDirection", Some(format!("{axis}{}", if positive { "" } else { "-" }).into()))),
                None => out.push(("PhaseEncodingAxis", Some(axis.into()))),
            }
        }
        out.push(("EffectiveEchoSpacing", self.effective_echo_spacing.and_then(g)));
        out.push(("TotalReadoutTime", self.total_readout_time.and_then(g)));
        out.push(("ParallelReductionFactorInPlane", self.parallel_reduction.and_then(g)));
        out.push(("MultibandAccelerationFactor", self.multiband.map(Value::from)));
        out.push(("EchoTrainLength", self.echo_train_length.map(Value::from)));
        out.push(("AcquisitionMatrixPE", self.acquisition_matrix_pe.map(Value::from)));
        out.push(("ReconMatrixPE", self.recon_matrix_pe.map(Value::from)));
        out.push(("BandwidthPerPixelPhaseEncode", self.bandwidth_per_pixel_pe.and_then(g)));
        out.push(("PartialFourier", self.partial_fourier.and_then(g)));
        out.into_iter()
            .filter_map(|(key, v)| Some((key.to_string(), v?)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
