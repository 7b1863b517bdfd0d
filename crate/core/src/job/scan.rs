//! The first pass: each input is recorded once, with what the plan needs of it (a DICOM
//! header's summary and NIfTI slice, or a table's scan), or why it is skipped.

use crate::error::{FileError, Reason};
use crate::dicom::{self, Object, Summary};
use crate::nifti;
use crate::profile;
use crate::report::{Outcome, Why};

use super::{Format, Input, Job, Scan};

impl Job {
    /// First pass over one input, given whole. Never fails: a file that cannot be read is
    /// recorded as skipped with the reason. Returns the input's index.
    pub fn scan(&mut self, name: &str, bytes: &[u8]) -> usize {
        match self.scan_prefix(name, bytes, bytes.len() as u64) {
            Scan::Input(input) => input,
            Scan::NeedMore(_) => unreachable!("a whole file never needs more bytes"),
        }
    }

    /// First pass over one input of `size` bytes, given its first bytes (or all of them): as
    /// [`Job::scan`] once `prefix` is enough, else nothing is recorded and the caller scans
    /// again with at least the bytes asked for. A DICOM image needs its header only (the
    /// export checks that the whole file still has the same header); anything else is read
    /// whole (a table's fingerprint covers all its bytes).
    pub fn scan_prefix(&mut self, name: &str, prefix: &[u8], size: u64) -> Scan {
        let whole = prefix.len() as u64 >= size;
        let (summary, outcome, why) = match dicom::parse_header(prefix, size) {
            Ok(dicom::Header::NeedMore(n)) => return Scan::NeedMore(n),
            Ok(dicom::Header::Parsed(object, native_bytes)) => {
                self.keep_slice(&object, native_bytes);
                (Some(Summary::of(&object)), Outcome::Pending, None)
            }
            Err(FileError::NotDicom) if !whole => return Scan::NeedMore(size),
            Err(FileError::NotDicom) => self.scan_table(name, prefix),
            Err(e) => (None, Outcome::Skipped { reason: e.to_string() }, Some(e.why())),
        };
        let size = size.max(prefix.len() as u64);
        self.inputs.push(Input { name: name.to_string(), size, summary, outcome, why, redaction: None, defaced: false });
        Scan::Input(self.inputs.len() - 1)
    }

    /// With a NIfTI output, the slice of the next input's header for the volume plan.
    fn keep_slice(&mut self, object: &Object, native_bytes: Option<u64>) {
        // The head scans of the Clean Recognizable Visual Features Option are volumes too.
        if self.settings.format == Format::Dicom && !self.policy.options.contains(&crate::profile::Opt::CleanVisualFeatures) {
            return;
        }
        let mut slice = nifti::Slice::of(object);
        slice.native_bytes = native_bytes;
        // Named as the DICOM export writes the name (kept, or cleaned of identifiers).
        slice.export_name(|tag| profile::exported_text(object, &self.policy, tag));
        self.slices.insert(self.inputs.len(), slice);
    }

    /// A file that is not DICOM, read whole: a table, or skipped with why it is not one.
    fn scan_table(&mut self, name: &str, bytes: &[u8]) -> (Option<Summary>, Outcome, Option<Why>) {
        match self.tables.scan(self.inputs.len(), name, bytes) {
            Ok(()) => (None, Outcome::Pending, None),
            Err(why) => {
                let reason = format!("{}; {why}", FileError::NotDicom);
                (None, Outcome::Skipped { reason }, Some(Why::new(why.code(), why.to_string())))
            }
        }
    }

    /// Records an input that could not even be read (for the CLI: an I/O error), so that
    /// the report still accounts for every input.
    pub fn unreadable(&mut self, name: &str, size: u64, reason: &str) -> usize {
        self.skipped(name, size, format!("could not read the file: {reason}"), Why::new(Reason::Unreadable, reason.to_string()))
    }

    /// Records a zip entry the zip reader refused (`why`: an unsafe path, encryption, size).
    pub fn ignored_entry(&mut self, name: &str, size: u64, why: &str) -> usize {
        self.skipped(name, size, format!("ignored: {why}"), Why::new(Reason::ZipEntryIgnored, why.to_string()))
    }

    fn skipped(&mut self, name: &str, size: u64, reason: String, why: Why) -> usize {
        let (outcome, why) = (Outcome::Skipped { reason }, Some(why));
        self.inputs.push(Input { name: name.to_string(), size, summary: None, outcome, why, redaction: None, defaced: false });
        self.inputs.len() - 1
    }
}
