//! SliceTiming as dcm2niix 1.0.20260724 derives it: what the scan reads of each image (a
//! Siemens mosaic's CSA MosaicRefAcqTimes per tile, a Siemens enhanced frame's TimeAfterStart
//! (0021,1104), a Siemens 2D image's AcquisitionTime, GE's Protocol Data Block (0025,101B):
//! slice order and multiband), and per volume the offsets in seconds, in voxel order. Only
//! differences leave this module: a sidecar never gets a time of day.

use super::ge_block::ProtocolBlock;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::csa;
use super::diffusion::round_g;
use super::slots::Source;
use crate::dicom::{number, text};

/// How an image's acquisition is timed, as read by the scan.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Timing {
    /// A Siemens 2D image's AcquisitionTime, as dcm2niix reads it (seconds of the day in
    /// float32, in ms): only its differences within a volume are used.
    pub(super) clock_ms: Option<f64>,
    /// A mosaic's times per tile (ms), from its CSA header.
    pub(super) tiles_ms: Option<Vec<f64>>,
    /// GE's protocol, from which dcm2niix computes the times.
    pub(super) ge: Option<GeProtocol>,
}

/// What GE's Protocol Data Block and headers say of the slice order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GeProtocol {
    pub(super) interleaved: bool,
    pub(super) multiband: usize,
    pub(super) repetition_ms: f64,
    /// Software 27.0 R03 or later (multiband excitations no longer made odd).
    pub(super) release_27r3: bool,
    /// Software before 26 (multiband timing unknown).
    pub(super) before_26: bool,
}

/// A time of the day `HHMMSS.frac` in seconds, as dcm2niix reads it: through float32.
fn clock_seconds(value: &str) -> Option<f64> {
    let quantised = value.trim().parse::<f32>().ok()? as f64;
    let text = format!("{quantised:013.5}");
    let (hours, rest) = text.split_at(text.find('.')?.checked_sub(4)?);
    let hours: f64 = hours.parse().ok()?;
    let (minutes, seconds) = rest.split_at(2);
    Some(hours * 3600.0 + minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?)
}

/// GE's major.minor version and whether it is 27.0 R03 or later, from SoftwareVersions
/// ("…:DV26.0_R01_1725.a" or "…\MR29.1_EA_2039.g").
fn ge_version(ds: &InMemDicomObject) -> Option<(f64, bool)> {
    let versions = text(ds, tags::SOFTWARE_VERSIONS)?;
    let tail = match versions.rfind(':') {
        Some(at) => &versions[at + 1..],
        None => &versions[versions.rfind('\\')? + 1..],
    };
    let mut parts = tail.get(2..)?.split('_');
    let major: f64 = parts.next()?.parse().ok()?;
    let release = parts.next()?.trim_start_matches('R').parse::<u32>().unwrap_or(0);
    Some((major, major >= 27.1 || (major.floor() == 27.0 && release >= 3)))
}

/// GE's protocol for an EPI series (epi, epiRT or its FMRI/MPh options), where dcm2niix
/// computes slice times; `None` otherwise (among them variable multi-phase delays).
fn ge_protocol(ds: &InMemDicomObject) -> Option<GeProtocol> {
    let block = ProtocolBlock::of(ds)?;
    let options = block.value("IOPT").unwrap_or_default();
    let sequence = text(ds, Tag(0x0019, 0x109C)).unwrap_or_default().to_ascii_lowercase();
    let epi = sequence.starts_with("epi") || options.contains("FMRI") || options.contains("MPh");
    if !epi || options.contains("MPhVar") {
        return None;
    }
    let (major, release_27r3) = ge_version(ds).unwrap_or((0.0, false));
    Some(GeProtocol {
        interleaved: block.value("SLICEORDER") != Some("0"),
        multiband: block.value("MBACCEL").and_then(|v| v.parse().ok()).unwrap_or(1).max(1),
        repetition_ms: number(ds, tags::REPETITION_TIME)?,
        release_27r3,
        before_26: major < 26.0,
    })
}

/// How the image `ds` is timed, by its manufacturer (`mosaic`: a Siemens mosaic).
pub(super) fn of_image(ds: &InMemDicomObject, mosaic: bool) -> Timing {
    let maker = text(ds, tags::MANUFACTURER).unwrap_or_default().to_ascii_lowercase();
    if maker.starts_with("ge") {
        return Timing { ge: ge_protocol(ds), ..Timing::default() };
    }
    if !maker.contains("siemens") {
        return Timing::default();
    }
    if mosaic {
        let tiles = csa::image_header(ds).and_then(|h| csa::values(&h, "MosaicRefAcqTimes"));
        let tiles_ms = tiles.map(|v| v.iter().filter_map(|t| t.parse::<f32>().ok().map(f64::from)).collect::<Vec<_>>());
        return Timing { tiles_ms: tiles_ms.filter(|t| t.len() > 3), ..Timing::default() };
    }
    let clock_ms = text(ds, tags::ACQUISITION_TIME).and_then(|t| clock_seconds(&t)).map(|s| s * 1000.0);
    Timing { clock_ms, ..Timing::default() }
}

