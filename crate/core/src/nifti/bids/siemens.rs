//! Siemens: the CSA image header (phase-encoding polarity, bandwidth per pixel phase
//! encode), the protocol (ASCCONV: acceleration, multiband, partial Fourier, phase lines)
//! of the CSA series header or, on XA enhanced images, of the private protocol element, and
//! XA's per-frame private attributes that replace the CSA header.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

use super::{binary_number, deep_text, holder, Private};
use crate::nifti::csa;

/// XA: PhaseEncodingDirectionPositive (IS) in the per-frame private sequence.
const XA_POSITIVE: Tag = Tag(0x0021, 0x111C);
/// XA: BandwidthPerPixelPhaseEncode (FD) in the per-frame private sequence.
const XA_BANDWIDTH_PE: Tag = Tag(0x0021, 0x1153);
/// XA: the protocol (XProtocol text embedding an ASCCONV block) in the shared private sequence.
const XA_PROTOCOL: Tag = Tag(0x0021, 0x1019);
/// Classic: BandwidthPerPixelPhaseEncode (FD), "SIEMENS MR HEADER".
const BANDWIDTH_PE: Tag = Tag(0x0019, 0x1028);
/// Classic: ImaPATModeText ("p2": GRAPPA 2); XA: its per-frame twin.
const PAT_MODE: [Tag; 2] = [Tag(0x0051, 0x1011), Tag(0x0021, 0x1156)];
const IMAGE_COMMENTS: Tag = Tag(0x0020, 0x4000);

/// What a Siemens image's private attributes tell.
pub(super) fn private(ds: &InMemDicomObject) -> Private {
    let image = csa::image_header(ds);
    let csa_number = |name: &str| -> Option<f64> {
        csa::values(image.as_deref()?, name)?.first()?.trim().parse().ok()
    };
    let protocol = protocol(ds);
    let asc = |key: &str| protocol.as_deref().and_then(|p| value(p, key));
    let positive = csa_number("PhaseEncodingDirectionPositive")
        .or_else(|| deep_text(ds, XA_POSITIVE)?.trim().parse().ok())
        .and_then(|v| match v as i64 {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        });
    let bandwidth = csa_number("BandwidthPerPixelPhaseEncode")
        .or_else(|| binary_number(ds, BANDWIDTH_PE, 8))
        .or_else(|| binary_number(ds, XA_BANDWIDTH_PE, 8))
        .filter(|&b| b > 0.0);
    let parallel = PAT_MODE
        .iter()
        .find_map(|&tag| pat_factor(&deep_text(ds, tag)?))
        .or_else(|| asc("sPat.lAccelFactPE").filter(|&r| r > 0.0));
    let multiband = asc("sSliceAcceleration.lMultiBandFactor")
        .map(|m| m as u32)
        .filter(|&m| m > 1)
        .or_else(|| cmrr_multiband(&deep_text(ds, IMAGE_COMMENTS)?));
    Private {
        dicom_positive: positive,
        bandwidth_per_pixel_pe: bandwidth,
        parallel_reduction: parallel,
        multiband,
        partial_fourier: asc("sKSpace.ucPhasePartialFourier").and_then(partial_fourier),
        protocol_read: protocol.is_some(),
        phase_lines: asc("sKSpace.lPhaseEncodingLines").filter(|&n| n > 0.0).map(|n| n as u32),
        ..Private::default()
    }
}

/// The ASCCONV block of the protocol: the CSA series header's MrPhoenixProtocol, else XA's
/// private protocol element.
fn protocol(ds: &InMemDicomObject) -> Option<String> {
    let from_csa = csa::series_header(ds).and_then(|h| {
        ["MrPhoenixProtocol", "MrProtocol"]
            .iter()
            .find_map(|name| csa::values(&h, name)?.into_iter().next())
    });
    let text = from_csa.or_else(|| {
        let at = holder(ds, XA_PROTOCOL)?;
        let bytes = at.element_opt(XA_PROTOCOL).ok()??.to_bytes().ok()?.into_owned();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    })?;
    let start = text.find("### ASCCONV BEGIN")?;
    let end = text[start..].find("### ASCCONV END").map_or(text.len(), |e| start + e);
    Some(text[start..end].to_string())
}

/// The number an ASCCONV line `key = value` gives (decimal or `0x` hexadecimal).
fn value(ascconv: &str, key: &str) -> Option<f64> {
    ascconv.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        if k.trim() != key {
            return None;
        }
        let v = v.trim().trim_matches('"');
        match v.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok().map(|n| n as f64),
            None => v.parse().ok(),
        }
    })
}

/// sKSpace.ucPhasePartialFourier as a fraction (1: 4/8, 2: 5/8, 4: 6/8, 8: 7/8; 16 is
/// full Fourier, which dcm2niix leaves out).
fn partial_fourier(code: f64) -> Option<f64> {
    match code as i64 {
        1 => Some(0.5),
        2 => Some(0.625),
        4 => Some(0.75),
        8 => Some(0.875),
        _ => None,
    }
}

/// The in-plane acceleration of ImaPATModeText: "p2" (GRAPPA) or "s2" (mSENSE) give 2.
fn pat_factor(mode: &str) -> Option<f64> {
    let digits: String = mode.trim().strip_prefix(['p', 's', 'P', 'S'])?.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse::<f64>().ok().filter(|&r| r > 0.0)
}

/// The CMRR multiband sequences' declaration in ImageComments: "Unaliased MB3/PE3/LB".
fn cmrr_multiband(comments: &str) -> Option<u32> {
    let after = &comments[comments.find("Unaliased MB")? + "Unaliased MB".len()..];
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|&m| m > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ASCCONV values, decimal and hexadecimal, exact keys only.
    #[test]
    fn ascconv_values_are_read_by_exact_key() {
        let asc = "### ASCCONV BEGIN ###\nsPat.lAccelFactPE\t = \t2\nsPat.lAccelFactPE3D\t = \t3\nsKSpace.ucPhasePartialFourier\t = \t0x4\n";
        assert_eq!(value(asc, "sPat.lAccelFactPE"), Some(2.0));
        assert_eq!(value(asc, "sKSpace.ucPhasePartialFourier").and_then(partial_fourier), Some(0.75));
        assert_eq!(value(asc, "sPat"), None);
        assert_eq!(partial_fourier(16.0), None);
    }

    /// The PAT mode text and the CMRR comment give their factors, and nothing else does.
    #[test]
    fn pat_mode_and_cmrr_comments() {
        assert_eq!(pat_factor("p2"), Some(2.0));
        assert_eq!(pat_factor("s4"), Some(4.0));
        assert_eq!(pat_factor("none"), None);
        assert_eq!(cmrr_multiband("Unaliased MB3/PE3/LB SENSE1"), Some(3));
        assert_eq!(cmrr_multiband("MB3 in free text"), None);
    }
}
