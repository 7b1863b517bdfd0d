//! The derived fields on real scanner files of ../shared/dcm_qa, each value checked against
//! dcm2niix 1.0.20260724's sidecar for the same series (tests/nifti_qa/compare.py).


use dicom_core::header::Header as _;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use super::*;
use crate::dicom::{parse, Object};
use crate::nifti::{plan, Slice};
use crate::profile::{Policy, Preset};

/// The first file (by name) of a dcm_qa folder, or `None` (and a note) when the data is absent.
fn first(folder: &str) -> Option<Object> {
    let files = crate::nifti::dcm_qa_files(folder)?;
    // The first DICOM file: folders also hold README and DICOMDIR files.
    files.iter().find_map(|f| parse(&std::fs::read(f).ok()?, false).ok().filter(|o| o.element_opt(dicom_dictionary_std::tags::ROWS).ok().flatten().is_some()))
}

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= 1e-3 * want.abs())
}

fn direction(axis: Axis, positive: Option<bool>) -> Option<PhaseEncoding> {
    Some(PhaseEncoding { axis, positive })
}

/// Siemens classic mosaic, GRAPPA 2 (CSA image header, protocol): series 10 of siemens_trt.
#[test]
fn siemens_mosaic_with_grappa() {
    let Some(ds) = first("siemens_trt/In/TotalReadoutTime/PF_PAT_POS_PFOV_PEres_INTERP_test2/NOPF_P2_NOPOS_PERES100_ES0P59_BW2222_AP_0010") else { return };
    let a = derive(&ds, Some((90, 90)));
    assert_eq!(a.phase_encoding, direction(Axis::J, Some(false)), "j-");
    assert!(close(a.effective_echo_spacing, 0.000294998) && close(a.total_readout_time, 0.0262548), "{a:?}");
    assert_eq!((a.parallel_reduction, a.echo_train_length, a.acquisition_matrix_pe, a.recon_matrix_pe), (Some(2.0), Some(45), Some(90), Some(90)));
    assert!(close(a.bandwidth_per_pixel_pe, 37.665));
    assert_eq!((a.partial_fourier, a.multiband), (None, None));
}

/// Siemens partial Fourier 5/8 from the protocol (series 16), and 50% phase resolution: 45
/// lines acquired, 90 reconstructed (series 20).
#[test]
fn siemens_partial_fourier_and_phase_resolution() {
    let root = "siemens_trt/In/TotalReadoutTime/PF_PAT_POS_PFOV_PEres_INTERP_test2/";
    let Some(ds) = first(&format!("{root}58PF_NOPAT_NOPOS_PERES100_ES0P59_BW2222_AP_0016")) else { return };
    assert_eq!(derive(&ds, Some((90, 90))).partial_fourier, Some(0.625));
    let Some(ds) = first(&format!("{root}NOPF_NOPAT_NOPOS_PERES50_ES0P59_BW2222_PA_0021")) else { return };
    let a = derive(&ds, Some((90, 90)));
    assert_eq!((a.acquisition_matrix_pe, a.recon_matrix_pe), (Some(45), Some(90)));
    assert_eq!(a.phase_encoding, direction(Axis::J, Some(true)), "j");
    assert!(close(a.total_readout_time, 0.0525111), "{a:?}");
}

/// Siemens XA30 enhanced, CMRR multiband 3 (per-frame private attributes, inferred partial
/// Fourier 56/64).
#[test]
fn siemens_xa30_multiband_bold() {
    let Some(ds) = first("xa30/In/7_func-bold_task-fa_run-1") else { return };
    let a = derive(&ds, Some((64, 64)));
    assert_eq!(a.phase_encoding, direction(Axis::J, Some(false)), "j-");
    assert!(close(a.effective_echo_spacing, 0.000540003) && close(a.total_readout_time, 0.0340202), "{a:?}");
    assert_eq!((a.multiband, a.echo_train_length, a.acquisition_matrix_pe, a.recon_matrix_pe), (Some(3), Some(56), Some(64), Some(64)));
    assert!(close(a.bandwidth_per_pixel_pe, 28.935) && close(a.partial_fourier, 0.875) && close(a.parallel_reduction, 1.0));
}

/// GE multiband DTI: ASSET 2, hyperband 2, reverse-linear phase encoding, 128 lines
/// interpolated to 256.
#[test]
fn ge_multiband_dti() {
    let Some(ds) = first("ge/In/04_Ax_DWI_TENSOR_R2MB2") else { return };
    let a = derive(&ds, Some((256, 256)));
    assert_eq!(a.phase_encoding, direction(Axis::J, Some(false)), "j-");
    assert!(close(a.effective_echo_spacing, 0.000492094) && close(a.total_readout_time, 0.125484), "{a:?}");
    assert_eq!((a.parallel_reduction, a.multiband, a.acquisition_matrix_pe, a.recon_matrix_pe, a.echo_train_length), (Some(2.0), Some(2), Some(128), Some(256), None));
}