/// A Siemens enhanced frame's TimeAfterStart (0021,1104, seconds, in the private per-frame
/// group 0021,11FE), in ms as dcm2niix holds it: read as float32, times 1000 kept in float32.
pub(super) fn frame_time(per_frame: &InMemDicomObject) -> Option<f64> {
    let group = per_frame.element_opt(Tag(0x0021, 0x11FE)).ok()??.items()?.first()?;
    number(group, Tag(0x0021, 0x1104)).map(|s| ((s as f32) as f64 * 1000.0) as f32 as f64)
}

/// GE's times (ms) of `slices` slices in acquisition order, as dcm2niix computes them from
/// TR, order and multiband (excitations evenly spread over the TR).
fn ge_pattern(p: &GeProtocol, slices: usize) -> Option<Vec<f64>> {
    if p.multiband > 1 && p.before_26 {
        return None;
    }
    let mut excitations = slices.div_ceil(p.multiband);
    if p.multiband > 1 && !p.release_27r3 && excitations % 2 == 0 {
        excitations += 1;
    }
    let step = p.repetition_ms / excitations as f64;
    let mut times: Vec<f64> = (0..excitations)
        .map(|i| match p.interleaved {
            false => i as f64,
            true if i % 2 == 0 => (i / 2) as f64,
            true => ((excitations - 1) / 2 + (i + 1) / 2) as f64,
        })
        .map(|n| (n * step) as f32 as f64)
        .collect();
    if p.multiband > 1 && p.release_27r3 && p.interleaved && excitations > 2 && excitations % 2 == 0 {
        times.swap(excitations - 1, excitations - 3);
    }
    Some((0..slices).map(|i| times[i % excitations]).collect())
}

/// The volume's SliceTiming (seconds, voxel order), or `None` where dcm2niix writes none.
/// `sources` fill the volume's slots (`slices` a volume, `volumes` of them); `acquisition`
/// are its inputs in acquisition order.
pub(super) fn seconds(sources: &[Option<Source>], slices: usize, volumes: usize, acquisition: &[usize]) -> Option<Vec<f64>> {
    let first = sources.first()?.as_ref()?;
    if slices < 2 || first.slice.acquisition_3d || matches!(first.slice.modality.as_str(), "CT" | "PT") {
        return None;
    }
    let ms = if let Some(protocol) = &first.slice.timing.ge {
        // In acquisition order; reversed where the slices run against the normal.
        let mut times = ge_pattern(protocol, slices).filter(|_| volumes > 1)?;
        if acquisition.first() != Some(&first.input) {
            times.reverse();
        }
        times
    } else if first.frame.is_some() && !first.slice.mosaic {
        enhanced_times(sources, slices, volumes)?
    } else {
        let times = siemens_times(sources, slices, volumes)?;
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        let shift = if first.slice.mosaic { min.min(0.0) } else { min };
        times.into_iter().map(|t| ((t - shift) as f32) as f64).collect()
    };
    if ms.iter().all(|&t| t == ms[0]) {
        return None;
    }
    Some(ms.into_iter().map(|t| round_g(t / 1000.0)).collect())
}

/// The offsets (ms, float32 as dcm2niix computes them) of a Siemens enhanced series whose
/// frames carry TimeAfterStart. As dcm2niix: the times are one file's first `slices` frames
/// in the file's order; the file is the second one when each volume is a file of its own
/// (its first volume can be off, dcm2niix's issue 240), else the first; less their minimum
/// (a negative minimum is kept for a file per volume).
fn enhanced_times(sources: &[Option<Source>], slices: usize, volumes: usize) -> Option<Vec<f64>> {
    let mut files: Vec<usize> = sources.iter().flatten().map(|s| s.input).collect();
    files.sort_unstable();
    files.dedup();
    let file_per_volume = volumes > 1 && files.len() == volumes;
    let slot = if file_per_volume { slices } else { 0 };
    let frames = &sources.get(slot)?.as_ref()?.slice.frame_list;
    let times: Vec<f32> = frames.get(..slices)?.iter().map(|f| f.time.map(|t| t as f32)).collect::<Option<_>>()?;
    let mut min = times.iter().copied().fold(f32::INFINITY, f32::min);
    if file_per_volume && min < 0.0 {
        min = 0.0;
    }
    Some(times.iter().map(|&t| f64::from(t - min)).collect())
}

