//! The core of the Data Capture anonymiser: pure functions from bytes to bytes.
//!
//! No I/O, no clock, no randomness: input files, the site secret and today's date
//! come in as arguments, so the same core runs in the browser (through the `capture-web` package) and
//! in the native `capture` command, and is tested natively with `cargo test`.

pub mod archive;
mod codec;
pub mod dates;
pub mod deface;
pub mod error;
pub mod dicom;
pub mod job;
pub mod layout;
pub mod nifti;
pub mod patient_id;
pub mod profile;
pub mod pseudonym;
pub mod redact;
pub mod report;
pub mod table;
pub mod unzip;

pub use error::{FileError, JobError};
pub use dates::DatePolicy;
pub use job::{Format, Job, Planned, Scan, Settings, VisitBy};
pub use profile::{Opt, Preset};
pub use report::Report;