/// GE: the group delay of the protocol block (DELACQ 0.35 s) joins RepetitionTime (1 s);
/// polarity from the user-defined data where 0018,9034 is absent (DV26).
#[test]
fn ge_group_delay_and_user_data_polarity() {
    let Some(ds) = first("ge/In/SliceTimingMPh/3_fMRI_Multiphase_Des_0.35Delay") else { return };
    assert!(close(derive(&ds, Some((64, 64))).repetition_time, 1.35));
    let Some(ds) = first("ge/In/SliceTimingMPh/2_fMRI_Multiphase_Des") else { return };
    assert_eq!(derive(&ds, Some((64, 64))).repetition_time, None, "DELACQ \"Minimum\" adds nothing");
    let Some(ds) = first("nih/In/20180918GE/mr_0004") else { return };
    let a = derive(&ds, Some((64, 64)));
    assert_eq!(a.phase_encoding, direction(Axis::J, Some(false)), "j-");
    assert!(close(a.effective_echo_spacing, 0.000388) && close(a.total_readout_time, 0.024444), "{a:?}");
}

/// Philips classic DWI: no polarity (the axis alone), SENSE 2 from the nested standard
/// attribute, 110 lines reconstructed to 112; Philips 3D field map: no phase encoding.
#[test]
fn philips_axis_only_and_3d() {
    let Some(ds) = first("philips_dwi/In/cl/DICOM") else { return };
    let a = derive(&ds, Some((112, 112)));
    assert_eq!(a.phase_encoding, direction(Axis::J, None));
    assert_eq!((a.parallel_reduction, a.echo_train_length, a.acquisition_matrix_pe, a.recon_matrix_pe), (Some(2.0), Some(55), Some(110), Some(112)));
    assert_eq!((a.effective_echo_spacing, a.partial_fourier), (None, None));
    let Some(ds) = first("fmap/In/Philips/fmap") else { return };
    let a = derive(&ds, Some((64, 64)));
    assert_eq!((a.phase_encoding, a.parallel_reduction, a.acquisition_matrix_pe), (None, Some(1.0), Some(64)));
}

/// Slice times shared by several slices give the multiband factor, unless stated higher.
#[test]
fn multiband_from_slice_times() {
    assert_eq!(multiband_from_times(&[0.0, 0.5, 0.0, 0.5], None), Some(2));
    assert_eq!(multiband_from_times(&[0.0, 0.5, 0.0, 0.5], Some(3)), None);
    assert_eq!(multiband_from_times(&[0.0, 0.5, 0.25], None), None);
    assert_eq!(multiband_from_times(&[0.0, 0.0], None), None);
}

/// The text values of `ds` at any depth, private (odd group) or public, long enough to
/// recognise and not numbers.
fn texts(ds: &InMemDicomObject, private: &mut Vec<String>, public: &mut Vec<String>) {
    for element in ds.iter() {
        if let Some(items) = element.items() {
            items.iter().for_each(|item| texts(item, private, public));
        } else if let Ok(text) = element.to_str() {
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string();
            if text.len() < 4 || text.parse::<f64>().is_ok() {
                continue;
            }
            match element.tag().group() % 2 == 1 && element.tag().element() >= 0x1000 {
                true => private.push(text),
                false => public.push(text),
            }
        }
    }
}

/// No private value reaches a whole sidecar (Siemens XA, Siemens classic, GE): the derived
/// fields are numbers or an axis, and no private text appears anywhere in the JSON.
#[test]
fn no_private_value_reaches_the_sidecar() {
    let policy = Policy::new(Preset::Basic, &[], None);
    for folder in ["xa30/In/7_func-bold_task-fa_run-1", "ge/In/04_Ax_DWI_TENSOR_R2MB2", "nih/In/20180918Si/mr_0003"] {
        let Some(object) = first(folder) else { return };
        let slice = Slice::of(&object);
        let volume = plan(&[(0, &slice)]).into_iter().next().expect("one volume");
        let json = String::from_utf8(crate::nifti::sidecar::json(&object, &volume, &policy)).unwrap();
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(&json).expect("valid JSON");
        assert!(parsed.contains_key("ReconMatrixPE"), "{folder}: {json}");
        let (mut private, mut public) = (Vec::new(), Vec::new());
        texts(&object, &mut private, &mut public);
        // A private value that some public attribute also holds ("NONE", "ORIGINAL") proves nothing.
        private.retain(|p| !public.iter().any(|q| q.contains(p.as_str())));
        assert!(private.len() > 10, "{folder} has private text to look for");
        for text in &private {
            assert!(!json.contains(text.as_str()), "{folder}: private value {text:?} in {json}");
        }
        for key in ["PhaseEncodingDirection", "PhaseEncodingAxis"] {
            if let Some(v) = parsed.get(key) {
                assert!(matches!(v.as_str(), Some("i" | "i-" | "j" | "j-")), "{key}: {v}");
            }
        }
    }
}
