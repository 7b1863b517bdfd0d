//! Zip archives as inputs (a PACS export as it comes): the entries are listed from the
//! central directory and read one at a time through any `Read + Seek`, so a multi-GB zip is
//! never held in memory — the page reads it with `File.slice` in its worker, the CLI or tests
//! from a file. Only one entry's bytes are in memory at a time, at most [`MAX_ENTRY`].

use std::io::{Read, Seek};

use serde::Serialize;
use zip::ZipArchive;

/// The largest entry read into memory (the wasm's address space is 4 GiB).
pub const MAX_ENTRY: u64 = 2 << 30;

/// Entries above this size must not claim to inflate more than [`MAX_RATIO`] times: DICOM
/// pixel data compresses a few times at most, a zip bomb near deflate's limit of ~1,000.
/// (Apache POI refuses ratios above 100 the same way.)
const RATIO_CHECKED_ABOVE: u64 = 100 << 20;
const MAX_RATIO: u64 = 100;

/// One entry of an input zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZipEntry {
    /// Index in the archive, for [`ZipInput::read`].
    pub index: usize,
    /// The entry's path, `/`-separated, without leading `/` or `.` components.
    pub name: String,
    /// Uncompressed size as the central directory says.
    pub size: u64,
    /// Why the entry is not read (unsafe path, encrypted, too large); `None` when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// The path of an entry as an input name, or why it is refused: absolute paths, drive
/// letters and `..` components are refused (names are only used in the report, but a
/// name that climbs out of its folder is a sign of a crafted archive).
pub fn safe_name(raw: &str) -> Result<String, String> {
    let unified = raw.replace('\\', "/");
    if unified.starts_with('/') || unified.as_bytes().get(1) == Some(&b':') {
        return Err(format!("absolute path in the zip: {raw:?}"));
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("path leaving the zip's folder: {raw:?}")),
            p if p.chars().any(char::is_control) => return Err(format!("control character in a path of the zip: {raw:?}")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!("empty path in the zip: {raw:?}"));
    }
    Ok(parts.join("/"))
}

pub struct ZipInput<R: Read + Seek> {
    archive: ZipArchive<R>,
}

impl<R: Read + Seek> ZipInput<R> {
    /// Reads the central directory (the end of the file), nothing else.
    pub fn open(reader: R) -> Result<ZipInput<R>, String> {
        Ok(ZipInput { archive: ZipArchive::new(reader).map_err(|e| format!("not a readable zip archive: {e}"))? })
    }

