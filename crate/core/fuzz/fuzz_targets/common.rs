//! Shared by the targets. The site key is derived once (PBKDF2, 100,000 rounds, would
//! otherwise be most of every run); the whole job (scan, plan, export, finish) runs where the
//! target needs its planning (NIfTI), the per-file path of `Job::export` elsewhere.
#![allow(dead_code)]

use std::sync::OnceLock;

use capture::pseudonym::Keyring;
use capture::report::Outcome;
use capture::{Job, Settings};

pub const DATE: &str = "20261124";
const SECRET: &[u8] = b"fuzz secret";

pub fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| Keyring::from_secret(SECRET))
}

/// One whole export; every input must end accounted for.
pub fn export(settings: Settings, inputs: &[(&str, &[u8])]) {
    let mut job = Job::with_keyring(settings, keyring().clone(), DATE).expect("valid date");
    for (name, bytes) in inputs {
        job.scan(name, bytes);
    }
    let plan = job.plan().expect("plan once");
    for step in plan {
        job.export(step.input, inputs[step.input].1).expect("planned inputs export");
    }
    job.finish().expect("finish once");
    let report = job.report();
    assert_eq!(report.files.len(), inputs.len());
    assert!(report.files.iter().all(|f| f.outcome != Outcome::Pending));
}
