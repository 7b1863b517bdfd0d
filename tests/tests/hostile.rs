//! Hostile and broken input (issue 9): truncated files, impossible lengths, deep nesting,
//! missing delimiters, wrong and unknown VRs, odd lengths, huge tables. Each input ends
//! exported (correctly de-identified) or skipped with a reason, within bounded time and
//! memory, and the export goes on; a file that cannot be fully de-identified is never
//! written. And the zip is byte-identical whatever the order of the inputs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capture::report::Outcome;
use capture::{Job, Preset, Report, Settings};
use capture_tests::{cli, fixtures, scan};

const DATE: &str = "20261124";

/// What identifies the patient of the crafted files; none of it may reach a zip.
const NAME: &str = "DOE^JOHNATHAN";
const PID: &str = "PID-0471147";
const STUDY_UID: &str = "1.2.826.0.1.3680043.9.7777.1";
const SERIES_UID: &str = "1.2.826.0.1.3680043.9.7777.2";
const SOP_UID: &str = "1.2.826.0.1.3680043.9.7777.3";
const SECRETS: [&str; 5] = [NAME, PID, STUDY_UID, SERIES_UID, SOP_UID];

// ---------------------------------------------------------------- crafting files

/// An explicit VR little endian element, header chosen by the VR (no padding added).
fn el(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(vr);
    if long_vr(vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
    out
}

fn long_vr(vr: &[u8; 2]) -> bool {
    matches!(vr, b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV")
}

/// A text value padded to even length as DICOM wants it (UIDs with NUL, text with space).
fn padded(value: &str, vr: &[u8; 2]) -> Vec<u8> {
    let mut v = value.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == b"UI" { 0 } else { b' ' });
    }
    v
}

fn text_el(group: u16, element: u16, vr: &[u8; 2], value: &str) -> Vec<u8> {
    el(group, element, vr, &padded(value, vr))
}

/// Header of an SQ or item with the given length (`u32::MAX` = undefined).
fn sequence(group: u16, element: u16, length: u32) -> Vec<u8> {
    let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
    out.extend_from_slice(b"SQ\0\0");
    out.extend_from_slice(&length.to_le_bytes());
    out
}

fn item(length: u32) -> Vec<u8> {
    [&[0xFE, 0xFF, 0x00, 0xE0][..], &length.to_le_bytes()].concat()
}

const ITEM_END: [u8; 8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
const SEQUENCE_END: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];

/// Preamble, `DICM`, a meta group (explicit VR LE, group length included) and `body`.
fn dicom_file(transfer_syntax: &str, body: &[u8]) -> Vec<u8> {
    let mut meta = el(0x0002, 0x0001, b"OB", &[0, 1]);
    meta.extend(text_el(0x0002, 0x0002, b"UI", "1.2.840.10008.5.1.4.1.1.2"));
    meta.extend(text_el(0x0002, 0x0003, b"UI", SOP_UID));
    meta.extend(text_el(0x0002, 0x0010, b"UI", transfer_syntax));
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend(el(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    out.extend(meta);
    out.extend_from_slice(body);
    out
}

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// A small, valid CT header (explicit VR LE) naming the patient; `extra` is appended
/// after it (the parser keeps elements by tag, so order does not matter).
fn ct(extra: &[u8]) -> Vec<u8> {
    let mut body = text_el(0x0008, 0x0008, b"CS", "ORIGINAL\\PRIMARY\\AXIAL");
    body.extend(text_el(0x0008, 0x0016, b"UI", "1.2.840.10008.5.1.4.1.1.2"));
    body.extend(text_el(0x0008, 0x0018, b"UI", SOP_UID));
    body.extend(text_el(0x0008, 0x0020, b"DA", "20200102"));
    body.extend(text_el(0x0010, 0x0010, b"PN", NAME));
    body.extend(text_el(0x0010, 0x0020, b"LO", PID));
    body.extend(text_el(0x0020, 0x000D, b"UI", STUDY_UID));
    body.extend(text_el(0x0020, 0x000E, b"UI", SERIES_UID));
    body.extend_from_slice(extra);
    dicom_file(EXPLICIT_LE, &body)
}

// ---------------------------------------------------------------- running the core

/// The Basic Profile, nothing quarantined: every readable file goes through the rules.
fn everything() -> Settings {
    Settings { preset: Preset::Basic, include_quarantined: true, ..Settings::default() }
}

/// One whole export through the core (scan, plan, export, finish), as the page runs it.
struct Run {
    zip: Vec<u8>,
    report: Report,
    elapsed: Duration,
}

fn run(inputs: &[(String, Vec<u8>)]) -> Run {
    run_with(everything(), inputs)
}

fn run_with(settings: Settings, inputs: &[(String, Vec<u8>)]) -> Run {
    let start = Instant::now();
    let mut job = Job::new(settings, cli::PASSPHRASE.as_bytes(), DATE).unwrap();
    for (name, bytes) in inputs {
        job.scan(name, bytes);
    }
    let mut zip = Vec::new();
    for step in job.plan().unwrap() {
        zip.extend(job.export(step.input, &inputs[step.input].1).unwrap());
    }
    zip.extend(job.finish().unwrap());
    Run { zip, report: job.report(), elapsed: start.elapsed() }
}

/// Outcome of the input called `name`: ("exported", path) or ("skipped"/"quarantined", reason).
fn outcome<'a>(report: &'a Report, name: &str) -> (&'static str, &'a str) {
    let file = report.files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name} is not in the report"));
    match &file.outcome {
        Outcome::Exported { path } => ("exported", path),
        Outcome::Skipped { reason } => ("skipped", reason),
        Outcome::Quarantined { reason } => ("quarantined", reason),
        Outcome::Pending => ("pending", ""),
    }
}

