//! dcm2niix's file-name suffixes (FILENAMING.md, "post-fixes"), after the series number and
//! name: `_e<N>` for an echo of a multi-echo series (or any echo after the first), then
//! `_fieldmaphz`, then `_ph`, `_real` or `_imaginary` (see `complex`). Read from the image for the conversion only: the echo number of a
//! Siemens XA image is in a private attribute, and only the number is used.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicom::text;
use super::complex::Complex;
use super::fieldmap;
use super::plan::Volume;
use super::slice::Slice;

/// Siemens' ICE dimensions (0021,1106, "SIEMENS MR SDI 02"), e.g. `X_2_1_1…`: the second
/// field is the echo number (dcm2niix reads it when EchoNumbers is missing).
const ICE_DIMS: Tag = Tag(0x0021, 0x1106);

/// What names a volume besides its series: echo number and phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Naming {
    /// EchoNumbers, else (Siemens) the ICE dimensions' echo.
    pub(super) echo_number: Option<i64>,
    /// Magnitude, phase, real or imaginary, when the image says (see `complex`).
    pub(super) complex: Option<Complex>,
    /// The field map in Hz of a GE B0map series (see `fieldmap`).
    pub(super) field_map_hz: bool,
}

impl Naming {
    /// The naming of image `ds`.
    pub(super) fn of(ds: &InMemDicomObject) -> Naming {
        let siemens = text(ds, tags::MANUFACTURER).is_some_and(|m| m.to_ascii_uppercase().starts_with("SI"));
        let echo_number = text(ds, tags::ECHO_NUMBERS)
            .and_then(|v| v.split('\\').next()?.trim().parse().ok())
            .or_else(|| siemens.then(|| ice_echo(ds)).flatten());
        Naming { echo_number, complex: Complex::of(ds), field_map_hz: fieldmap::ge_image(ds) }
    }
}

/// The echo of the first ICE dimensions in `ds` (depth first).
fn ice_echo(ds: &InMemDicomObject) -> Option<i64> {
    if let Some(value) = text(ds, ICE_DIMS) {
        return value.split('_').nth(1)?.trim().parse().ok();
    }
    ds.iter()
        .filter_map(|e| e.items())
        .flat_map(|items| items.iter())
        .find_map(ice_echo)
}

/// Sets each volume's suffix; `firsts[v]` is the first image of `volumes[v]`. A series
/// (SeriesInstanceUID) whose converted volumes differ in echo time or number is multi-echo
/// (dcm2niix's isMultiEcho): each is `_e<N>`; any echo after the first is too. Then
/// `_fieldmaphz` for a field map in Hz, `_ph`, `_real` or `_imaginary`.
pub(super) fn name_volumes(volumes: &mut [Volume], firsts: &[&Slice]) {
    let echo = |v: &Volume, s: &Slice| Echo {
        time: v.echo.map(|e| e.1).or(s.echo_time).map(|t| (t * 1000.0).round() as i64),
        number: v.echo.map(|(n, _)| n as i64).or(s.naming.echo_number),
    };
    let echoes: Vec<Echo> = volumes.iter().zip(firsts).map(|(v, s)| echo(v, s)).collect();
    let converted: Vec<bool> = volumes.iter().map(|v| v.problem.is_none()).collect();
    let non_parallel = non_parallel_series(firsts, &echoes, &converted);
    for (v, volume) in volumes.iter_mut().enumerate() {
        let multi = (0..echoes.len()).any(|w| {
            converted[w] && firsts[w].series_uid() == firsts[v].series_uid() && echoes[w].differs(&echoes[v])
        });
        let mut suffix = match echoes[v].number {
            Some(n) if multi || n > 1 => format!("_e{n}"),
            _ => String::new(),
        };
        // dcm2niix's `_i<first InstanceNumber>` (measured: after `_e2`, before `_ph`).
        if non_parallel.contains(&firsts[v].series_uid()) {
            suffix.push_str(&format!("_i{:05}", firsts[v].order.0));
        }
        volume.field_map_hz = field_map_hz(volume, firsts[v]);
        if volume.field_map_hz {
            suffix.push_str("_fieldmaphz");
        }
        if let Some(kind) = firsts[v].naming.complex {
            suffix.push_str(kind.suffix());
        }
        volume.suffix = suffix;
    }
}

