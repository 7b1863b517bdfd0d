//! Output DICOM validates: over every pydicom test file that `capture export` exports,
//! Debian's `dciodvfy` (package dicom3tools) reports no error on the output that it did not
//! already report on the input, and `dcmdump` (dcmtk) and pydicom read every output file.
//!
//! The tools are required: a missing one fails the test with what to install, it never skips.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use capture::pseudonym::Keyring;
use capture_tests::{cli, fixtures, scan};
use dicom_dictionary_std::tags;

const DATE: &str = "20261124";

/// Runs a tool; a missing tool is a test failure that says which package provides it.
fn run(tool: &str, package: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e}): install the Debian package {package} (apt-get install {package}); this test needs it")
    })
}

/// dciodvfy's error lines with what is specific to one file taken out (UIDs, numbers in
/// values), so that the errors of an input and its output compare; `None` when dciodvfy
/// crashed on the file (it aborts on some of pydicom's deliberately broken files, e.g.
/// badVR.dcm) and so judged nothing.
fn dciodvfy_errors(path: &Path) -> Option<BTreeSet<String>> {
    let out = run("dciodvfy", "dicom3tools", &[path.as_os_str()]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.code().is_none() || text.contains("Assertion") {
        return None;
    }
    Some(text.lines().filter(|l| l.starts_with("Error")).map(normalise).collect())
}

/// Replaces UIDs (`1.2.3.4`, `2.25.123...`) and the values inside `<...>` that hold digits
/// with placeholders; attribute and module names (`<PatientID>`) stay.
fn normalise(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else { break };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 1..start + len];
        if inner.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str("<value>");
        } else {
            out.push_str(&rest[start..=start + len]);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    // Bare UIDs outside angle brackets (invalid ones like `0` too: the input's `0` becomes a
    // 2.25 UID in the output, and the error about the reference stays the same).
    let words: Vec<&str> = out.split(' ').collect();
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let numeric = !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            let after_uid = i > 0 && words[i - 1].ends_with("UID");
            if numeric && (w.matches('.').count() >= 2 || after_uid) { "<uid>" } else { w }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads every file with pydicom, every element's value at every depth; returns the failures.
fn pydicom_failures(files: &[PathBuf]) -> Vec<String> {
    const SCRIPT: &str = r#"
import sys, pydicom
bad = 0
for path in sys.argv[1:]:
    try:
        ds = pydicom.dcmread(path)
        for elem in ds.iterall():
            elem.value
        ds.file_meta
        if "PixelData" in ds:
            ds.PixelData
    except Exception as e:
        bad += 1
        print(f"FAIL {path}: {type(e).__name__}: {e}")
print(f"read {len(sys.argv) - 1 - bad} of {len(sys.argv) - 1}")
"#;
    let out = Command::new("python3")
        .env("PYTHONPATH", fixtures::pydicom_path())
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install python3 (pydicom comes from the fetched wheel)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("read "), "pydicom did not run:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter(|l| l.starts_with("FAIL")).map(String::from).collect()
}

/// Every file under pydicom's test folder that dicom-object opens, by the pseudonymous SOP
/// Instance UID its output gets (from the data set's UID, or the meta group's). Of several
/// copies of one instance, the export keeps the one with the smallest name.
fn inputs_by_output_uid() -> HashMap<String, PathBuf> {
    let keyring = Keyring::from_secret(cli::PASSPHRASE.as_bytes());
    let mut out = HashMap::new();
    let mut stack = vec![fixtures::pydicom_test_files().unwrap_or_else(|e| panic!("{e}"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // (A raw data set, without meta group, is read as the export reads it.)
            let read = || capture::dicom::parse(&std::fs::read(&path).ok()?, false).ok();
            let Some(obj) = dicom_object::open_file(&path).ok().or_else(read) else { continue };
            let uid = scan::element_text(&obj, tags::SOP_INSTANCE_UID)
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| obj.meta().media_storage_sop_instance_uid().trim_end_matches(['\0', ' ']).to_string());
            let kept = out.entry(keyring.uid(&uid)).or_insert_with(|| path.clone());
            if path.display().to_string() < kept.display().to_string() {
                *kept = path;
            }
        }
    }
    out
}

#[test]
fn exported_pydicom_files_validate_and_read() {
    let inputs = inputs_by_output_uid();
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (label, args) in [("basic --include-quarantined", &["--preset", "basic", "--include-quarantined"][..]), ("mip", &[][..])] {
        let export = cli::export(&[fixtures::pydicom_test_files().unwrap()], DATE, args);
        let entries = scan::check_dicom_layout(&export.zip, DATE);
        let dir = work.path().join(label.split(' ').next().unwrap());
        let mut outputs = Vec::new();
        let (mut errors_before, mut errors_after, mut new_errors) = (0, 0, 0);
        let mut new_by_message: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut jobs = Vec::new();
        for (name, bytes) in &entries {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            outputs.push(path.clone());
            let obj = dicom_object::OpenFileOptions::new().from_reader(&bytes[128..]).expect("output parses");
            let uid = obj.meta().media_storage_sop_instance_uid().trim_end_matches(['\0', ' ']).to_string();
            match inputs.get(&uid) {
                Some(input) => jobs.push((name.clone(), path, input.clone())),
                None => failures.push(format!("{label}: {name}: no input maps to SOP Instance UID {uid}")),
            }
        }
        // dciodvfy on input and output, dcmdump on the output: one file per job, in parallel.
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get()).min(16);
        type Checked = (String, PathBuf, Option<BTreeSet<String>>, Option<BTreeSet<String>>, Option<String>);
        let results: Vec<Checked> = std::thread::scope(|scope| {
            let chunks: Vec<_> = jobs.chunks(jobs.len().div_ceil(threads).max(1)).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|(name, path, input)| {
                                let dump = run("dcmdump", "dcmtk", &[path.as_os_str()]);
                                let stderr = String::from_utf8_lossy(&dump.stderr);
                                let unreadable = (!dump.status.success()
                                    || stderr.lines().any(|l| l.starts_with("E:") || l.starts_with("F:")))
                                .then(|| format!("dcmdump cannot read {name} (from {}): {}", input.display(), stderr.trim()));
                                (name.clone(), input.clone(), dciodvfy_errors(input), dciodvfy_errors(path), unreadable)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("validation thread")).collect()
        });
        let mut crashed = 0;
        for (name, input, before, after, unreadable) in results {
            failures.extend(unreadable.map(|u| format!("{label}: {u}")));
            let Some(before) = before else {
                crashed += 1; // nothing to compare with
                continue;
            };
            let Some(after) = after else {
                failures.push(format!("{label}: dciodvfy crashed on {name}, not on its input {}", input.display()));
                continue;
            };
            errors_before += before.len();
            errors_after += after.len();
            for e in after.difference(&before) {
                new_errors += 1;
                new_by_message.entry(e.clone()).or_default().push(input.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        for (message, files) in &new_by_message {
            failures.push(format!("{label}: dciodvfy reports a new error on {} outputs: {message}  [{}]", files.len(), files.join(", ")));
        }
        let unreadable = pydicom_failures(&outputs);
        failures.extend(unreadable.iter().map(|f| format!("{label}: pydicom: {f}")));
        summary.push(format!(
            "{label}: {} outputs validated ({crashed} of whose inputs crash dciodvfy: not compared); dciodvfy errors: \
             {errors_before} on the inputs, {errors_after} on the outputs, {new_errors} new; dcmdump and pydicom read {} of them",
            outputs.len(),
            outputs.len() - unreadable.len()
        ));
        assert!(outputs.len() >= 20, "{label}: only {} outputs", outputs.len());
    }
    for line in &summary {
        eprintln!("{line}");
    }
    assert!(failures.is_empty(), "{} validation failures:\n  {}", failures.len(), failures.join("\n  "));
}

/// dcmdump's complaint about an output, if any.
fn dcmdump_problem(path: &Path) -> Option<String> {
    let dump = run("dcmdump", "dcmtk", &[path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&dump.stderr);
    (!dump.status.success() || stderr.lines().any(|l| l.starts_with("E:") || l.starts_with("F:"))).then(|| stderr.trim().to_string())
}

/// Raw implicit VR data sets (no preamble, no meta group): the outputs of pydicom's
/// rtstruct.dcm and of CT_small's data set written raw are read by dcmdump and pydicom, and
/// dciodvfy finds no error in them that it does not find in their inputs.
#[test]
fn exported_raw_implicit_files_validate_and_read() {
    let work = tempfile::tempdir().unwrap();
    let ct = work.path().join("CT_small_raw.dcm");
    std::fs::write(&ct, fixtures::pydicom_raw_implicit("CT_small.dcm").unwrap()).unwrap();
    let inputs = [fixtures::pydicom_file("rtstruct.dcm").unwrap(), ct];
    let keyring = Keyring::from_secret(cli::PASSPHRASE.as_bytes());
    let by_uid: HashMap<String, &PathBuf> = inputs
        .iter()
        .map(|p| (keyring.uid(&scan::element_text(&scan::read_input(p), tags::SOP_INSTANCE_UID).unwrap()), p))
        .collect();
    let export = cli::export(&inputs, DATE, &["--preset", "basic"]);
    let entries = scan::check_dicom_layout(&export.zip, DATE);
    assert_eq!(entries.len(), 2, "{}", export.stderr);
    let mut outputs = Vec::new();
    for (i, (name, bytes)) in entries.iter().enumerate() {
        let path = work.path().join(format!("out{i}.dcm"));
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(dcmdump_problem(&path), None, "dcmdump cannot read {name}");
        let obj = dicom_object::OpenFileOptions::new().from_reader(&bytes[128..]).expect("output parses");
        let input = by_uid[obj.meta().media_storage_sop_instance_uid()];
        let before = dciodvfy_errors(input).expect("dciodvfy judges the raw input");
        let after = dciodvfy_errors(&path).expect("dciodvfy judges the output");
        let new: Vec<_> = after.difference(&before).collect();
        assert!(new.is_empty(), "{name} (from {}): new dciodvfy errors {new:?}", input.display());
        outputs.push(path);
    }
    assert_eq!(pydicom_failures(&outputs), Vec::<String>::new());
}

#[test]
fn normalisation_keeps_names_and_drops_values() {
    assert_eq!(
        normalise("Error - StudyInstanceUID has same value as FrameOfReferenceUID <2.25.4854>"),
        "Error - StudyInstanceUID has same value as FrameOfReferenceUID <value>"
    );
    assert_eq!(
        normalise("Error - Missing attribute Type 2 Required Element=<PatientSex> Module=<Patient>"),
        "Error - Missing attribute Type 2 Required Element=<PatientSex> Module=<Patient>"
    );
    assert_eq!(normalise("Error - referenced 1.2.3.4 missing"), "Error - referenced <uid> missing");
}