/// Every input is in the report once, none pending, every refusal has a reason; the zip is
/// readable, holds one entry per export and none of `secrets`.
fn assert_accounted(run: &Run, inputs: &[(String, Vec<u8>)], secrets: &[&str]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(run.report.files.len(), inputs.len(), "the report must list every input once");
    let c = &run.report.counts;
    assert_eq!(c.exported + c.skipped + c.quarantined, inputs.len());
    for (name, _) in inputs {
        let (kind, detail) = outcome(&run.report, name);
        assert!(kind != "pending", "{name} is still pending after finish");
        assert!(!detail.is_empty(), "{name}: {kind} without a reason");
    }
    let entries = scan::entries(&run.zip);
    assert_eq!(entries.len(), c.exported, "one zip entry per exported input");
    for secret in secrets {
        let places = scan::find_in_zip(&run.zip, &entries, secret.as_bytes());
        assert!(places.is_empty(), "{secret:?} leaked into {places:?}");
    }
    for (path, bytes) in &entries {
        if path.ends_with(".dcm") {
            dicom_object::OpenFileOptions::new()
                .from_reader(&bytes[128..])
                .unwrap_or_else(|e| panic!("{path}: the exported file does not parse: {e}"));
        }
    }
    entries
}

fn skipped_because(run: &Run, name: &str, words: &str) {
    let (kind, reason) = outcome(&run.report, name);
    assert_eq!(kind, "skipped", "{name} must be skipped ({reason})");
    assert!(reason.contains(words), "{name}: reason {reason:?} does not say {words:?}");
}

// ---------------------------------------------------------------- walking a real file

/// Where an element starts in a DICOM file, and how deep in sequences.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    /// Offset of the element header.
    start: usize,
    /// Offset of its value (after the header).
    value: usize,
    /// Offset after its value (`value` for sequences, items and undefined lengths: their
    /// contents are walked as elements of their own).
    end: usize,
    depth: usize,
}

/// Every element header of a file (preamble, explicit or implicit VR little endian), walking
/// into sequences and items: the places where a transfer can stop "cleanly".
fn boundaries(bytes: &[u8]) -> Vec<Boundary> {
    // A raw data set (no preamble nor meta group) is implicit VR from its first byte.
    let raw = bytes.get(128..132) != Some(&b"DICM"[..]);
    let mut pos = if raw { 0 } else { 132 };
    let mut out = Vec::new();
    let mut explicit = !raw;
    let mut open: Vec<Option<usize>> = Vec::new();
    // Inside encapsulated pixel data, items are fragments of the image, not data sets.
    let mut fragments = false;
    while pos + 8 <= bytes.len() {
        while open.last().is_some_and(|o| o.is_some_and(|end| pos >= end)) {
            open.pop();
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let group = u16_at(pos);
        if group != 0x0002 && out.last().is_some_and(|b: &Boundary| b.start < pos && u16_at(b.start) == 0x0002) {
            // Leaving the meta group: the transfer syntax decides the rest.
            let ts = meta_text(bytes, 0x0010);
            explicit = ts.as_deref() != Some(IMPLICIT_LE);
        }
        let vr = [bytes[pos + 4], bytes[pos + 5]];
        let (length, header, sq) = if group == 0xFFFE {
            (u32_at(pos + 4), 8, false)
        } else if !(explicit || group == 0x0002) {
            (u32_at(pos + 4), 8, dictionary_sequence(group, u16_at(pos + 2)))
        } else if long_vr(&vr) {
            (u32_at(pos + 8), 12, &vr == b"SQ")
        } else {
            (u16_at(pos + 6) as u32, 8, false)
        };
        let value = pos + header;
        let depth = open.len();
        let element = u16_at(pos + 2);
        let is_item = group == 0xFFFE && element == 0xE000;
        let delimiter = group == 0xFFFE && element != 0xE000;
        if delimiter {
            if open.last() == Some(&None) {
                open.pop();
            }
            fragments &= element != 0xE0DD;
            out.push(Boundary { start: pos, value, end: value, depth });
            pos = value;
        } else if length == u32::MAX || sq || (is_item && !fragments) {
            fragments |= (group, element) == (0x7FE0, 0x0010);
            open.push((length != u32::MAX).then(|| value + length as usize));
            out.push(Boundary { start: pos, value, end: value, depth });
            pos = value;
        } else {
            let end = value + length as usize;
            out.push(Boundary { start: pos, value, end, depth });
            pos = end;
        }
    }
    out
}

/// In implicit VR only the dictionary tells a sequence.
fn dictionary_sequence(group: u16, element: u16) -> bool {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let entry = dicom_dictionary_std::StandardDataDictionary.by_tag(dicom_core::Tag(group, element));
    matches!(entry.map(|e| e.vr()), Some(VirtualVr::Exact(dicom_core::VR::SQ)))
}

/// A text element of the meta group, found by a plain scan.
fn meta_text(bytes: &[u8], element: u16) -> Option<String> {
    let mut pos = 132;
    while pos + 8 <= bytes.len() && bytes[pos..pos + 2] == [2, 0] {
        let len = u16::from_le_bytes([bytes[pos + 6], bytes[pos + 7]]) as usize;
        let (len, header) = if long_vr(&[bytes[pos + 4], bytes[pos + 5]]) {
            (u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize, 12)
        } else {
            (len, 8)
        };
        if u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]) == element {
            let v = bytes.get(pos + header..pos + header + len)?;
            return Some(String::from_utf8_lossy(v).trim_end_matches(['\0', ' ']).to_string());
        }
        pos += header + len;
    }
    None
}

