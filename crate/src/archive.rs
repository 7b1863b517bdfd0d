//! The output zip, produced incrementally: each entry's bytes are handed back as
//! soon as they are written, so neither the wasm nor the CLI ever holds the whole
//! archive. Entries are stored with a fixed timestamp (the export date) and fixed
//! permissions, so the same content always gives the same bytes.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::dates::Date;
use crate::error::JobError;

/// Where the zip writer puts its bytes until the caller takes them.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How an entry is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// No compression: DICOM pixel data gains little and costs time.
    Stored,
    /// Deflate: tables and NIfTI volumes shrink well.
    Deflated,
}

pub struct Archive {
    writer: ZipWriter<StreamWriter<Sink>>,
    sink: Sink,
    modified: DateTime,
}

fn archive_error(e: impl std::fmt::Display) -> JobError {
    JobError::Archive(e.to_string())
}

impl Archive {
    pub fn new(export_date: Date) -> Archive {
        let sink = Sink::default();
        // The zip format counts years from 1980: an export date is always later.
        let modified = DateTime::from_date_and_time(export_date.year.clamp(1980, 2107), export_date.month, export_date.day, 0, 0, 0)
            .unwrap_or_default();
        Archive { writer: ZipWriter::new_stream(sink.clone()), sink, modified }
    }

    /// The archive bytes produced so far that the caller has not taken.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.sink.0.borrow_mut())
    }

    /// Adds one file; returns the archive bytes produced so far that the caller has not taken.
    pub fn add(&mut self, path: &str, bytes: &[u8], packing: Packing) -> Result<Vec<u8>, JobError> {
        self.put(path, bytes, packing)?;
        Ok(self.take())
    }

    /// Adds one file, keeping its bytes for the next [`Archive::take`]: entries that leave
    /// together (a volume and its sidecar) are written into one buffer, not copied into a
    /// second one.
    pub fn put(&mut self, path: &str, bytes: &[u8], packing: Packing) -> Result<(), JobError> {
        self.put_parts(path, &[bytes], packing)
    }

    /// Adds one file made of `parts` one after the other (a de-identified header and the
    /// source's pixel data), without joining them first; returns the archive bytes produced so
    /// far that the caller has not taken.
    pub fn add_parts(&mut self, path: &str, parts: &[&[u8]], packing: Packing) -> Result<Vec<u8>, JobError> {
        self.put_parts(path, parts, packing)?;
        Ok(self.take())
    }

    fn put_parts(&mut self, path: &str, parts: &[&[u8]], packing: Packing) -> Result<(), JobError> {
        let size: usize = parts.iter().map(|p| p.len()).sum();
        let method = match packing {
            Packing::Stored => CompressionMethod::Stored,
            Packing::Deflated => CompressionMethod::Deflated,
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(self.modified)
            .unix_permissions(0o644)
            .large_file(size as u64 >= u32::MAX as u64);
        // Room for the whole entry up front: `take` hands the buffer away after each entry, and
        // growing a fresh one by doubling would copy a large entry several times.
        self.sink.0.borrow_mut().reserve(size + 2 * path.len() + 128);
        self.writer.start_file(path, options).map_err(archive_error)?;
        parts.iter().try_for_each(|part| self.writer.write_all(part)).map_err(archive_error)
    }

    /// Closes the archive; returns its last bytes (the central directory).
    pub fn finish(self) -> Result<Vec<u8>, JobError> {
        let sink = self.sink.clone();
        self.writer.finish().map_err(archive_error)?;
        let rest = std::mem::take(&mut *sink.0.borrow_mut());
        Ok(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn chunks_concatenate_to_a_readable_deterministic_zip() {
        let date = Date::parse_da("20261124").unwrap();
        let build = || {
            let mut a = Archive::new(date);
            let mut zip = a.add("DICOM/20261124/V1/0001.dcm", b"first", Packing::Stored).unwrap();
            zip.extend(a.add("EHR/20261124/t.csv", &b"a,b\n1,2\n".repeat(100), Packing::Deflated).unwrap());
            zip.extend(a.finish().unwrap());
            zip
        };
        let zip = build();
        assert_eq!(zip, build());
        let mut read = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(read.len(), 2);
        let mut text = String::new();
        read.by_name("EHR/20261124/t.csv").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text.len(), 800);
        let first = read.by_index(0).unwrap();
        assert_eq!(first.name().unwrap(), "DICOM/20261124/V1/0001.dcm");
        assert_eq!(first.compression(), CompressionMethod::Stored);
    }
}