    /// Every file entry (folders left out), in archive order.
    pub fn entries(&mut self) -> Vec<ZipEntry> {
        let mut out = Vec::new();
        for index in 0..self.archive.len() {
            let entry = match self.archive.by_index_raw(index) {
                Ok(e) => e,
                Err(e) => {
                    out.push(ZipEntry { index, name: format!("#{index}"), size: 0, ignored: Some(format!("unreadable zip entry: {e}")) });
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let raw = entry.name().map(|n| n.to_string()).unwrap_or_else(|_| format!("#{index}"));
            let size = entry.size();
            let (name, mut ignored) = match safe_name(&raw) {
                Ok(name) => (name, None),
                Err(why) => (raw.replace('\\', "/"), Some(why)),
            };
            if ignored.is_none() && entry.encrypted() {
                ignored = Some("encrypted zip entry: cannot be read".into());
            }
            if ignored.is_none() && size > MAX_ENTRY {
                ignored = Some(format!("zip entry of {size} bytes: larger than the {MAX_ENTRY} bytes read at once"));
            }
            let packed = entry.compressed_size().max(1);
            if ignored.is_none() && size > RATIO_CHECKED_ABOVE && size / packed > MAX_RATIO {
                ignored = Some(format!(
                    "zip entry of {size} bytes packed in {packed}: a ratio above {MAX_RATIO} is a zip bomb's, not a scan's"
                ));
            }
            out.push(ZipEntry { index, name, size, ignored });
        }
        out
    }

    /// The uncompressed bytes of one entry (checked against its CRC by the zip reader).
    pub fn read(&mut self, index: usize) -> Result<Vec<u8>, String> {
        let entry = self.archive.by_index(index).map_err(|e| format!("zip entry {index}: {e}"))?;
        let declared = entry.size();
        if declared > MAX_ENTRY {
            return Err(format!("zip entry of {declared} bytes: too large"));
        }
        // Grown as the bytes come, not reserved from the declared size, which may lie.
        let mut bytes = Vec::new();
        // Never more than declared (+1 to notice a lie): a crafted entry cannot balloon.
        entry.take(declared + 1).read_to_end(&mut bytes).map_err(|e| format!("zip entry {index}: {e}"))?;
        if bytes.len() as u64 != declared {
            return Err(format!("zip entry {index}: {} bytes instead of the {declared} declared", bytes.len()));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    #[test]
    fn names_are_normalised_and_climbing_paths_refused() {
        assert_eq!(safe_name("a\\b/./c.dcm").unwrap(), "a/b/c.dcm");
        assert_eq!(safe_name("./study//IMG1").unwrap(), "study/IMG1");
        assert!(safe_name("../etc/passwd").is_err());
        assert!(safe_name("a/../../b").is_err());
        assert!(safe_name("/abs/x").is_err());
        assert!(safe_name("C:\\x.dcm").is_err());
        assert!(safe_name("./").is_err());
    }

    #[test]
    fn lists_and_reads_entries_of_nested_folders_one_at_a_time() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("PACS/", SimpleFileOptions::default()).unwrap();
        w.start_file("PACS/S1/IM1", SimpleFileOptions::default()).unwrap();
        w.write_all(b"first").unwrap();
        w.start_file("PACS/S2/IM2", SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
        w.write_all(&b"second".repeat(100)).unwrap();
        w.start_file("../evil", SimpleFileOptions::default()).unwrap();
        w.write_all(b"x").unwrap();
        let bytes = w.finish().unwrap().into_inner();

        let mut input = ZipInput::open(Cursor::new(bytes)).unwrap();
        let entries = input.entries();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["PACS/S1/IM1", "PACS/S2/IM2", "../evil"]);
        assert!(entries[0].ignored.is_none() && entries[1].ignored.is_none());
        assert!(entries[2].ignored.as_deref().unwrap().contains("leaving"));
        assert_eq!(input.read(entries[0].index).unwrap(), b"first");
        assert_eq!(input.read(entries[1].index).unwrap(), b"second".repeat(100));
        assert!(ZipInput::open(Cursor::new(b"not a zip".to_vec())).is_err());
    }

    /// A zip bomb: 200 MiB of zeros deflated to ~200 KB, beside an ordinary entry. The bomb
    /// is refused from the central directory alone (nothing inflated), the other entry read.
    #[test]
    fn a_zip_bomb_is_refused_without_inflating_it() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(false);
        w.start_file("bomb.dcm", deflated).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            w.write_all(&zeros).unwrap();
        }
        w.start_file("IM1", SimpleFileOptions::default()).unwrap();
        w.write_all(b"fine").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());

        let mut input = ZipInput::open(Cursor::new(bytes)).unwrap();
        let entries = input.entries();
        let why = entries[0].ignored.as_deref().expect("the bomb is refused");
        assert!(why.contains("zip bomb"), "{why}");
        assert_eq!(entries[1].ignored, None);
        assert_eq!(input.read(entries[1].index).unwrap(), b"fine");
    }

    /// An entry that holds more than its headers declare is refused (read up to the declared
    /// size + 1 at most; the CRC of what was read then fails), never read in full.
    #[test]
    fn an_entry_larger_than_declared_is_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("IM1", SimpleFileOptions::default()).unwrap();
        w.write_all(b"0123456789").unwrap();
        let mut bytes = w.finish().unwrap().into_inner();
        // Make the central directory and the local header claim 4 bytes (CRC left as is:
        // the read must stop on the size before any CRC check matters).
        let patch = |bytes: &mut Vec<u8>, signature: &[u8], offset: usize| {
            let at = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[at + offset..at + offset + 4].copy_from_slice(&4u32.to_le_bytes());
        };
        patch(&mut bytes, b"PK\x01\x02", 24);
        patch(&mut bytes, b"PK\x03\x04", 22);
        let mut input = ZipInput::open(Cursor::new(bytes)).unwrap();
        let entries = input.entries();
        assert_eq!(entries[0].size, 4);
        assert!(input.read(entries[0].index).is_err());
    }
}