fn pydicom(name: &str) -> (PathBuf, Vec<u8>) {
    let path = fixtures::pydicom_file(name).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// The identifying values of a pydicom file that are long enough not to occur by chance.
fn identifiers(path: &Path) -> Vec<String> {
    scan::identifying_values(path).into_iter().map(|(_, v)| v).filter(|v| v.len() >= 6).collect()
}


/// The per-file path of the export (scan's header parse, full parse, de-identification,
/// encoding) without a job around it: what `Job::export` does to one planned input.
fn pipeline(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use capture::dicom::encode;
    use capture::profile::{deidentify, Policy, Subject};
    use std::sync::OnceLock;
    static KEYRING: OnceLock<capture::pseudonym::Keyring> = OnceLock::new();
    let keyring = KEYRING.get_or_init(|| capture::pseudonym::Keyring::from_secret(cli::PASSPHRASE.as_bytes()));
    let policy = Policy::new(Preset::Basic, &[], None);
    let subject = Subject { keyring, policy: &policy, patient: "P000000000000000", visit: "V000000000000000", shift_days: 0 };
    capture::dicom::parse(bytes, true).map_err(|e| e.to_string())?;
    let object = capture::dicom::parse(bytes, false).map_err(|e| e.to_string())?;
    encode(&deidentify(object, &subject).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// The pipeline's error for a file it must refuse, within seconds (not after reserving and
/// zeroing what a hostile length claims).
fn refused_quickly(bytes: &[u8]) -> String {
    let t = Instant::now();
    let err = pipeline(bytes).expect_err("refused");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    err
}

/// Cuts of a real file: before each header, inside each header, in the middle of each value.
/// Each is refused, or (cut between two top-level elements: a complete, shorter data set)
/// exported without any original identifier; all in one export are accounted for.
fn truncations(name: &str) -> (usize, usize, usize) {
    let (path, bytes) = pydicom(name);
    let all = boundaries(&bytes);
    assert!(all.len() > 30, "only {} elements found in {name}", all.len());
    assert!(all.last().is_some_and(|b| b.end == bytes.len()), "{name}: the walk did not reach the end of the file");
    let ids = identifiers(&path);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(ids.len() >= 3, "{name}: {ids:?}");

    let mut cuts: Vec<(String, usize, bool)> = Vec::new();
    for b in &all {
        cuts.push((format!("{name}-cut-{:06}-before", b.start), b.start, b.depth == 0));
        cuts.push((format!("{name}-cut-{:06}-header", b.start), b.start + 5, false));
        if b.end > b.value + 1 {
            cuts.push((format!("{name}-cut-{:06}-value", b.start), (b.value + b.end) / 2, false));
        }
    }
    let start = Instant::now();
    let (mut exported, mut refused) = (0, 0);
    for (cut_name, cut, clean) in &cuts {
        let t = Instant::now();
        let result = pipeline(&bytes[..*cut]);
        assert!(t.elapsed() < Duration::from_secs(5), "{cut_name}: {:?}", t.elapsed());
        match result {
            Ok(out) => {
                exported += 1;
                assert!(clean, "{cut_name}: a file cut inside an element or a sequence was exported");
                for id in &ids {
                    assert!(!scan::contains(&out, id.as_bytes()), "{cut_name}: {id} leaked");
                }
            }
            Err(why) => {
                refused += 1;
                assert!(!why.is_empty());
            }
        }
    }
    let depth = all.iter().map(|b| b.depth).max().unwrap_or(0);
    eprintln!("{name}: {} elements (depth {depth}), {} cuts: {exported} exported, {refused} refused, {:?}", all.len(), cuts.len(), start.elapsed());

    // All of them in one export, with the intact file: every input accounted for.
    let mut inputs: Vec<(String, Vec<u8>)> = cuts.iter().map(|(n, c, _)| (n.clone(), bytes[..*c].to_vec())).collect();
    inputs.push((format!("{name}-0-intact"), bytes.clone()));
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &ids);
    assert_eq!(outcome(&run.report, &format!("{name}-0-intact")).0, "exported");
    assert!(run.elapsed < Duration::from_secs(60), "{:?}", run.elapsed);
    (cuts.len(), exported, refused)
}

#[test]
fn truncated_at_every_tag_boundary() {
    truncations("CT_small.dcm");
}

/// A raw implicit VR data set (pydicom's rtstruct.dcm: no preamble nor meta group, nested
/// sequences of undefined length) cut anywhere: refused, or exported whole and clean.
#[test]
fn raw_data_set_truncated_at_every_tag_boundary() {
    truncations("rtstruct.dcm");
}

#[test]
fn truncated_inside_sequences() {
    // Explicit VR with nested sequences of defined and undefined length, and implicit VR.
    for name in ["rtplan.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm"] {
        truncations(name);
    }
}

/// Each 4-byte length of a real file, one at a time, set to 0xFFFFFFF0: refused before
/// anything is allocated, quickly, and the other inputs of the export go on.
#[test]
fn declared_lengths_larger_than_the_file() {
    let mut inputs = Vec::new();
    for name in ["CT_small.dcm", "MR_small_implicit.dcm"] {
        let (_, bytes) = pydicom(name);
        let implicit = meta_text(&bytes, 0x0010).as_deref() == Some(IMPLICIT_LE);
        for b in boundaries(&bytes) {
            let meta = bytes[b.start..b.start + 2] == [2, 0];
            let at = match b.value - b.start {
                12 => b.start + 8,
                8 if (implicit && !meta) || bytes[b.start..b.start + 2] == [0xFE, 0xFF] => b.start + 4,
                _ => continue,
            };
            let mut patched = bytes.clone();
            patched[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            inputs.push((format!("{name}-huge-{:06}", b.start), patched));
        }
    }
    assert!(inputs.len() > 80, "{}", inputs.len());
    for (name, bytes) in &inputs {
        let t = Instant::now();
        let err = pipeline(bytes).expect_err(name);
        assert!(t.elapsed() < Duration::from_secs(5), "{name}: {:?}", t.elapsed());
        assert!(err.contains("4294967280") || err.contains("truncated"), "{name}: {err}");
    }
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &[]);
    assert_eq!(run.report.counts.skipped, inputs.len());
    eprintln!("{} files with a 0xFFFFFFF0 length: all refused, {:?}", inputs.len(), run.elapsed);
}

/// 10,000 levels of sequences: refused by the flat pre-check, no stack overflow, whatever the
/// encoding of the lengths, and inside a sequence written as UN.
fn deep(levels: usize, defined: bool) -> Vec<u8> {
    if !defined {
        let mut body = Vec::new();
        for _ in 0..levels {
            body.extend(sequence(0x0008, 0x1115, u32::MAX));
            body.extend(item(u32::MAX));
        }
        for _ in 0..levels {
            body.extend(ITEM_END);
            body.extend(SEQUENCE_END);
        }
        return body;
    }
    let mut inner = text_el(0x0010, 0x0010, b"PN", NAME);
    for _ in 0..levels {
        let mut it = item(inner.len() as u32);
        it.extend(inner);
        let mut sq = sequence(0x0008, 0x1115, it.len() as u32);
        sq.extend(it);
        inner = sq;
    }
    inner
}

fn implicit_file(body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (tag, value) in [
        ((0x0008u16, 0x0008u16), padded("ORIGINAL\\PRIMARY", b"CS")),
        ((0x0008, 0x0016), padded("1.2.840.10008.5.1.4.1.1.2", b"UI")),
        ((0x0008, 0x0018), padded(SOP_UID, b"UI")),
        ((0x0010, 0x0010), padded(NAME, b"PN")),
        ((0x0010, 0x0020), padded(PID, b"LO")),
    ] {
        b.extend([tag.0.to_le_bytes(), tag.1.to_le_bytes()].concat());
        b.extend((value.len() as u32).to_le_bytes());
        b.extend(value);
    }
    b.extend_from_slice(body);
    dicom_file(IMPLICIT_LE, &b)
}

/// A sequence written with VR UN (its items in implicit VR LE, PS3.5 6.2.2) around `items`.
fn un_sequence(items: &[u8]) -> Vec<u8> {
    el(0x0008, 0x1115, b"UN", items)
}

#[test]
fn deeply_nested_sequences() {
    // Implicit VR: the nested sequence as one element's bytes.
    let implicit_deep = {
        let mut body = Vec::new();
        for _ in 0..10_000 {
            body.extend([0x08, 0x00, 0x15, 0x11, 0xFF, 0xFF, 0xFF, 0xFF]);
            body.extend(item(u32::MAX));
        }
        for _ in 0..10_000 {
            body.extend(ITEM_END);
            body.extend(SEQUENCE_END);
        }
        body
    };
    // UN: one defined-length item holding 10,000 levels in implicit VR.
    let un_deep = {
        let mut inner = Vec::new();
        inner.extend(item(implicit_deep.len() as u32));
        inner.extend(&implicit_deep);
        un_sequence(&inner)
    };
    let inputs = vec![
        ("undefined.dcm".to_string(), ct(&deep(10_000, false))),
        ("defined.dcm".to_string(), ct(&deep(10_000, true))),
        ("implicit.dcm".to_string(), implicit_file(&implicit_deep)),
        ("un.dcm".to_string(), ct(&un_deep)),
        ("fine.dcm".to_string(), ct(&deep(20, true))),
    ];
    for (name, bytes) in &inputs {
        let t = Instant::now();
        let result = pipeline(bytes);
        eprintln!("{name}: {:?} in {:?}", result.as_ref().map(Vec::len), t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(5), "{name}: {:?}", t.elapsed());
        if name == "fine.dcm" || name == "un.dcm" {
            // A UN sequence that cannot be read is removed (README: fail closed).
            let out = result.unwrap();
            assert!(!scan::contains(&out, NAME.as_bytes()));
        } else {
            assert!(result.is_err(), "{name} was exported");
        }
    }
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &SECRETS);
    for name in ["undefined.dcm", "defined.dcm", "implicit.dcm"] {
        skipped_because(&run, name, "nested deeper");
    }
}

#[test]
fn undefined_lengths_without_delimiters() {
    let open_seq = [sequence(0x0008, 0x1115, u32::MAX), item(u32::MAX), text_el(0x0008, 0x1150, b"UI", "1.2.3")].concat();
    let pixels = [&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF][..], &item(0), &item(4), b"\xFF\xD8\xFF\xD9"].concat();
    let inputs = vec![
        // No delimiter at all: the file ends inside the item.
        ("no-delimiters.dcm".to_string(), ct(&open_seq)),
        // The item is closed, the sequence is not: what follows would be read into it.
        ("no-sequence-delimiter.dcm".to_string(), ct(&[&open_seq[..], &ITEM_END, &text_el(0x0020, 0x0011, b"IS", "7")].concat())),
        // The sequence is closed, the item is not.
        ("no-item-delimiter.dcm".to_string(), ct(&[&open_seq[..], &SEQUENCE_END].concat())),
        // Encapsulated pixel data that stops after a fragment.
        ("open-pixel-data.dcm".to_string(), ct(&pixels)),
        // A stray delimiter at the top level.
        ("stray-delimiter.dcm".to_string(), ct(&[&ITEM_END[..], &SEQUENCE_END].concat())),
        // Well formed, for comparison.
        ("closed.dcm".to_string(), ct(&[&open_seq[..], &ITEM_END, &SEQUENCE_END, &pixels, &SEQUENCE_END].concat())),
    ];
    for (name, bytes) in &inputs {
        let result = pipeline(bytes);
        eprintln!("{name}: {:?}", result.as_ref().map(Vec::len));
        match name.as_str() {
            "closed.dcm" | "stray-delimiter.dcm" => assert!(result.is_ok(), "{name}: {result:?}"),
            _ => assert!(result.is_err(), "{name}: a file without its delimiters was exported"),
        }
    }
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &SECRETS);
}

