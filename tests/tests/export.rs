//! The `capture export` command on pydicom's real test files: every input accounted for,
//! nothing identifying left, UIDs consistent, pixels untouched, output independent of order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use capture_tests::{cli, fixtures, scan};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

const DATE: &str = "20261124";
/// The Basic Profile with quarantine off: as many files as possible go through the rules.
const EVERYTHING: &[&str] = &["--preset", "basic", "--include-quarantined"];

/// Every file under pydicom's test folder, in name order.
fn all_inputs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out)
            } else {
                out.push(e)
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures::pydicom_test_files().unwrap_or_else(|e| panic!("{e}")), &mut out);
    out
}

fn read_dicom(bytes: &[u8]) -> DefaultDicomObject {
    OpenFileOptions::new().from_reader(&bytes[128..]).expect("output parses")
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    scan::element_text(obj, tag)
}

/// The SOP Instance UID of an output, from the data set or, where the input had none there,
/// from the meta group.
fn sop_instance(obj: &DefaultDicomObject) -> String {
    text(obj, tags::SOP_INSTANCE_UID).unwrap_or_else(|| obj.meta().media_storage_sop_instance_uid().trim_end_matches('\0').to_string())
}

/// Binary values of an object at any depth (pixel, overlay and LUT data...), as raw bytes.
fn bulk_bytes(obj: &dicom_object::InMemDicomObject) -> Vec<Vec<u8>> {
    use dicom_core::value::Value;
    use dicom_core::VR;
    obj.iter()
        .flat_map(|e| match e.value() {
            Value::Primitive(p) if matches!(e.vr(), VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::UN) => {
                vec![p.to_bytes().into_owned()]
            }
            Value::Primitive(_) => Vec::new(),
            Value::PixelSequence(seq) => seq.fragments().to_vec(),
            Value::Sequence(seq) => seq.items().iter().flat_map(bulk_bytes).collect(),
        })
        .collect()
}

/// The report's files as name -> (outcome, path or reason).
fn outcomes(report: &str) -> Vec<(String, String, String)> {
    // The report is JSON; a tiny extraction keeps the tests free of a JSON dependency.
    let value: Vec<(String, String, String)> = report
        .split("\"name\": ")
        .skip(1)
        .map(|chunk| {
            let field = |key: &str| -> String {
                chunk
                    .split(&format!("\"{key}\": \""))
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default()
                    .to_string()
            };
            let name = chunk.trim_start_matches('"').split('"').next().unwrap_or_default().to_string();
            let detail = if field("outcome") == "exported" { field("path") } else { field("reason") };
            (name, field("outcome"), detail)
        })
        .collect();
    value
}

