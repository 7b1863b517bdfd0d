//! The streaming zip writer (`capture::archive`, zip crate 9, `ZipWriter::new_stream`) beyond
//! the limits of plain zip: more than 65,535 entries, and (ignored by default, ~4.3 GB of
//! output) an archive larger than 4 GiB. The chunks the writer hands back are written to a
//! file as the page's worker writes them to disk, then read back by the zip crate's reader
//! and, where it is installed, by Info-ZIP's `unzip -t`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use capture::archive::{Archive, Packing};
use capture::dates::Date;

/// A fresh folder under the system's temporary folder, removed on drop.
struct TempDir(std::path::PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("capture-zip64-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn date() -> Date {
    Date::parse_da("20261125").unwrap()
}

/// `unzip -t` on the file when unzip is installed; returns its verdict line.
fn unzip_test(path: &Path) -> Option<String> {
    let out = Command::new("unzip").arg("-tqq").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "unzip -t rejects {}: {text}", path.display());
    Some(text)
}

#[test]
fn more_than_65535_entries_make_a_valid_zip64_archive() {
    const ENTRIES: usize = 70_000;
    let dir = TempDir::new("many");
    let path = dir.path().join("many.zip");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut archive = Archive::new(date());
    for i in 0..ENTRIES {
        let name = format!("DICOM/20261125/V{:04}/{:04}.dcm", i / 1000, i % 1000 + 1);
        file.write_all(&archive.add(&name, format!("entry {i}").as_bytes(), Packing::Stored).unwrap()).unwrap();
    }
    file.write_all(&archive.finish().unwrap()).unwrap();
    file.flush().unwrap();
    drop(file);

    let bytes = std::fs::read(&path).unwrap();
    // The end of central directory says 0xFFFF entries and points to the zip64 record.
    let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").expect("end of central directory");
    assert_eq!(&bytes[eocd + 10..eocd + 12], &[0xff, 0xff], "the 16-bit entry count should be saturated");
    assert!(bytes.windows(4).any(|w| w == b"PK\x06\x06"), "no zip64 end of central directory record");

    let mut read = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the zip crate reads it");
    assert_eq!(read.len(), ENTRIES);
    for i in [0, 65_535, 65_536, ENTRIES - 1] {
        let mut text = String::new();
        read.by_index(i).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, format!("entry {i}"));
    }
    eprintln!("{ENTRIES} entries; unzip -t: {}", unzip_test(&path).map_or("not installed".into(), |v| format!("ok {v}")));
}

/// More than 4 GiB of output (45 stored entries of 100 MB): the later entries' offsets
/// need the zip64 extra fields. Run with `--ignored` (writes 4.5 GB to the temporary folder).
#[test]
#[ignore]
fn more_than_4_gib_make_a_valid_zip64_archive() {
    const ENTRIES: usize = 45;
    const SIZE: usize = 100_000_000;
    let dir = TempDir::new("large");
    let path = dir.path().join("large.zip");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut archive = Archive::new(date());
    let mut block = vec![0u8; SIZE];
    for i in 0..ENTRIES {
        block.fill(i as u8);
        file.write_all(&archive.add(&format!("DICOM/20261125/V1/{:04}.dcm", i + 1), &block, Packing::Stored).unwrap()).unwrap();
    }
    drop(block);
    file.write_all(&archive.finish().unwrap()).unwrap();
    file.flush().unwrap();
    drop(file);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 4 << 30, "only {size} bytes");
    let mut read = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).expect("the zip crate reads it");
    assert_eq!(read.len(), ENTRIES);
    let mut last = Vec::new();
    read.by_index(ENTRIES - 1).unwrap().read_to_end(&mut last).unwrap();
    assert!(last.len() == SIZE && last.iter().all(|&b| b == (ENTRIES - 1) as u8), "the last entry reads back wrong");
    let verdict = unzip_test(&path);
    eprintln!("{size} bytes, {ENTRIES} entries; unzip -t: {}", verdict.map_or("not installed".into(), |v| format!("ok {v}")));
}

/// An explicit VR little endian element (no padding added).
fn element(group: u16, number: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), number.to_le_bytes()].concat();
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// A small CT image header (no pixel data), instance `i` of one series of one patient: its
/// SOP Instance UID has a fixed width so that every instance is distinct.
fn tiny_ct(i: usize) -> Vec<u8> {
    let sop = format!("1.2.826.0.1.3680043.9.7777.4.{i:08}");
    let class = "1.2.840.10008.5.1.4.1.1.2\0";
    let mut meta = [0x02, 0x00, 0x01, 0x00, b'O', b'B', 0, 0, 2, 0, 0, 0, 0, 1].to_vec();
    meta.extend(element(0x0002, 0x0002, b"UI", class.as_bytes()));
    meta.extend(element(0x0002, 0x0003, b"UI", sop.as_bytes()));
    meta.extend(element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend(element(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    out.extend(meta);
    out.extend(element(0x0008, 0x0008, b"CS", b"ORIGINAL\\PRIMARY\\AXIAL "));
    out.extend(element(0x0008, 0x0016, b"UI", class.as_bytes()));
    out.extend(element(0x0008, 0x0018, b"UI", sop.as_bytes()));
    out.extend(element(0x0008, 0x0020, b"DA", b"20200102"));
    out.extend(element(0x0008, 0x0060, b"CS", b"CT"));
    out.extend(element(0x0010, 0x0010, b"PN", b"Zip64^Patient "));
    out.extend(element(0x0010, 0x0020, b"LO", b"Z64-0001"));
    out.extend(element(0x0020, 0x000D, b"UI", b"1.2.826.0.1.3680043.9.7777.1\0"));
    out.extend(element(0x0020, 0x000E, b"UI", b"1.2.826.0.1.3680043.9.7777.2\0"));
    out.extend(element(0x0020, 0x0013, b"IS", format!("{:06}", i % 100_000).as_bytes()));
    out
}

/// A whole export (scan, plan, export, finish) of more than 65,535 inputs, as the CLI and the
/// page drive the core: the zip is zip64, every instance is in it, `unzip -t` accepts it.
#[test]
fn an_export_of_more_than_65535_files_is_a_valid_zip64_archive() {
    const FILES: usize = 66_000;
    let settings = capture::Settings { preset: capture::Preset::Basic, ..capture::Settings::default() };
    let mut job = capture::Job::new(settings, b"zip64 export", "20261125").unwrap();
    for i in 0..FILES {
        job.scan(&format!("IM{i:06}"), &tiny_ct(i));
    }
    let plan = job.plan().unwrap();
    assert_eq!(plan.len(), FILES);
    let dir = TempDir::new("export");
    let path = dir.path().join("export.zip");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for step in plan {
        file.write_all(&job.export(step.input, &tiny_ct(step.input)).unwrap()).unwrap();
    }
    file.write_all(&job.finish().unwrap()).unwrap();
    file.flush().unwrap();
    drop(file);
    let counts = &job.report().counts;
    assert_eq!((counts.exported, counts.skipped, counts.quarantined), (FILES, 0, 0), "{counts:?}");

    let read = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let dicom = read.file_names().filter(|n| n.as_ref().is_ok_and(|n| n.ends_with(".dcm"))).count();
    assert_eq!(dicom, FILES);
    if let Some(verdict) = unzip_test(&path) {
        eprintln!("unzip -t: {verdict}");
    }
    eprintln!("{FILES} files exported into one zip64 archive of {} entries", read.len());
}