/// Wrong and unknown VRs, at the top level and inside a sequence: the file is refused, or
/// exported with the value removed or replaced; never with the patient's name in it.
#[test]
fn wrong_and_unknown_vrs() {
    let name_as = |vr: &[u8; 2]| el(0x0010, 0x1001, vr, &padded(NAME, b"PN")); // OtherPatientNames
    let in_item = |element: Vec<u8>| {
        let mut it = item(element.len() as u32);
        it.extend(element);
        let mut sq = sequence(0x0008, 0x1115, it.len() as u32);
        sq.extend(it);
        sq
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown-vr-top.dcm", name_as(b"ZZ")),
        ("unknown-vr-in-sequence.dcm", in_item(name_as(b"ZZ"))),
        ("nul-vr-in-sequence.dcm", in_item(name_as(b"\0\0"))),
        ("lowercase-vr.dcm", name_as(b"pn")),
        ("name-as-us.dcm", name_as(b"US")),
        ("name-as-ob.dcm", name_as(b"OB")),
        ("name-as-un.dcm", name_as(b"UN")),
        ("name-as-at.dcm", name_as(b"AT")),
        ("name-as-fd-in-sequence.dcm", in_item(name_as(b"FD"))),
        ("date-as-ob.dcm", el(0x0008, 0x0021, b"OB", b"20200102")),
        ("name-as-sq.dcm", el(0x0010, 0x1001, b"SQ", &padded(NAME, b"PN"))),
        ("private-unknown-vr.dcm", [text_el(0x0009, 0x0010, b"LO", "ACME"), el(0x0009, 0x1001, b"QQ", &padded(NAME, b"PN"))].concat()),
    ];
    let inputs: Vec<(String, Vec<u8>)> = cases.iter().map(|(n, extra)| (n.to_string(), ct(extra))).collect();
    for (name, bytes) in &inputs {
        let t = Instant::now();
        let result = pipeline(bytes);
        eprintln!("{name}: {:?} in {:?}", result.as_ref().map(Vec::len), t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(5), "{name}: {:?}", t.elapsed());
        if let Ok(out) = &result {
            for secret in SECRETS {
                assert!(!scan::contains(out, secret.as_bytes()), "{name}: {secret} leaked");
            }
        }
        if name.contains("unknown-vr") || name.contains("nul-vr") {
            assert!(result.is_err(), "{name}: a file with an unknown VR was exported");
        }
    }
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &SECRETS);
}