/// The Siemens times (ms) of one volume's slots: a 2D series' AcquisitionTimes from its
/// first volume; a mosaic's tiles from its first volume too, unless the second's span
/// differs (dcm2niix: a first volume's times can be off).
fn siemens_times(sources: &[Option<Source>], slices: usize, volumes: usize) -> Option<Vec<f64>> {
    let first = sources.first()?.as_ref()?;
    let of_volume = |t: usize| -> Option<Vec<f64>> {
        sources
            .get(t * slices..(t + 1) * slices)?
            .iter()
            .map(|s| {
                let s = s.as_ref()?;
                match s.frame {
                    Some(frame) => frame.time,
                    None => s.slice.timing.clock_ms,
                }
            })
            .collect()
    };
    let span = |times: &[f64]| {
        let (min, max) = times.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t)));
        ((max - min) as f32, min)
    };
    let times = of_volume(0)?;
    match (first.frame.is_some() && volumes > 1).then(|| of_volume(1)).flatten() {
        Some(second) if span(&second).0 != span(&times).0 => Some(second),
        _ => Some(times),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dcm2niix reads a time of day through float32: 14:01:36.32 is 36.3125 s.
    #[test]
    fn clock_times_go_through_float32() {
        assert_eq!(clock_seconds("140136.320000"), Some(14.0 * 3600.0 + 60.0 + 36.3125));
        assert_eq!(clock_seconds("140136.120000"), Some(14.0 * 3600.0 + 60.0 + 36.125));
        assert_eq!(clock_seconds("nonsense"), None);
    }

    /// GE's computed orders (dcm_qa: nih series 4, interleaved, 15 slices, TR 5 s; ge series
    /// 4, multiband 2, 9 slices, TR 1 s, release 29.1).
    #[test]
    fn ge_patterns_follow_dcm2niix() {
        let p = GeProtocol { interleaved: true, multiband: 1, repetition_ms: 5000.0, release_27r3: false, before_26: false };
        let times = ge_pattern(&p, 15).expect("times");
        assert_eq!(times[..4].iter().map(|t| round_g(t / 1000.0)).collect::<Vec<_>>(), [0.0, 2.66667, 0.333333, 3.0]);
        let p = GeProtocol { multiband: 2, repetition_ms: 1000.0, release_27r3: true, ..p };
        assert_eq!(ge_pattern(&p, 9).expect("times"), [0.0, 600.0, 200.0, 800.0, 400.0, 0.0, 600.0, 200.0, 800.0]);
        let p = GeProtocol { interleaved: false, multiband: 1, ..p };
        assert_eq!(ge_pattern(&p, 4).expect("times"), [0.0, 250.0, 500.0, 750.0]);
    }

    /// XA30's diffusion series 17 (21 files of 39 frames, one volume each), stacked as
    /// dcm2niix stacks it: the times are those of the second file, as dcm2niix writes them
    /// (the first file's differ by 2.5 ms at some slices: 0.2675 s where 0.27 s is written).
    #[test]
    fn xa30_file_per_volume_takes_the_second_file() {
        use super::super::slice::Slice;
        let Some(paths) = super::super::dcm_qa_files("xa30/In/17_DWI_dir80_AP") else { return };
        let read = |p: &std::path::PathBuf| crate::dicom::parse(&std::fs::read(p).ok()?, true).ok();
        let slices: Vec<Slice> = paths.iter().filter_map(read).map(|ds| Slice::of(&ds)).collect();
        assert_eq!(slices.len(), 21);
        let sources: Vec<Option<Source>> = (0..21 * 39)
            .map(|s| Some(Source { input: s / 39, slice: &slices[s / 39], frame: slices[s / 39].frame_list.get(s % 39) }))
            .collect();
        let acquisition: Vec<usize> = (0..21).collect();
        let times = seconds(&sources, 39, 21, &acquisition).expect("slice times");
        let want = [0.0, 1.8825, 0.27, 2.1525, 0.5375, 2.42, 0.8075, 2.69, 1.0775, 2.96, 1.345, 3.2275, 1.615];
        assert_eq!(times[..13], want);
        assert_eq!(times[13..26], want);
        // One file alone: its own times, less its minimum.
        let one = seconds(&sources[..39], 39, 1, &acquisition[..1]).expect("slice times");
        assert_eq!(one[..4], [0.0, 1.8825, 0.2675, 2.15]);
    }

    /// GE software versions as dcm2niix reads them.
    #[test]
    fn ge_versions_parse() {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        let of = |v: &str| {
            let mut ds = InMemDicomObject::new_empty();
            ds.put(DataElement::new(tags::SOFTWARE_VERSIONS, VR::LO, PrimitiveValue::from(v)));
            ge_version(&ds)
        };
        assert_eq!(of("27\\LX\\MR Software release:DV26.0_R01_1725.a"), Some((26.0, false)));
        assert_eq!(of("28\\LX\\MR29.1_EA_2039.g"), Some((29.1, true)));
        assert_eq!(of("27\\LX\\MR Software release:RX27.0_R03_1831.a"), Some((27.0, true)));
    }
}
