//! DICOM ingest + de-identification + re-encoding, as `Job::export` does it for one file:
//! header parse (the scan), full parse, the walk under the Basic Profile, encoding; a file
//! that is written must parse again.
#![no_main]

use capture::dicom::encode;
use capture::profile::{deidentify, Policy, Subject};
use capture::{dicom, Preset};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = dicom::parse(data, true) else { return };
    let _ = dicom::Summary::of(&header);
    let Ok(object) = dicom::parse(data, false) else { return };
    let policy = Policy::new(Preset::Basic, &[], None);
    let subject = Subject { keyring: common::keyring(), policy: &policy, patient: "P0", visit: "V0", shift_days: -400 };
    let Ok(clean) = deidentify(object, &subject) else { return };
    if let Ok(bytes) = encode(&clean) {
        dicom::parse(&bytes, false).expect("a written file parses again");
    }
});
