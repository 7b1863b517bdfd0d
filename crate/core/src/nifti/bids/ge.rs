//! GE: the private attributes dcm2niix reads for the BIDS fields: the effective echo
//! spacing (0043,102C) and ASSET factors (0043,1083) for the readout time, the multiband
//! parameters (0043,10B6), the phase-encoding polarity (the public Rectilinear Phase Encode
//! Reordering where present, else the user-defined data header 0043,102A) and the group
//! delay (0043,107C, or the protocol data block's DELACQ) that RepetitionTime leaves out.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::super::ge_block::ProtocolBlock;
use super::{binary_number, deep_number, deep_text, holder, Matrix, Private};

const EFFECTIVE_ECHO_SPACING: Tag = Tag(0x0043, 0x102C);
const ASSET_R_FACTORS: Tag = Tag(0x0043, 0x1083);
const MULTIBAND: Tag = Tag(0x0043, 0x10B6);
const USER_DATA: Tag = Tag(0x0043, 0x102A);
const GROUP_DELAY: Tag = Tag(0x0043, 0x107C);

/// What a GE image's private attributes tell.
pub(super) fn private(ds: &InMemDicomObject, matrix: &Matrix) -> Private {
    let asset = deep_number(ds, ASSET_R_FACTORS)
        .filter(|&f| f > 0.0)
        .map(|f| 1.0 / f);
    let multiband = deep_text(ds, MULTIBAND)
        .and_then(|t| t.split('\\').next()?.trim().parse::<f64>().ok())
        .map(|m| m as u32)
        .filter(|&m| m > 1);
    let positive = match deep_text(ds, tags::RECTILINEAR_PHASE_ENCODE_REORDERING).as_deref() {
        Some("LINEAR") => Some(false),
        Some("REVERSE_LINEAR") => Some(true),
        _ => user_data_positive(ds),
    };
    let group_delay = deep_number(ds, GROUP_DELAY)
        .filter(|&d| d > 0.0)
        .or_else(|| protocol_value(ds, "DELACQ")?.parse().ok().filter(|&d: &f64| d > 0.0));
    Private {
        dicom_positive: positive,
        parallel_reduction: asset,
        multiband,
        effective_echo_spacing: echo_spacing(ds, matrix, asset),
        group_delay,
        ..Private::default()
    }
}

/// GE's readout time (the GE notes of dcm2niix): the acquired lines per shot rounded up to a
/// multiple of 2 (4 with partial Fourier, ScanOptions PFF), less one, times the echo
/// spacing; as an effective spacing over the acquired matrix (dcm2niix then scales the
/// readout time to the reconstructed one).
fn echo_spacing(ds: &InMemDicomObject, matrix: &Matrix, asset: Option<f64>) -> Option<f64> {
    let spacing = binary_number(ds, EFFECTIVE_ECHO_SPACING, 2).filter(|&s| s > 0.0)?;
    let lines = matrix.lines.filter(|&n| n > 1)? as f64;
    let partial = deep_text(ds, tags::SCAN_OPTIONS).is_some_and(|o| o.split('\\').any(|x| x.trim() == "PFF"));
    let round = if partial { 4.0 } else { 2.0 };
    let readout = ((lines / asset.unwrap_or(1.0) / round).ceil() * round - 1.0) * spacing * 1e-6;
    Some(readout / (lines - 1.0)).filter(|&s| s > 0.0)
}

/// The polarity the user-defined data header (0043,102A) gives an EPI: its "phase
/// polarity flipped" bit, reversed when the ky traversal is bottom-up; as DICOM's
/// "direction positive" (unflipped is positive). `None` for a non-EPI or an unknown layout.
fn user_data_positive(ds: &InMemDicomObject) -> Option<bool> {
    let at = holder(ds, USER_DATA)?;
    let data = at.element_opt(USER_DATA).ok()??.to_bytes().ok()?;
    let u16_at = |at: usize| -> Option<u16> { Some(u16::from_le_bytes(data.get(at..at.checked_add(2)?)?.try_into().ok()?)) };
    let offset = u16_at(24)? as usize;
    if data.len() < offset + 916 {
        return None;
    }
    let version = f32::from_le_bytes(data.get(offset..offset + 4)?.try_into().ok()?);
    if !(5.0..=40.0).contains(&version) {
        return None;
    }
    let (header, ky) = if version >= 25.002 { (offset + 0x4c, 0x394 - 0x8c) } else { (offset, 0x394) };
    if u16_at(header + 0x3a)? & 0x800 == 0 {
        return None;
    }
    let flipped = u16_at(header + 0x30)? & 0x0004 != 0;
    let bottom_up = u16_at(header + ky)? == 2;
    Some(flipped == bottom_up)
}

/// A value of the protocol data block, in the image or an item nested in it.
fn protocol_value(ds: &InMemDicomObject, key: &str) -> Option<String> {
    let block = ProtocolBlock::of(holder(ds, ProtocolBlock::TAG)?)?;
    block.value(key).map(str::to_string)
}
