//! Clean Pixel Data: an image held back for its pixels (secondary capture, ultrasound, burned-in
//! text) exported with the option, as the CLI does: every frame decoded (any transfer syntax),
//! searched for text, filled and written; the file must end accounted for.
#![no_main]

use capture::profile::Opt;
use capture::{Format, Preset, Settings};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let settings = Settings { format: Format::Dicom, preset: Preset::Basic, options: vec![Opt::CleanPixelData], ..Settings::default() };
    common::export(settings, &[("image.dcm", data)]);
});