/// Odd value lengths (DICOM wants them even): read, re-encoded padded, nothing leaks.
#[test]
fn odd_lengths() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("odd-name.dcm", el(0x0010, 0x1001, b"PN", NAME.as_bytes())),
        ("odd-ob.dcm", el(0x0009, 0x0010, b"LO", b"ACM")),
        ("odd-text.dcm", el(0x0008, 0x103E, b"LO", b"T1 AXIAL")),
        ("odd-uid.dcm", el(0x0020, 0x0052, b"UI", b"1.2.826.0.1.3680043.9.7777.9")),
        ("odd-us.dcm", el(0x0028, 0x0010, b"US", &[1, 2, 3])),
        ("odd-in-item.dcm", {
            let e = el(0x0010, 0x1001, b"PN", NAME.as_bytes());
            let mut it = item(e.len() as u32);
            it.extend(e);
            let mut sq = sequence(0x0008, 0x1115, it.len() as u32);
            sq.extend(it);
            sq
        }),
        ("odd-pixels.dcm", el(0x7FE0, 0x0010, b"OB", &[1, 2, 3])),
    ];
    let inputs: Vec<(String, Vec<u8>)> = cases.iter().map(|(n, extra)| (n.to_string(), ct(extra))).collect();
    for (name, bytes) in &inputs {
        let result = pipeline(bytes);
        eprintln!("{name}: {:?}", result.as_ref().map(Vec::len));
        if let Ok(out) = &result {
            assert!(out.len() % 2 == 0, "{name}: odd output length");
            for secret in SECRETS {
                assert!(!scan::contains(out, secret.as_bytes()), "{name}: {secret} leaked");
            }
        }
    }
    let run = run(&inputs);
    assert_accounted(&run, &inputs, &SECRETS);
}

/// An unknown VR written the way PS3.5 says future VRs are (reserved bytes, 32-bit length):
/// read as UN and removed, the rest of the file exported.
#[test]
fn unknown_vr_with_a_long_header_is_removed() {
    let mut extra = [0x10u16.to_le_bytes(), 0x1001u16.to_le_bytes()].concat();
    extra.extend_from_slice(b"ZZ\0\0");
    extra.extend_from_slice(&(NAME.len() as u32 + 1).to_le_bytes());
    extra.extend(padded(NAME, b"PN"));
    let out = pipeline(&ct(&extra)).expect("exported");
    assert!(!scan::contains(&out, NAME.as_bytes()));
}

// ---------------------------------------------------------------- the CLI: memory, order

