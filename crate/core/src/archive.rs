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
struct Sink(Rc<RefCell<Pending>>);

/// The archive bytes not taken yet: whole buffers handed over (a NIfTI volume, not copied),
/// then the bytes written since.
#[derive(Default)]
struct Pending {
    parts: Vec<Vec<u8>>,
    current: Vec<u8>,
    /// The next bytes written are an entry's data that [`Archive::put_owned`] hands over
    /// whole: counted (the zip writer has its CRC), not copied.
    skip: usize,
}

impl Sink {
    fn take_parts(&self) -> Vec<Vec<u8>> {
        let mut pending = self.0.borrow_mut();
        let mut parts = std::mem::take(&mut pending.parts);
        parts.push(std::mem::take(&mut pending.current));
        parts
    }

    fn take(&self) -> Vec<u8> {
        match <[Vec<u8>; 1]>::try_from(self.take_parts()) {
            Ok([one]) => one,
            Err(parts) => parts.concat(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.0.borrow_mut();
        if pending.skip > 0 {
            let n = pending.skip.min(buf.len());
            pending.skip -= n;
            return Ok(n);
        }
        pending.current.extend_from_slice(buf);
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

    /// The archive bytes produced so far that the caller has not taken, in one buffer.
    pub fn take(&self) -> Vec<u8> {
        self.sink.take()
    }

    /// The archive bytes produced so far that the caller has not taken, as buffers to be
    /// written one after the other (a volume handed to [`Archive::put_owned`] is one of them).
    pub fn take_parts(&self) -> Vec<Vec<u8>> {
        self.sink.take_parts()
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

    /// Adds one stored file whose bytes become one of the next [`Archive::take_parts`] as they
    /// are, not copied into the archive's buffer: a NIfTI volume is the size of a series,
    /// and a second copy of it doubled the page's memory (wasm memory never shrinks).
    pub fn put_owned(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), JobError> {
        self.start_entry(path, bytes.len())?;
        self.write_owned(bytes)
    }

    /// Starts a stored entry of `size` bytes, to be given by [`Archive::write_owned`] (a NIfTI
    /// volume written as its files arrive). The entry ends with the next one, or `finish`.
    pub fn start_entry(&mut self, path: &str, size: usize) -> Result<(), JobError> {
        self.start(path, size, Packing::Stored)
    }

    /// The next bytes of the entry being written, handed out as [`Archive::put_owned`] does.
    pub fn write_owned(&mut self, bytes: Vec<u8>) -> Result<(), JobError> {
        self.sink.0.borrow_mut().skip = bytes.len();
        let written = self.writer.write_all(&bytes).map_err(archive_error);
        let mut pending = self.sink.0.borrow_mut();
        debug_assert_eq!(pending.skip, 0, "the zip writer passes stored data through whole");
        pending.skip = 0;
        written?;
        let before = std::mem::take(&mut pending.current);
        pending.parts.extend([before, bytes].into_iter().filter(|b| !b.is_empty()));
        Ok(())
    }

    fn put_parts(&mut self, path: &str, parts: &[&[u8]], packing: Packing) -> Result<(), JobError> {
        let size: usize = parts.iter().map(|p| p.len()).sum();
        self.start(path, size, packing)?;
        // Room for the whole entry up front: `take` hands the buffer away after each entry, and
        // growing a fresh one by doubling would copy a large entry several times.
        self.sink.0.borrow_mut().current.reserve(size);
        parts.iter().try_for_each(|part| self.writer.write_all(part)).map_err(archive_error)
    }

    /// Starts an entry of `size` bytes.
    fn start(&mut self, path: &str, size: usize, packing: Packing) -> Result<(), JobError> {
        let method = match packing {
            Packing::Stored => CompressionMethod::Stored,
            Packing::Deflated => CompressionMethod::Deflated,
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(self.modified)
            .unix_permissions(0o644)
            .large_file(size as u64 >= u32::MAX as u64);
        self.sink.0.borrow_mut().current.reserve(2 * path.len() + 128);
        self.writer.start_file(path, options).map_err(archive_error)
    }

    /// Closes the archive; returns its last bytes (the central directory).
    pub fn finish(self) -> Result<Vec<u8>, JobError> {
        let sink = self.sink.clone();
        self.writer.finish().map_err(archive_error)?;
        Ok(sink.take())
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

    /// A volume handed over whole comes out as one of the parts, the very buffer, and the
    /// parts make the same zip as the volume copied in.
    #[test]
    fn owned_entries_are_handed_out_as_they_are() {
        let date = Date::parse_da("20261124").unwrap();
        let volume: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut copied = Archive::new(date);
        copied.put("NIFTI/20261124/V1/1.json", b"{}", Packing::Deflated).unwrap();
        copied.put("NIFTI/20261124/V1/1.nii", &volume, Packing::Stored).unwrap();
        let mut expected = copied.take();
        expected.extend(copied.finish().unwrap());

        let mut owned = Archive::new(date);
        owned.put("NIFTI/20261124/V1/1.json", b"{}", Packing::Deflated).unwrap();
        let at = volume.as_ptr();
        owned.put_owned("NIFTI/20261124/V1/1.nii", volume).unwrap();
        let parts = owned.take_parts();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].as_ptr(), at, "the volume's buffer, not a copy");
        let mut zip = parts.concat();
        zip.extend(owned.finish().unwrap());
        assert_eq!(zip, expected);
    }
}