#[test]
fn pydicom_corpus_exports_without_identifiers() {
    let inputs = all_inputs();
    let export = cli::export(&[fixtures::pydicom_test_files().unwrap()], DATE, EVERYTHING);
    let entries = scan::check_dicom_layout(&export.zip, DATE);
    let files = outcomes(&export.report);

    // Every input is in the report once, with an outcome that adds up.
    assert_eq!(files.len(), inputs.len(), "the report must list every input file once");
    let exported: Vec<_> = files.iter().filter(|f| f.1 == "exported").collect();
    let skipped = files.iter().filter(|f| f.1 == "skipped").count();
    assert_eq!(exported.len() + skipped, inputs.len(), "nothing is quarantined with --include-quarantined");
    assert_eq!(exported.len(), entries.len(), "one zip entry per exported file");
    assert!(exported.len() >= 60, "only {} of pydicom's files exported", exported.len());
    for (name, outcome, detail) in &files {
        if outcome == "skipped" {
            assert!(!detail.is_empty(), "{name} skipped without a reason");
        }
        if name.ends_with("README.txt") || name.ends_with(".json") {
            assert!(detail.contains("not a DICOM file"), "{name}: {detail}");
        }
    }

    // Nothing identifying of any input that parses survives anywhere in the zip.
    // Image bytes are copied as they are, so a value that also occurs inside some input's
    // pixel or overlay data (a ramp of bytes "12345678") cannot tell a leak from an image.
    let readable: Vec<&PathBuf> = inputs.iter().filter(|p| capture::dicom::parse(&std::fs::read(p).unwrap(), false).is_ok()).collect();
    let bulk: Vec<Vec<u8>> = readable.iter().map(|p| scan::read_input(p)).flat_map(|o| bulk_bytes(&o)).collect();
    let readable_count = readable.len();
    let mut checked = 0;
    let mut leaks = Vec::new();
    for input in readable {
        for (keyword, value) in scan::identifying_values(input) {
            // Very short values (PatientID "1") would match pixel bytes by chance.
            if value.len() < 6 || bulk.iter().any(|b| scan::contains(b, value.as_bytes())) {
                continue;
            }
            checked += 1;
            for place in scan::find_in_zip(&export.zip, &entries, value.as_bytes()) {
                leaks.push(format!("{keyword} {value:?} of {} in {place}", input.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "{} identifying values leaked:\n  {}", leaks.len(), leaks.join("\n  "));
    assert!(checked > 200, "only {checked} identifying values were checked");
    eprintln!("checked {checked} identifying values of {} readable inputs: no leak", readable_count);

    // Each exported file: pseudonymised IDs, de-identification recorded, meta consistent,
    // pixel data byte-identical to its input.
    let by_path: HashMap<&str, &str> = exported.iter().map(|f| (f.2.as_str(), f.0.as_str())).collect();
    for (path, bytes) in &entries {
        let out = read_dicom(bytes);
        let visit = path.split('/').nth(2).unwrap();
        let patient = text(&out, tags::PATIENT_ID).unwrap_or_default();
        assert!(patient.starts_with('P') && patient.len() == 16, "{path}: PatientID {patient:?}");
        assert_eq!(text(&out, tags::PATIENT_NAME).as_deref(), Some(patient.as_str()), "{path}");
        assert_eq!(text(&out, tags::STUDY_ID).as_deref(), Some(visit), "{path}: StudyID is the visit ID");
        assert_eq!(text(&out, tags::PATIENT_IDENTITY_REMOVED).as_deref(), Some("YES"), "{path}");
        let sop = sop_instance(&out);
        assert!(sop.starts_with("2.25."), "{path}: SOP Instance UID {sop}");
        assert_eq!(out.meta().media_storage_sop_instance_uid().trim_end_matches('\0'), sop, "{path}");

        let input = scan::read_input(Path::new(by_path[path.as_str()]));
        let before = input.element(tags::PIXEL_DATA).ok().map(|e| e.value().clone());
        let after = out.element(tags::PIXEL_DATA).ok().map(|e| e.value().clone());
        assert!(before == after, "{path}: pixel data differs from {}", by_path[path.as_str()]);
    }
}

#[test]
fn output_is_independent_of_input_order_and_keyed_by_the_secret() {
    let mut inputs: Vec<PathBuf> = all_inputs().into_iter().filter(|p| p.extension().is_some_and(|e| e == "dcm")).collect();
    let forward = cli::export(&inputs, DATE, EVERYTHING);
    inputs.reverse();
    let backward = cli::export(&inputs, DATE, EVERYTHING);
    assert!(forward.zip == backward.zip, "the zip depends on the order of the inputs");

    let other = cli::export_with_secret(&inputs, DATE, EVERYTHING, "another site's secret");
    let uids = |zip: &[u8]| -> Vec<String> {
        scan::entries(zip).iter().map(|(_, b)| sop_instance(&read_dicom(b))).collect()
    };
    let (a, b) = (uids(&forward.zip), uids(&other.zip));
    assert_eq!(a.len(), b.len());
    let mut shared: Vec<_> = a.iter().filter(|u| b.contains(u)).collect();
    shared.dedup();
    assert!(shared.is_empty(), "UIDs did not change with the secret: {shared:?}");
}

#[test]
fn uids_map_consistently_across_files() {
    let inputs: Vec<PathBuf> = all_inputs().into_iter().filter(|p| p.extension().is_some_and(|e| e == "dcm")).collect();
    let export = cli::export(&inputs, DATE, EVERYTHING);
    let files = outcomes(&export.report);
    let entries: HashMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();
    // original UID -> new UID, for the attributes that link instances together.
    let mut map: HashMap<(u16, String), String> = HashMap::new();
    let mut pairs = 0;
    for (name, outcome, path) in files {
        if outcome != "exported" {
            continue;
        }
        let input = scan::read_input(Path::new(&name));
        let out = read_dicom(&entries[&path]);
        for tag in [tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID, tags::FRAME_OF_REFERENCE_UID] {
            let (Some(before), Some(after)) = (text(&input, tag), text(&out, tag)) else { continue };
            if before.is_empty() {
                continue;
            }
            assert_ne!(before, after, "{name}: {tag} kept its original value");
            let previous = map.entry((tag.element(), before.clone())).or_insert_with(|| after.clone());
            assert_eq!(*previous, after, "{name}: {tag} {before} maps to two different UIDs");
            pairs += 1;
        }
    }
    // Different originals never collapse onto one pseudonym.
    let mut seen: HashMap<&String, &String> = HashMap::new();
    for ((_, before), after) in &map {
        if let Some(other) = seen.insert(after, before) {
            assert_eq!(other, before, "{other} and {before} both map to {after}");
        }
    }
    assert!(pairs > 50, "only {pairs} UID pairs compared");
}

/// Raw implicit VR little endian data sets (no preamble, no meta group): pydicom's real
/// rtstruct.dcm and CT_small's data set re-encoded so. Both are exported with a preamble and a
/// meta group naming implicit VR little endian, their SOP Class and (keyed) Instance UIDs
/// from the data set, nothing identifying left and the pixel data as they were.
#[test]
fn raw_implicit_data_sets_are_exported_de_identified() {
    let dir = tempfile::tempdir().unwrap();
    let ct = dir.path().join("CT_small_raw.dcm");
    std::fs::write(&ct, fixtures::pydicom_raw_implicit("CT_small.dcm").unwrap()).unwrap();
    let inputs = vec![fixtures::pydicom_file("rtstruct.dcm").unwrap(), ct];
    // (basic: the mip preset quarantines the structure set, which is not a PRIMARY image)
    let export = cli::export(&inputs, DATE, &["--preset", "basic"]);
    let entries = scan::check_dicom_layout(&export.zip, DATE);
    assert_eq!(entries.len(), 2, "both raw files exported:\n{}", export.stderr);
    scan::assert_no_identifiers(&export.zip, &entries, &inputs);
    let keyring = capture::pseudonym::Keyring::from_secret(cli::PASSPHRASE.as_bytes());
    let files = outcomes(&export.report);
    for input in &inputs {
        let name = input.display().to_string();
        let (_, outcome, path) = files.iter().find(|f| f.0 == name).expect("in the report");
        assert_eq!(outcome, "exported", "{name}");
        let before = scan::read_input(input);
        let out = read_dicom(&entries.iter().find(|e| &e.0 == path).unwrap().1);
        assert_eq!(out.meta().transfer_syntax(), "1.2.840.10008.1.2", "{name}");
        let class = text(&before, tags::SOP_CLASS_UID).unwrap();
        assert_eq!(out.meta().media_storage_sop_class_uid(), class, "{name}");
        assert_eq!(text(&out, tags::SOP_CLASS_UID), Some(class), "{name}");
        let instance = keyring.uid(&text(&before, tags::SOP_INSTANCE_UID).unwrap());
        assert_eq!(out.meta().media_storage_sop_instance_uid(), instance, "{name}");
        assert_eq!(sop_instance(&out), instance, "{name}");
        assert_ne!(text(&out, tags::PATIENT_NAME), text(&before, tags::PATIENT_NAME), "{name}");
        let pixels = |o: &DefaultDicomObject| o.element(tags::PIXEL_DATA).ok().map(|e| e.value().clone());
        assert!(pixels(&before) == pixels(&out), "{name}: pixel data differ");
    }
}

/// A mapping table written by `--mapping`: its rows as (id_old, id_new), header checked.
fn mapping_rows(path: &Path) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(reader.headers().unwrap(), vec!["id_old", "id_new"], "{}", path.display());
    reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_string(), r[1].to_string())).collect()
}

/// `--mapping DIR` on pydicom's corpus and a table: every exported file's original SOP
/// Instance UID maps to the one in its output (data set and meta group), every original
/// PatientID (images and table) to the research ID in the output, rows sorted and distinct,
/// no standard UID; the zip holds neither file nor any original value of the tables.
#[test]
fn mapping_lists_every_replaced_uid_and_patient_id() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("visits.csv");
    std::fs::write(&table, "PatientID,weight\nCompressedSamples^CT1,70\n\"X,\"\"1\"\"\",80\n").unwrap();
    let out = dir.path().join("mapping");
    let mut args = EVERYTHING.to_vec();
    args.extend(["--mapping", out.to_str().unwrap()]);
    let export = cli::export(&[fixtures::pydicom_test_files().unwrap(), table], DATE, &args);
    let (uids, patients) = (mapping_rows(&out.join("uid_mapping.csv")), mapping_rows(&out.join("patid_mapping.csv")));
    for rows in [&uids, &patients] {
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "rows sorted, one per original value");
    }
    assert!(uids.iter().all(|(old, new)| !old.starts_with("1.2.840.10008.") && new.starts_with("2.25.")));
    let uid_of: HashMap<&str, &str> = uids.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let patient_of: HashMap<&str, &str> = patients.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let entries: HashMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();
    let mut checked = 0;
    for (name, outcome, path) in outcomes(&export.report) {
        if outcome != "exported" || !path.ends_with(".dcm") {
            continue;
        }
        let (input, output) = (scan::read_input(Path::new(&name)), read_dicom(&entries[&path]));
        let meta = |o: &DefaultDicomObject| o.meta().media_storage_sop_instance_uid().trim_end_matches(['\0', ' ']).to_string();
        assert_eq!(uid_of.get(sop_instance(&input).as_str()), Some(&sop_instance(&output).as_str()), "{name}");
        // (The output's meta group names the data set's instance, where the input's differ.)
        let (from, to) = ([meta(&input), sop_instance(&input)], meta(&output));
        assert!(from.iter().any(|o| uid_of.get(o.as_str()) == Some(&to.as_str())), "{name}: {from:?} -> {to}");
        if let Some(id) = text(&input, tags::PATIENT_ID).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            assert_eq!(patient_of.get(id.as_str()).copied(), text(&output, tags::PATIENT_ID).as_deref(), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} outputs checked");
    let keyring = capture::pseudonym::Keyring::from_secret(cli::PASSPHRASE.as_bytes());
    assert_eq!(patient_of.get("X,\"1\"").copied(), Some(keyring.patient("X,\"1\"").as_str()), "the table's patient");
    let ehr: Vec<&String> = entries.keys().filter(|k| k.starts_with("EHR/")).collect();
    assert_eq!(ehr.len(), 1, "the table is exported");
    assert!(entries.keys().all(|k| !k.contains("mapping")), "no mapping file in the zip");
    for (old, _) in uids.iter().chain(&patients).filter(|(old, _)| old.len() >= 6) {
        assert!(scan::find_in_zip(&export.zip, &[], old.as_bytes()).is_empty(), "{old} is in the zip");
    }
    eprintln!("mapping: {} UIDs, {} patients; {checked} outputs checked", uids.len(), patients.len());
}