/// Runs `capture export` on `inputs`; returns the zip, the report and the peak resident
/// memory of the process in KiB, measured by `/usr/bin/time -v` when it is installed (Debian
/// package `time`), else from the child's VmHWM in /proc, read until it exits.
fn cli_export_measured(inputs: &[PathBuf], extra: &[&str]) -> (Vec<u8>, serde_json::Value, u64, Duration) {
    let work = tempfile::tempdir().unwrap();
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, cli::PASSPHRASE).unwrap();
    let (out, report) = (work.path().join("out.zip"), work.path().join("report.json"));
    let time = Path::new("/usr/bin/time");
    let mut command = if time.is_file() {
        let mut c = std::process::Command::new(time);
        c.arg("-v").arg(cli::binary());
        c
    } else {
        std::process::Command::new(cli::binary())
    };
    command
        .arg("export")
        .arg("--out")
        .arg(&out)
        .args(["--export-date", DATE, "--secret-file"])
        .arg(&secret)
        .arg("--report")
        .arg(&report)
        .args(extra)
        .args(inputs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn().expect("run capture");
    let mut hwm = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                hwm = hwm.max(kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "capture export failed ({status}):\n{stderr}");
    if let Some(kb) = stderr.lines().find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):")) {
        hwm = kb.trim().parse().unwrap();
    }
    let report = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (std::fs::read(&out).unwrap(), report, hwm, elapsed)
}

/// Every hostile DICOM case of this file, written to `dir`.
fn write_hostile_files(dir: &Path) -> Vec<PathBuf> {
    let (_, ct_small) = pydicom("CT_small.dcm");
    let mut huge = ct_small.clone();
    let pixel = boundaries(&ct_small).into_iter().find(|b| ct_small[b.start..b.start + 4] == [0xE0, 0x7F, 0x10, 0x00]).unwrap();
    huge[pixel.start + 8..pixel.start + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("deep-undefined.dcm", ct(&deep(10_000, false))),
        ("deep-defined.dcm", ct(&deep(10_000, true))),
        ("huge-length.dcm", huge),
        ("truncated.dcm", ct_small[..ct_small.len() / 2].to_vec()),
        ("unknown-vr.dcm", ct(&el(0x0010, 0x1001, b"ZZ", &padded(NAME, b"PN")))),
        ("open-sequence.dcm", ct(&[sequence(0x0008, 0x1115, u32::MAX), item(u32::MAX)].concat())),
        ("empty.dcm", Vec::new()),
        ("dicm-only.dcm", [vec![0u8; 128], b"DICM".to_vec()].concat()),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

#[test]
fn cli_accounts_for_every_hostile_input_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = write_hostile_files(dir.path());
    let good = dir.path().join("CT_small.dcm");
    std::fs::copy(fixtures::pydicom_file("CT_small.dcm").unwrap(), &good).unwrap();
    inputs.push(good);
    let (zip, report, peak_kib, elapsed) = cli_export_measured(&inputs, &["--preset", "basic", "--include-quarantined"]);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), inputs.len(), "{report:#}");
    for f in files {
        let name = f["name"].as_str().unwrap();
        let expected = if name.ends_with("CT_small.dcm") { "exported" } else { "skipped" };
        assert_eq!(f["outcome"], expected, "{f}");
    }
    assert_eq!(scan::entries(&zip).len(), 1);
    eprintln!("{} hostile inputs through the CLI: {elapsed:?}, peak RSS {} KiB", inputs.len(), peak_kib);
    assert!(peak_kib > 0 && peak_kib < 256 * 1024, "peak memory {peak_kib} KiB");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

/// A tiny linear congruential generator: shuffles that are the same on every run.
fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        items.swap(i, ((*seed >> 33) % (i as u64 + 1)) as usize);
    }
}

#[test]
fn the_zip_is_byte_identical_whatever_the_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = write_hostile_files(dir.path());
    inputs.extend(cli::stage_inputs(dir.path(), &["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "MR_small_implicit.dcm"]));
    // Two copies of one file: the one kept must not depend on the order.
    let copy = dir.path().join("CT_small copy.dcm");
    std::fs::copy(dir.path().join("CT_small.dcm"), &copy).unwrap();
    inputs.push(copy);
    // Tables that link to the images (CT_small's PatientID is 1CT1, MR_small's 4MR1).
    let visits = dir.path().join("visits.csv");
    std::fs::write(&visits, "patient_id,visit_date,weight_kg\n1CT1,2004-01-19,80\n4MR1,2004-08-26,71\nXYZ9,2005-01-01,66\n").unwrap();
    let labs = dir.path().join("labs.tsv");
    std::fs::write(&labs, "PatientID\tdate\tcreatinine\n4MR1\t2004-08-27\t0.9\n1CT1\t2004-01-20\t1.1\n").unwrap();
    inputs.extend([visits, labs]);
    let args = ["--preset", "basic", "--include-quarantined", "--format", "both"];
    let (reference, report, _, _) = cli_export_measured(&inputs, &args);
    let counts = &report["counts"];
    assert!(counts["exported"].as_u64().unwrap() >= 5, "{counts}");
    let names: Vec<String> = scan::entries(&reference).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n.starts_with("EHR/")), "no table exported: {names:?}");
    let mut seed = 0x5EED_2026u64;
    for round in 0..4 {
        shuffle(&mut inputs, &mut seed);
        let (zip, _, _, _) = cli_export_measured(&inputs, &args);
        assert!(zip == reference, "shuffle {round} gave another zip: {:?}", inputs.iter().map(|p| p.file_name().unwrap()).collect::<Vec<_>>());
    }
    eprintln!("{} inputs, 4 shuffles: byte-identical zips of {} entries", inputs.len(), names.len());
}

// ---------------------------------------------------------------- tables