/// The series (SeriesInstanceUID) whose images dcm2niix found in planes of different
/// orientations (a localizer, a scout, a vNav): two converted volumes alike but for their
/// orientation (same image size, echo and complex kind: `isSameSet` checks those first). dcm2niix then names every volume of the series
/// after its first InstanceNumber (`isNonParallelSlices`, set for the whole series).
fn non_parallel_series<'a>(firsts: &[&'a Slice], echoes: &[Echo], converted: &[bool]) -> Vec<&'a str> {
    let turned = |a: &Slice, b: &Slice| match (a.orientation, b.orientation) {
        (Some(a), Some(b)) => a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-4),
        _ => false,
    };
    let size = |s: &Slice| (s.rows, s.columns, s.frames);
    let mut series = Vec::new();
    for v in 0..firsts.len() {
        for w in v + 1..firsts.len() {
            let (a, b) = (firsts[v], firsts[w]);
            if converted[v] && converted[w] && a.series_uid() == b.series_uid()
                && size(a) == size(b)
                && !echoes[v].differs(&echoes[w])
                && a.naming.complex == b.naming.complex
                && turned(a, b)
            {
                series.push(a.series_uid());
            }
        }
    }
    series
}

/// Whether `volume` (first image `first`) is a field map in Hz: its image's flag, or that of
/// the first frame of its echo.
fn field_map_hz(volume: &Volume, first: &Slice) -> bool {
    let frame = first.frame_list.iter().find(|f| volume.echo.is_none_or(|(_, te)| f.echo == Some(te)));
    first.naming.field_map_hz || frame.is_some_and(|f| f.field_map_hz)
}

/// A volume's echo: time (µs) and number, each when known.
#[derive(Debug, PartialEq)]
struct Echo {
    time: Option<i64>,
    number: Option<i64>,
}

impl Echo {
    /// Different echoes: times or numbers known on both sides and unequal.
    fn differs(&self, other: &Echo) -> bool {
        let unequal = |a: Option<i64>, b: Option<i64>| matches!((a, b), (Some(a), Some(b)) if a != b);
        unequal(self.time, other.time) || unequal(self.number, other.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first file of a dcm_qa folder, or `None` (skipped) when the data is absent.
    fn first_file(folder: &str) -> Option<InMemDicomObject> {
        let files = super::super::dcm_qa_files(folder)?;
        Some(dicom_object::open_file(&files[0]).expect("a DICOM file").into_inner())
    }

    /// dcm2niix's `_e2_ph`: XA30's echo from the ICE dimensions, classic Siemens' from
    /// EchoNumbers; both phase by ImageType `P`.
    #[test]
    fn echo_and_phase_as_dcm2niix_names_them() {
        for folder in ["xa30/In/9_gre_field_mapping", "fmap/In/Siemens/3_gre_field_magph"] {
            let Some(ds) = first_file(folder) else { return };
            assert_eq!(Naming::of(&ds), Naming { echo_number: Some(2), complex: Some(Complex::Phase), field_map_hz: false }, "{folder}");
        }
        let Some(ds) = first_file("xa30/In/7_func-bold_task-fa_run-1") else { return };
        assert_eq!(Naming::of(&ds), Naming { echo_number: Some(1), complex: Some(Complex::Magnitude), field_map_hz: false });
    }

    #[test]
    fn echoes_differ_only_where_both_are_known() {
        let echo = |time, number| Echo { time, number };
        assert!(echo(Some(10_000), None).differs(&echo(Some(12_460), None)));
        assert!(!echo(Some(10_000), Some(1)).differs(&echo(None, Some(1))));
        assert!(!echo(None, None).differs(&echo(Some(1), Some(2))));
    }
}
