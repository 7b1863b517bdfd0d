//! Series assembly + NIfTI writing: the input is split into up to four DICOM files (at
//! `0xFF 0xFE 0xFD 0xFC` markers, so that the seeds can hold whole series), exported with
//! `--format both` (the DICOM tree and the NIfTI volumes).
#![no_main]

use capture::{Format, Preset, Settings};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const MARKER: &[u8] = &[0xFF, 0xFE, 0xFD, 0xFC];

fuzz_target!(|data: &[u8]| {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    while parts.len() < 3 {
        match rest.windows(4).position(|w| w == MARKER) {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + 4..];
            }
            None => break,
        }
    }
    parts.push(rest);
    let names = ["s1.dcm", "s2.dcm", "s3.dcm", "s4.dcm"];
    let inputs: Vec<(&str, &[u8])> = names.iter().copied().zip(parts).collect();
    let settings = Settings { format: Format::Both, preset: Preset::Basic, include_quarantined: true, ..Settings::default() };
    common::export(settings, &inputs);
});