/// Refused as a table (more columns than Excel allows), in bounded time and memory; a
/// table at the limit is exported (no cost quadratic in the columns).
#[test]
fn csv_with_a_million_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let header: Vec<String> = (0..1_000_000).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..1_000_000).map(|i| (i % 10).to_string()).collect();
    std::fs::write(&path, format!("{}\n{}\n", header.join(","), row.join(","))).unwrap();
    let (_, report, peak_kib, elapsed) = cli_export_measured(&[path.clone()], &[]);
    assert_eq!(report["files"].as_array().unwrap().len(), 1);
    eprintln!("a million columns: {:?} in {elapsed:?}, peak {peak_kib} KiB", report["files"][0]["outcome"]);
    assert_eq!(report["files"][0]["outcome"], "skipped");
    assert!(report["files"][0]["reason"].as_str().unwrap().contains("1000000 columns"), "{}", report["files"][0]);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert!(peak_kib < 256 * 1024, "peak memory {peak_kib} KiB");

    // At the limit, with every header name repeated (each must be numbered apart).
    let n = capture::table::read::MAX_COLUMNS;
    let header: Vec<String> = (0..n).map(|i| format!("c{}", i % 100)).collect();
    let row: Vec<String> = (0..n).map(|i| (i % 10).to_string()).collect();
    std::fs::write(&path, format!("{}\n{}\n{}\n", header.join(","), row.join(","), row.join(","))).unwrap();
    let (_, report, peak_kib, elapsed) = cli_export_measured(&[path], &[]);
    eprintln!("{n} columns: {:?} in {elapsed:?}, peak {peak_kib} KiB", report["files"][0]["outcome"]);
    assert_eq!(report["files"][0]["outcome"], "exported", "{}", report["files"][0]);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert!(peak_kib < 256 * 1024, "peak memory {peak_kib} KiB");
}

/// Refused as a table before its records are read (a line over 16 MiB), in bounded memory.
#[test]
fn csv_with_a_100_mb_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.csv");
    let mut text = b"patient_id,note\n1CT1,".to_vec();
    text.resize(text.len() + (100 << 20), b'x');
    text.extend_from_slice(b"\n4MR1,short\n");
    std::fs::write(&path, text).unwrap();
    let (_, report, peak_kib, elapsed) = cli_export_measured(&[path], &[]);
    assert_eq!(report["files"].as_array().unwrap().len(), 1);
    eprintln!("a 100 MB line: {} in {elapsed:?}, peak {peak_kib} KiB", report["files"][0]["outcome"]);
    assert_eq!(report["files"][0]["outcome"], "skipped");
    assert!(report["files"][0]["reason"].as_str().unwrap().contains("line 2 is"), "{}", report["files"][0]);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert!(peak_kib < 256 * 1024, "peak memory {peak_kib} KiB");
}

/// A deflated data set naming the patient whose Pixel Data claims 0xFFFFFFF0 bytes.
fn deflated_impossible_length() -> Vec<u8> {
    use std::io::Write;
    let mut body = text_el(0x0008, 0x0016, b"UI", "1.2.840.10008.5.1.4.1.1.2");
    body.extend(text_el(0x0010, 0x0010, b"PN", NAME));
    body.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF]);
    body.extend([0u8; 64]);
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(&body).unwrap();
    deflate.finish().unwrap()
}

/// Found by `cargo fuzz run dicom_export` (artifact oom-997136ee…: pydicom's image_dfl.dcm
/// mutated): in a deflated file the pre-check sees compressed bytes and lets every length
/// through, and dicom-rs reserves what the inflated header claims (3 GB there).
#[test]
fn deflated_file_with_an_impossible_length() {
    let bytes = dicom_file("1.2.840.10008.1.2.1.99", &deflated_impossible_length());
    let err = refused_quickly(&bytes);
    assert!(err.contains("4294967280"), "{err}");
}

/// Found by `cargo fuzz run dicom_export` (artifact oom-59395e8f…): an element of another
/// group inside the meta group's length. The parser starts the data set where the group
/// length says; the pre-check used to stop at the first non-0002 element and inflate from
/// there (garbage that happens to inflate), so the real data set went unchecked (3.5 GB).
#[test]
fn meta_group_length_decides_where_the_data_set_starts() {
    let deflated = deflated_impossible_length();
    // The meta group, with a stray (0003,0016) element counted in its length.
    let mut meta = el(0x0002, 0x0001, b"OB", &[0, 1]);
    meta.extend(text_el(0x0002, 0x0002, b"UI", "1.2.840.10008.5.1.4.1.1.2"));
    meta.extend(text_el(0x0002, 0x0003, b"UI", SOP_UID));
    meta.extend(text_el(0x0002, 0x0010, b"UI", "1.2.840.10008.1.2.1.99"));
    meta.extend(text_el(0x0003, 0x0016, b"AE", "CLUNIE1"));
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    bytes.extend(el(0x0002, 0x0000, b"UL", &(meta.len() as u32).to_le_bytes()));
    bytes.extend(meta);
    bytes.extend(deflated);
    let err = refused_quickly(&bytes);
    assert!(err.contains("4294967280"), "{err}");
}

/// Found by `cargo fuzz run dicom_export` (artifact oom-126b06d9…: an SR of pydicom's
/// mutated): an item header at the top level of the data set. The parser reads it as a plain
/// element and skips its value; the pre-check used to walk into it as an item, so the two
/// went on at different offsets and the element header the parser met next (text bytes
/// claiming 3.7 GB) was never checked.
#[test]
fn item_header_at_the_top_level_is_skipped_as_the_parser_skips_it() {
    // Where the parser goes on after the item's value: a header claiming 0xE0000000 bytes.
    let mut trap = vec![0x65, 0x66, 0x72, 0x65, b'U', b'N', 0, 0];
    trap.extend(0xE000_0000u32.to_le_bytes());
    trap.extend([0u8; 64]);
    // The item's value: an element header that, walked in line, covers the trap to the end.
    let mut inner = vec![0x09, 0x00, 0x10, 0x00, b'U', b'N', 0, 0];
    inner.extend((trap.len() as u32).to_le_bytes());
    let mut extra = item(inner.len() as u32);
    extra.extend(inner);
    extra.extend(trap);
    let bytes = ct(&extra);
    let err = refused_quickly(&bytes);
    // Refused by the pre-check (which names what remains), before the parser reserves anything.
    assert!(err.contains(&format!("claims {} bytes, only 64 remain", 0xE000_0000u32)), "{err}");
}

/// What the scan records of a file: its summary, or why it is refused.
fn verdict(parsed: Result<capture::dicom::Object, capture::FileError>) -> Result<capture::dicom::Summary, String> {
    parsed.map(|o| capture::dicom::Summary::of(&o)).map_err(|e| e.to_string())
}

/// The scan of the page reads a file's first bytes only (`Job::scan_prefix`): from any prefix,
/// `parse_header` must either ask for more bytes than it got or say exactly what the header-only
/// parse of the whole file says. Every pydicom file (compressed, deflated, big endian, without
/// pixel data, truncated) and every cut of CT_small.dcm, at prefixes cut before, inside and
/// after each element and at powers of two.
#[test]
fn header_from_a_prefix_is_the_header_of_the_whole_file() {
    use capture::dicom::{parse, parse_header, Header};
    let dir = fixtures::pydicom_test_files().unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let (_, ct) = pydicom("CT_small.dcm");
    for b in boundaries(&ct) {
        for cut in [b.start, b.start + 5, (b.value + b.end) / 2] {
            files.push((format!("CT_small.dcm cut at {cut}"), ct[..cut.min(ct.len())].to_vec()));
        }
    }
    let (mut decided, mut short) = (0, 0);
    for (name, bytes) in &files {
        let whole = verdict(parse(bytes, true));
        let mut lengths: Vec<usize> = (0..=20).map(|k| 1usize << k).chain([131, 132, 133, 200]).collect();
        if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
            for b in boundaries(bytes) {
                lengths.extend([b.start, b.start + 1, b.start + 8, b.value, b.end, b.end + 7]);
            }
        }
        lengths.retain(|&n| n < bytes.len());
        lengths.push(bytes.len());
        for n in lengths {
            match parse_header(&bytes[..n], bytes.len() as u64) {
                Ok(Header::NeedMore(more)) => {
                    short += 1;
                    assert!(more as usize > n && more as usize <= bytes.len(), "{name}: {n} bytes, asks for {more}");
                }
                parsed => {
                    decided += 1;
                    let from_prefix = verdict(parsed.map(|h| match h {
                        Header::Parsed(o, _) => o,
                        Header::NeedMore(_) => unreachable!(),
                    }));
                    assert_eq!(from_prefix, whole, "{name}: from its first {n} of {} bytes", bytes.len());
                }
            }
        }
    }
    eprintln!("{} files: {decided} verdicts from a prefix or the whole file, {short} asked for more", files.len());
    // CT_small's header is 6.3 KB of its 39 KB, and 138 bytes of elements follow its Pixel
    // Data: from 8 KiB it asks for the whole file (the check reads those headers). Cut after
    // its Pixel Data (as most images end), from 4 KiB it asks for the bytes up to the next
    // header it needs (a long value spans the cut), from 8 KiB it is read.
    let (_, ct) = pydicom("CT_small.dcm");
    assert!(matches!(parse_header(&ct[..8192], ct.len() as u64), Ok(Header::NeedMore(n)) if n == ct.len() as u64));
    let pixels = boundaries(&ct).into_iter().find(|b| ct[b.start..b.start + 4] == [0xE0, 0x7F, 0x10, 0x00]).unwrap();
    let ct = &ct[..pixels.end];
    assert!(matches!(parse_header(&ct[..4096], ct.len() as u64), Ok(Header::NeedMore(n)) if n < 8192));
    let Ok(Header::Parsed(object, _)) = parse_header(&ct[..8192], ct.len() as u64) else { panic!("not read from 8 KiB") };
    assert_eq!(Ok(capture::dicom::Summary::of(&object)), verdict(parse(ct, true)));
}

/// Found by `cargo fuzz run dicom_export` (artifact timeout-bcf04166…): an SL of 2 bytes. The
/// parser reads binary numbers whole (none here) and the next header right after them, 2 bytes
/// early: there the next element's bytes read as a header claiming 1,196,556,292 bytes. The
/// pre-check skipped the declared 2 bytes and never saw that header.
#[test]
fn a_binary_value_too_short_for_one_number_is_walked_as_the_parser_reads_it() {
    let mut extra = el(0x0028, 0x0002, b"SL", &[3, 0]);
    extra.extend(text_el(0x0028, 0x0004, b"CS", "RGB"));
    extra.extend([0u8; 64]);
    let bytes = ct(&extra);
    let err = refused_quickly(&bytes);
    assert!(err.contains("claims 1196556292 bytes, only"), "{err}");
}

/// Found by `cargo fuzz run dicom_export` (artifact crash-588c6782…): the written file's meta
/// group took a UID from the data set that no reader accepts, and the output did not parse.
/// Every written file is read back first; one that does not is not exported (fail safe).
#[test]
fn an_output_that_does_not_read_back_is_not_exported() {
    let bytes = ct(&text_el(0x0008, 0x0016, b"UI", "1.2.840.10008.5.1.4.1.1.2\u{7}x"));
    let err = pipeline(&bytes).expect_err("not exported");
    assert!(err.contains("does not read back"), "{err}");
}
