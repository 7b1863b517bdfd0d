//! EHR tables (issue 5): generated tables in the encodings and layouts hospitals export
//! round-trip to the expected bytes, and a mixed drop of DICOM files and tables links
//! every patient through the same keyed research ID with no original identifier left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use capture::dates::Date;
use capture::pseudonym::Keyring;
use capture::{Job, Report, Settings};
use capture_tests::{cli, scan};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

const DATE: &str = "20261124";

fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring::from_secret(cli::PASSPHRASE.as_bytes()))
}

fn p(id: &str) -> String {
    keyring().patient(id)
}

/// Latin-1 bytes of a text (every character below U+0100).
fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(c as u32).expect("a Latin-1 character")).collect()
}

/// Runs a whole job in process; returns the zip's entries by path and the report.
fn run(files: &[(&str, Vec<u8>)], settings: &str) -> (BTreeMap<String, Vec<u8>>, Report) {
    let mut job = Job::new(Settings::from_json(settings).unwrap(), cli::PASSPHRASE.as_bytes(), DATE).unwrap();
    for (name, bytes) in files {
        job.scan(name, bytes);
    }
    let mut zip = Vec::new();
    for step in job.plan().unwrap() {
        zip.extend(job.export(step.input, &files[step.input].1).unwrap());
    }
    zip.extend(job.finish().unwrap());
    (scan::entries(&zip).into_iter().collect(), job.report())
}

fn text(entries: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
    let bytes = entries.get(path).unwrap_or_else(|| panic!("no {path} in the zip: {:?}", entries.keys()));
    String::from_utf8(bytes.clone()).expect("UTF-8 output")
}

#[test]
fn latin1_semicolon_table_round_trips_with_suggested_rules() {
    let input = latin1(
        "IPP;Nom;Prénom;Date de naissance;Sexe;Poids;Diagnostic\r\n\
         PX-100001;Müller;Zoé;31.12.1970;F;61,5;G35\r\n\
         PX-100002;Favre;Éric;01.07.1985;M;80;I63.9\r\n",
    );
    let (entries, report) = run(&[("exports/patients.csv", input)], "{}");
    let expected = format!(
        "\"IPP\",\"Date de naissance\",\"Sexe\",\"Poids\",\"Diagnostic\"\n\
         \"{}\",1970,\"F\",\"61,5\",\"G35\"\n\
         \"{}\",1985,\"M\",80,\"I63.9\"\n",
        p("PX-100001"),
        p("PX-100002")
    );
    assert_eq!(text(&entries, "EHR/20261124/patients.csv"), expected);
    let table = &report.tables[0];
    assert_eq!((table.encoding.as_str(), table.delimiter.as_str(), table.rows), ("windows-1252", ";", 2));
    let dropped: Vec<&str> = table.columns.iter().filter(|c| c.output.is_none()).map(|c| c.name.as_str()).collect();
    assert_eq!(dropped, ["Nom", "Prénom"]);
    assert!(table.columns.iter().all(|c| c.samples.is_empty()), "no original value in the report");
    assert_eq!(report.counts.exported, 1);
}

#[test]
fn utf8_bom_comma_table_with_quoted_multiline_fields_round_trips() {
    let input = "\u{feff}patient_id,visit_date,lab_date,diagnosis,note\n\
                 \"PX-100001\",\"05.01.2024\",2024-01-20,\"G35, relapsing\nremitting\",\"called Mr X, \"\"urgent\"\"\"\n\
                 PX-100002,2024-02-01,,I63.9,\n";
    let (entries, report) = run(&[("visits.csv", input.as_bytes().to_vec())], r#"{"dates": "keep"}"#);
    let k = keyring();
    let expected = format!(
        "\"patient_id\",\"visit_date\",\"lab_date\",\"diagnosis\"\n\
         \"{}\",\"{}\",\"2024-01-20\",\"G35, relapsing\nremitting\"\n\
         \"{}\",\"{}\",\"\",\"I63.9\"\n",
        p("PX-100001"),
        k.visit("PX-100001", "20240105"),
        p("PX-100002"),
        k.visit("PX-100002", "20240201"),
    );
    assert_eq!(text(&entries, "EHR/20261124/visits.csv"), expected);
    assert_eq!(report.tables[0].encoding, "UTF-8 with BOM");
    assert!(report.tables[0].malformed_rows.is_empty());
}

#[test]
fn utf16_tsv_with_malformed_rows_is_exported_padded_and_reported_or_skipped() {
    let body = "PatientID\tDOB\tEDSS\r\nPX-100001\t1970-01-01\t2\r\nPX-100002\t1980-05-05\r\nPX-100003\t1990-01-01\t4\textra\r\n";
    let input: Vec<u8> = [0xFF, 0xFE].into_iter().chain(body.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let (entries, report) = run(&[("scores.tsv", input.clone())], "{}");
    let expected = format!(
        "\"PatientID\",\"DOB\",\"EDSS\"\n\"{}\",1970,2\n\"{}\",1980,\"\"\n\"{}\",1990,4\n",
        p("PX-100001"),
        p("PX-100002"),
        p("PX-100003")
    );
    assert_eq!(text(&entries, "EHR/20261124/scores.csv"), expected);
    let table = &report.tables[0];
    assert_eq!((table.encoding.as_str(), table.delimiter.as_str()), ("UTF-16LE with BOM", "tab"));
    let malformed: Vec<(u64, usize)> = table.malformed_rows.iter().map(|m| (m.line, m.fields)).collect();
    assert_eq!(malformed, [(3, 2), (4, 4)]);

    let (entries, report) = run(&[("scores.tsv", input)], r#"{"ehr": {"skipMalformed": true}}"#);
    assert!(entries.is_empty());
    let json = report.to_json();
    assert!(json.contains("2 malformed rows (lines 3, 4") && json.contains("\"outcome\": \"skipped\""), "{json}");
}

#[test]
fn a_profile_sets_the_rules_and_columns_without_a_rule_are_dropped() {
    let input = "N° patient,Hémoglobine (g/l),Commentaire libre\nPX-100001,135,texte\n".as_bytes().to_vec();
    let settings = r#"{"ehr": {"sanitizeHeaders": true, "profiles": [{"table": "labs", "columns": [
        {"name": "N° patient", "rule": "patient-id"}, {"name": "Hémoglobine (g/l)", "rule": "keep"}]}]}}"#;
    let (entries, report) = run(&[("in/labs.csv", input)], settings);
    assert_eq!(text(&entries, "EHR/20261124/labs.csv"), format!("\"N_patient\",\"Hemoglobine_g_l\"\n\"{}\",135\n", p("PX-100001")));
    let json = report.to_json();
    assert!(json.contains("\"origin\": \"fail-closed\""), "{json}");
    assert!(!json.contains("texte") && !json.contains("PX-100001"), "originals in the report: {json}");
}

#[test]
fn prose_text_files_stay_skipped_as_not_dicom() {
    let notes = b"Not a DICOM file.\nPatient John Doe called on Monday.\n".to_vec();
    let (entries, report) = run(&[("notes.txt", notes), ("image.png", vec![0x89, b'P', b'N', b'G', 0, 0])], "{}");
    assert!(entries.is_empty());
    let json = report.to_json();
    assert_eq!(json.matches("not a DICOM file").count(), 2, "{json}");
    assert!(report.linkage.is_none());
}

// ---- A mixed drop: DICOM files of three patients and two tables, through the CLI. ----

struct Patient {
    id: &'static str,
    name: &'static str,
    birth: &'static str,
    study_date: &'static str,
}

/// A, B: images and tables; C: images only; D (in the tables only) has no DICOM file.
const PATIENTS: [Patient; 3] = [
    Patient { id: "HUG-0012345", name: "Dupont^Jerome", birth: "19610203", study_date: "20240105" },
    Patient { id: "HUG-0023456", name: "Rossi^Giulia", birth: "19750812", study_date: "20240310" },
    Patient { id: "HUG-0034567", name: "Meier^Hans", birth: "19500417", study_date: "20240220" },
];

const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";

/// A small MR image of one patient: the attributes that identify and place it, 2×2 pixels.
fn dicom_file(patient: &Patient, study: usize, instance: u32) -> Vec<u8> {
    let root = "1.2.826.0.1.3680043.10.543.7";
    let sop = format!("{root}.3.{study}.{instance}");
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: PrimitiveValue| obj.put(DataElement::new(tag, vr, value));
    put(tags::SOP_CLASS_UID, VR::UI, MR_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into());
    put(tags::STUDY_INSTANCE_UID, VR::UI, format!("{root}.1.{study}").into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, format!("{root}.2.{study}").into());
    put(tags::PATIENT_ID, VR::LO, patient.id.into());
    put(tags::PATIENT_NAME, VR::PN, patient.name.into());
    put(tags::PATIENT_BIRTH_DATE, VR::DA, patient.birth.into());
    put(tags::STUDY_DATE, VR::DA, patient.study_date.into());
    put(tags::MODALITY, VR::CS, "MR".into());
    put(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(["ORIGINAL", "PRIMARY", "AXIAL"].into_iter().map(String::from).collect()));
    put(tags::SERIES_NUMBER, VR::IS, "1".into());
    put(tags::INSTANCE_NUMBER, VR::IS, instance.to_string().into());
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into());
    put(tags::ROWS, VR::US, PrimitiveValue::from(2u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(2u16));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16));
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16([100u16, 200, 300, 400].into_iter().collect()));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(MR_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(sop)
        .transfer_syntax("1.2.840.10008.1.2.1");
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

const PATIENTS_CSV: &str = "IPP;Nom;Prénom;Date de naissance;Sexe;Adresse;Téléphone;Email;Diagnostic;Remarques\r\n\
HUG-0012345;Dupont;Jérôme;03.02.1961;M;Rue du Marché 12, 1204 Genève;+41 22 555 12 34;jerome.dupont@example.ch;G35;FREETEXT-MARKER-A rappeler lundi\r\n\
HUG-0023456;Rossi;Giulia;12.08.1975;F;Via Roma 3, 6900 Lugano;+41 91 555 98 76;giulia.rossi@example.ch;I63.9;FREETEXT-MARKER-B\r\n\
HUG-0098765;Favre;Lucie;24.11.1990;F;Chemin des Lilas 7, 1005 Lausanne;021 555 44 33;lucie.favre@example.ch;G40.9;FREETEXT-MARKER-D\r\n";

const VISITS_TSV: &str = "patient_id\tvisit_date\tlab_date\tEDSS\tcomment\n\
HUG-0012345\t05.01.2024\t2023-12-20\t3,5\tFREETEXT-MARKER-V1\n\
HUG-0012345\t2024-06-01\t2024-05-28\t4\t\n\
HUG-0023456\t10.03.2024\t2024-03-01\t2\tFREETEXT-MARKER-V2\n\
HUG-0098765\t2024-04-04\t2024-04-01\t1,5\t\n";

/// Every original identifier of the drop, as the bytes that must not be in the zip.
fn identifiers() -> Vec<Vec<u8>> {
    let texts = [
        "HUG-0012345", "HUG-0023456", "HUG-0034567", "HUG-0098765", "Dupont", "Jérôme", "Jerome", "Rossi", "Giulia", "Favre",
        "Lucie", "Meier", "03.02.1961", "12.08.1975", "24.11.1990", "1961-02-03", "1975-08-12", "1990-11-24", "19610203",
        "19750812", "19500417", "Rue du March", "Via Roma", "Chemin des Lilas", "Lugano", "Lausanne", "Genève", "555 12 34",
        "555 98 76", "555 44 33", "example.ch", "FREETEXT-MARKER",
    ];
    texts.iter().flat_map(|t| [t.as_bytes().to_vec(), latin1(t)]).collect()
}

/// The drop in a fresh folder: DICOM files (A twice), patients.csv (Latin-1), visits.tsv.
fn stage(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        files.push(path);
    };
    for (study, patient) in PATIENTS.iter().enumerate() {
        for instance in 1..=2 {
            write(&format!("dicom/{}_{instance}.dcm", &patient.id[4..]), dicom_file(patient, study, instance));
        }
    }
    write("tables/patients.csv", latin1(PATIENTS_CSV));
    write("tables/visits.tsv", VISITS_TSV.as_bytes().to_vec());
    files
}

fn read_dicom(bytes: &[u8]) -> dicom_object::DefaultDicomObject {
    dicom_object::OpenFileOptions::new().from_reader(&bytes[128..]).expect("output parses")
}

/// The rows of an output table, unquoted (fields hold no comma or quote in this drop).
fn rows(entries: &BTreeMap<String, Vec<u8>>, path: &str) -> Vec<Vec<String>> {
    text(entries, path).lines().map(|l| l.split(',').map(|f| f.trim_matches('"').to_string()).collect()).collect()
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

/// The DICOM outputs as (visit folder, PatientID, StudyDate).
fn dicom_outputs(entries: &BTreeMap<String, Vec<u8>>) -> Vec<(String, String, Option<String>)> {
    entries
        .iter()
        .filter(|(path, _)| path.starts_with("DICOM/"))
        .map(|(path, bytes)| {
            let obj = read_dicom(bytes);
            let visit = path.split('/').nth(2).unwrap().to_string();
            (visit, scan::element_text(&obj, tags::PATIENT_ID).unwrap_or_default(), scan::element_text(&obj, tags::STUDY_DATE))
        })
        .collect()
}

#[test]
fn mixed_drop_links_images_and_tables_with_no_identifier_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage(dir.path());
    let profiles = dir.path().join("profiles.json");
    let extra = ["--ehr-write-profiles", profiles.to_str().unwrap()];
    let export = cli::export(&inputs, DATE, &extra);
    let zip_entries = scan::entries(&export.zip);
    let entries: BTreeMap<String, Vec<u8>> = zip_entries.iter().cloned().collect();
    assert_eq!(entries.keys().filter(|p| p.starts_with("DICOM/")).count(), 6, "{:?}", entries.keys());
    assert!(entries.contains_key("EHR/20261124/patients.csv") && entries.contains_key("EHR/20261124/visits.csv"));

    // No original identifier of the tables (or the images) anywhere in the zip's bytes.
    let leaks: Vec<String> = identifiers()
        .iter()
        .flat_map(|id| scan::find_in_zip(&export.zip, &zip_entries, id).into_iter().map(move |place| format!("{:?} in {place}", String::from_utf8_lossy(id))))
        .collect();
    assert!(leaks.is_empty(), "original identifiers in the zip:\n  {}", leaks.join("\n  "));

    // Each DICOM file's PatientID is the table's pseudonymised ID of the same patient:
    // A's and B's rows are recognised by their kept diagnosis, their files by their visit.
    let patients = rows(&entries, "EHR/20261124/patients.csv");
    let (ipp, diagnosis) = (column(&patients, "IPP"), column(&patients, "Diagnostic"));
    let table_id = |code: &str| patients.iter().find(|r| r[diagnosis] == code).map(|r| r[ipp].clone()).unwrap();
    let outputs = dicom_outputs(&entries);
    for (patient, code) in PATIENTS[..2].iter().zip(["G35", "I63.9"]) {
        let visit = keyring().visit(patient.id, patient.study_date);
        let ids: Vec<&String> = outputs.iter().filter(|o| o.0 == visit).map(|o| &o.1).collect();
        assert_eq!(ids.len(), 2, "{} has two images", patient.id);
        assert!(ids.iter().all(|id| **id == table_id(code)), "{}: DICOM {ids:?} vs table {}", patient.id, table_id(code));
        assert_eq!(table_id(code), p(patient.id), "exactly Keyring::patient");
    }
    // The visit column names A's visit of the images by its scan_research_id.
    let visits = rows(&entries, "EHR/20261124/visits.csv");
    let visit_column = column(&visits, "visit_date");
    assert_eq!(visits[1][visit_column], keyring().visit(PATIENTS[0].id, PATIENTS[0].study_date));
    assert_eq!(visits.len(), 5, "every row exported, matched to images or not");

    // The linkage: A and B in both, D in the tables only, C in the images only.
    let report: serde_json::Value = serde_json::from_str(&export.report).unwrap();
    let linkage = &report["linkage"];
    let ids = |group: &str| -> Vec<String> {
        linkage[group]["patientResearchIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let mut both = vec![p(PATIENTS[0].id), p(PATIENTS[1].id)];
    both.sort();
    assert_eq!(ids("both"), both);
    assert_eq!(ids("tablesOnly"), [p("HUG-0098765")]);
    assert_eq!(ids("imagesOnly"), [p(PATIENTS[2].id)]);
    assert_eq!((linkage["visitValues"].as_u64(), linkage["visitValuesMatched"].as_u64()), (Some(4), Some(2)));
    for id in identifiers() {
        assert!(!scan::contains(export.report.as_bytes(), &id), "{:?} in the report", String::from_utf8_lossy(&id));
    }

    // The same drop in the opposite order, and again with the saved profiles: the same zip.
    inputs.reverse();
    let again = cli::export(&inputs, DATE, &["--ehr-profile", profiles.to_str().unwrap()]);
    assert!(again.zip == export.zip, "the zip depends on the input order or on the saved profiles");
}

#[test]
fn table_dates_keep_their_interval_to_the_study_date() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = stage(dir.path());
    let a = &PATIENTS[0];
    let study = Date::parse_da(a.study_date).unwrap();
    let lab = Date::parse_da("20231220").unwrap(); // A's first lab_date in visits.tsv
    let iso = |d: &str| Date::parse_da(&d.replace('-', "")).unwrap_or_else(|| panic!("not a date: {d:?}"));
    for policy in ["shift", "month"] {
        let export = cli::export(&inputs, DATE, &["--dates", policy]);
        let entries: BTreeMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();
        let visits = rows(&entries, "EHR/20261124/visits.csv");
        let (patient, lab_column) = (column(&visits, "patient_id"), column(&visits, "lab_date"));
        let row = visits.iter().find(|r| r[patient] == p(a.id)).expect("A's first row");
        let lab_out = iso(&row[lab_column]);
        let study_out = dicom_outputs(&entries)
            .into_iter()
            .find(|o| o.1 == p(a.id))
            .and_then(|o| o.2)
            .unwrap_or_else(|| panic!("{policy}: no StudyDate in A's exported images"));
        let study_out = Date::parse_da(&study_out).unwrap();
        match policy {
            "shift" => {
                assert_eq!(study_out.days() - lab_out.days(), study.days() - lab.days(), "shift keeps the interval");
                assert_ne!(study_out, study, "the StudyDate moved");
                assert_eq!(study_out.days() - study.days(), keyring().date_shift(a.id), "by the patient's offset");
            }
            _ => {
                assert_eq!((lab_out.year, lab_out.month, lab_out.day), (lab.year, lab.month, 1));
                assert_eq!((study_out.year, study_out.month, study_out.day), (study.year, study.month, 1));
            }
        }
    }
}

// ---- Issue 20: a table's zero-padded IDs and the images' PatientID. ----

/// The PACS wrote `4711`; the lab table holds `004711`, ` 4711 ` and IDs of no image.
const LAB_CSV: &str = "IPP,hb\n004711,135\n 4711 ,140\n,150\n98765,120\n098765,121\n";

fn stage_lab(dir: &Path) -> Vec<PathBuf> {
    let patient = Patient { id: "4711", name: "Dupont^Jerome", birth: "19610203", study_date: "20240105" };
    let (image, table) = (dir.join("image.dcm"), dir.join("lab.csv"));
    std::fs::write(&image, dicom_file(&patient, 0, 1)).unwrap();
    std::fs::write(&table, LAB_CSV).unwrap();
    vec![image, table]
}

#[test]
fn zero_padded_ids_link_with_leading_zeros_and_are_near_misses_without() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = stage_lab(dir.path());
    let profile = dir.path().join("lab.json");
    std::fs::write(&profile, r#"{"table": "lab", "columns": [{"name": "IPP", "rule": "patient-id"}, {"name": "hb", "rule": "keep"}]}"#).unwrap();
    let ids_of = |export: &cli::Export| -> Vec<String> {
        let entries: BTreeMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();
        rows(&entries, "EHR/20261124/lab.csv")[1..].iter().map(|r| r[0].clone()).collect()
    };

    // leading-zeros: 004711 and " 4711 " are the images' 4711; 98765 and 098765 one patient of no image.
    let linked = cli::export(&inputs, DATE, &["--ehr-profile", profile.to_str().unwrap(), "--patient-id-normalise", "leading-zeros"]);
    assert_eq!(ids_of(&linked), [p("4711"), p("4711"), String::new(), p("98765"), p("98765")]);
    let entries: BTreeMap<String, Vec<u8>> = scan::entries(&linked.zip).into_iter().collect();
    assert!(dicom_outputs(&entries).iter().all(|o| o.1 == p("4711")), "the image's PatientID keyed alike");
    let report: serde_json::Value = serde_json::from_str(&linked.report).unwrap();
    assert_eq!(report["linkage"]["both"]["count"], 1);
    assert!(report["tables"][0].get("nearMisses").is_none(), "{}", linked.report);
    let lab = &report["linkage"]["tables"][0];
    assert_eq!(lab["unlinkedRows"], serde_json::json!({"count": 2, "ranges": [[4, 5]]}));
    assert_eq!(lab["rowsWithoutPatientId"], serde_json::json!({"count": 1, "ranges": [[3, 3]]}));
    assert!(linked.stderr.contains("table ") && linked.stderr.contains("2 rows link to no image: rows 4-5"), "{}", linked.stderr);

    // Without the option: only " 4711 " links (trimmed, as always); 004711 is a near miss.
    let plain = cli::export(&inputs, DATE, &["--ehr-profile", profile.to_str().unwrap()]);
    assert_eq!(ids_of(&plain), [p("004711"), p("4711"), String::new(), p("98765"), p("098765")]);
    let report: serde_json::Value = serde_json::from_str(&plain.report).unwrap();
    let misses = serde_json::json!([{"options": ["leading-zeros"], "patientIds": 1}]);
    assert_eq!((&report["tables"][0]["nearMisses"], &report["linkage"]["nearMisses"]), (&misses, &misses));
    assert_eq!(report["linkage"]["tables"][0]["unlinkedRows"]["ranges"], serde_json::json!([[1, 1], [4, 5]]));
    let line = "near miss: 1 patient ID(s) link to no image but would with --patient-id-normalise leading-zeros";
    assert!(plain.stderr.contains(line), "{}", plain.stderr);
    for original in ["004711", "098765", "98765"] {
        assert!(!plain.report.contains(original) && !plain.stderr.contains(original), "{original} in the report or on stderr");
    }
}

/// With `--visit-by study`, a table's visit date names the visit of that patient's study of
/// that date, as it does by date.
#[test]
fn visit_dates_link_to_the_study_of_that_day_by_study() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_lab(dir.path());
    let visits = dir.path().join("visits.csv");
    std::fs::write(&visits, "patient_id,visit_date\n4711,05.01.2024\n4711,2024-02-02\n").unwrap();
    inputs.push(visits);
    let export = cli::export(&inputs, DATE, &["--visit-by", "study"]);
    let entries: BTreeMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();
    let study = keyring().visit("4711", "study:1.2.826.0.1.3680043.10.543.7.1.0");
    assert!(dicom_outputs(&entries).iter().all(|o| o.0 == study), "the image's visit is its study");
    let table = rows(&entries, "EHR/20261124/visits.csv");
    let column = column(&table, "visit_date");
    assert_eq!(table[1][column], study, "the study's date names its visit");
    assert_eq!(table[2][column], keyring().visit("4711", "20240202"), "a day without a study: keyed as always");
    let report: serde_json::Value = serde_json::from_str(&export.report).unwrap();
    assert_eq!((report["linkage"]["visitValues"].as_u64(), report["linkage"]["visitValuesMatched"].as_u64()), (Some(2), Some(1)));
}

// ---- Issue 20: spreadsheets. ----

/// A workbook of one visible sheet (and a hidden one) is the table of that sheet, named
/// after the file: date cells as ISO dates, numbers without float noise, formulas as their
/// cached values, the merged header repeated and numbered, IDs linking to the image.
#[test]
fn spreadsheets_are_tables_of_typed_cells_linked_to_the_images() {
    use capture::table::sheet::samples;
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = stage_lab(dir.path());
    inputs.pop(); // the lab CSV
    // Names that say nothing: the content tells a spreadsheet (and a zip of one is no zip of inputs).
    let files = [("clinic.bin", samples::xlsx()), ("labs.ods", samples::ods())];
    let two = samples::xlsx_of(&[("A", false, "<worksheet/>"), ("B", false, "<worksheet/>")]);
    for (name, bytes) in files.iter().chain([&("two.xlsx", two)]) {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        inputs.push(dir.path().join(name));
    }
    let profile = dir.path().join("profiles.json");
    let keep = |n: &str| format!(r#"{{"name": "{n}", "rule": "keep"}}"#);
    let columns = [r#"{"name": "PatientID", "rule": "patient-id"}"#.to_string(), r#"{"name": "VisitDate", "rule": "visit"}"#.into(), keep("Dose"), keep("Dose_2"), keep("Total"), keep("Note")];
    let labs = r#"{"table": "labs", "columns": [{"name": "PatientID", "rule": "patient-id"}, {"name": "Date", "rule": "date"}, {"name": "Value", "rule": "keep"}]}"#;
    std::fs::write(&profile, format!(r#"[{{"table": "clinic", "columns": [{}]}}, {labs}]"#, columns.join(", "))).unwrap();
    let export = cli::export(&inputs, DATE, &["--ehr-profile", profile.to_str().unwrap()]);
    let entries: BTreeMap<String, Vec<u8>> = scan::entries(&export.zip).into_iter().collect();

    let visit = keyring().visit("4711", "20240105");
    assert!(dicom_outputs(&entries).iter().all(|o| o.0 == visit && o.1 == p("4711")), "the image's visit");
    let expected = format!(
        "\"PatientID\",\"VisitDate\",\"Dose\",\"Dose_2\",\"Total\",\"Note\"\n\"{}\",\"{visit}\",1.5,3,4.5,0.3\n\"{}\",\"{}\",3,1,4,\"ok\"\n",
        p("4711"),
        p("98765"),
        keyring().visit("98765", "20240302")
    );
    assert_eq!(text(&entries, "EHR/20261124/clinic.csv"), expected);
    let labs = format!("\"PatientID\",\"Date\",\"Value\"\n\"{}\",\"2024-03-01\",3\n\"{}\",\"2024-03-01\",1.5\n", p("P1"), p("P2"));
    assert_eq!(text(&entries, "EHR/20261124/labs.csv"), labs);

    let report: serde_json::Value = serde_json::from_str(&export.report).unwrap();
    let clinic = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "clinic").unwrap();
    assert_eq!((&clinic["hiddenSheets"], &clinic["encoding"]), (&serde_json::json!(["Notes"]), &serde_json::json!("spreadsheet, sheet \"Visits\"")));
    assert!(!entries.values().any(|b| b.windows(6).any(|w| w == b"secret")), "the hidden sheet is left out");
    assert_eq!(report["linkage"]["both"]["count"], 1);
    let skipped = report["files"].as_array().unwrap().iter().find(|f| f["name"].as_str().unwrap().ends_with("two.xlsx")).unwrap();
    assert_eq!(skipped["code"], "spreadsheet-unreadable", "two empty sheets hold no table: {skipped}");
}

// ---- Issue 20: ambiguous dates. ----

/// A date column whose values all read both day first and month first is flagged with the
/// two readings of one value (on stderr; the report has the flag, never the value); without
/// a choice it is read day first as before, and a profile choosing month first changes the
/// output dates. A column whose values tell the order is not flagged.
#[test]
fn ambiguous_date_columns_are_flagged_and_read_as_the_profile_chooses() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("exams.csv");
    std::fs::write(&table, "id,sampled,checked\nA,04.07.2023,13.07.2023\nB,01.02.2024,02.03.2024\n").unwrap();
    let profiles = dir.path().join("written.json");
    let keep = ["--dates", "keep", "--ehr-write-profiles", profiles.to_str().unwrap()];
    let first = cli::export(std::slice::from_ref(&table), DATE, &keep);
    let line = "exams.csv: column \"sampled\": ambiguous dates: \"04.07.2023\" reads as 2023-07-04 (day first) or 2023-04-07 (month first)";
    assert!(first.stderr.contains(line), "{}", first.stderr);
    assert!(!first.stderr.contains("\"checked\": ambiguous"), "13 is a day: {}", first.stderr);
    let entries: BTreeMap<String, Vec<u8>> = scan::entries(&first.zip).into_iter().collect();
    let day_first = "\"id\",\"sampled\",\"checked\"\n\"A\",\"2023-07-04\",\"2023-07-13\"\n\"B\",\"2024-02-01\",\"2024-03-02\"\n";
    assert_eq!(text(&entries, "EHR/20261124/exams.csv"), day_first);
    let report: serde_json::Value = serde_json::from_str(&first.report).unwrap();
    let columns = &report["tables"][0]["columns"];
    assert_eq!((&columns[1]["ambiguousDates"], &columns[2]["ambiguousDates"]), (&serde_json::json!(true), &serde_json::Value::Null));
    assert!(!first.report.contains("04.07.2023") && columns[1]["dateReadings"].is_null(), "no original value in the report");

    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&profiles).unwrap()).unwrap();
    let mut chosen = written.clone();
    chosen[0]["columns"][1]["dateOrder"] = "month-first".into();
    std::fs::write(&profiles, chosen.to_string()).unwrap();
    let again = cli::export(std::slice::from_ref(&table), DATE, &["--dates", "keep", "--ehr-profile", profiles.to_str().unwrap()]);
    assert!(again.stderr.contains("(month first); read month first as the profile chooses"), "{}", again.stderr);
    let entries: BTreeMap<String, Vec<u8>> = scan::entries(&again.zip).into_iter().collect();
    let month_first = "\"id\",\"sampled\",\"checked\"\n\"A\",\"2023-04-07\",\"2023-07-13\"\n\"B\",\"2024-01-02\",\"2024-03-02\"\n";
    assert_eq!(text(&entries, "EHR/20261124/exams.csv"), month_first);
    let report: serde_json::Value = serde_json::from_str(&again.report).unwrap();
    assert_eq!(report["tables"][0]["columns"][1]["dateOrder"], "month-first");
    assert_eq!(report["tables"][0]["profile"]["columns"][1]["dateOrder"], "month-first", "the profile saves the choice");
    assert!(written[0]["columns"][1].get("dateOrder").is_none(), "no choice, no field");
}

/// A workbook of two visible sheets and a hidden one, as `.xlsx` and as `.ods`: each visible
/// sheet is a table `<file>_<sheet>` (date cells and dates as text, numbers as a CSV holds
/// them); the hidden sheet is listed and left out, unless a profile naming its table chooses it.
#[test]
fn workbooks_of_several_sheets_are_one_table_per_visible_sheet() {
    use capture::table::sheet::samples;
    let visits = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>PatientID</t></is></c><c r="B1" t="inlineStr"><is><t>VisitDate</t></is></c><c r="C1" t="inlineStr"><is><t>Weight</t></is></c></row>
<row r="2"><c r="A2"><v>4711</v></c><c r="B2" s="1"><v>45296</v></c><c r="C2"><v>70.5</v></c></row>
<row r="3"><c r="A3"><v>98765</v></c><c r="B3" t="inlineStr"><is><t>2024-03-02</t></is></c><c r="C3"><v>80</v></c></row></sheetData></worksheet>"#;
    let labs = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>PatientID</t></is></c><c r="B1" t="inlineStr"><is><t>Sampled</t></is></c><c r="C1" t="inlineStr"><is><t>Hb</t></is></c></row>
<row r="2"><c r="A2"><v>4711</v></c><c r="B2" t="inlineStr"><is><t>15.01.2024</t></is></c><c r="C2"><v>13.5</v></c></row></sheetData></worksheet>"#;
    let notes = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Remark</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>hidden words</t></is></c></row></sheetData></worksheet>"#;
    let xlsx = samples::xlsx_of(&[("Visits", false, visits), ("Labs", false, labs), ("Notes", true, notes)]);
    let text_cell = |t: &str| format!(r#"<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>"#);
    let (pid, date, weight, p1, d1, w1) = (text_cell("PatientID"), text_cell("VisitDate"), text_cell("Weight"), text_cell("4711"), r#"<table:table-cell office:value-type="date" office:date-value="2024-01-05"><text:p>05/01/2024</text:p></table:table-cell>"#.to_string(), r#"<table:table-cell office:value-type="float" office:value="70.5"><text:p>70,5</text:p></table:table-cell>"#.to_string());
    let (p2, d2, w2) = (text_cell("98765"), text_cell("2024-03-02"), r#"<table:table-cell office:value-type="float" office:value="80"><text:p>80</text:p></table:table-cell>"#.to_string());
    let (sampled, hb, s1, h1) = (text_cell("Sampled"), text_cell("Hb"), text_cell("15.01.2024"), r#"<table:table-cell office:value-type="float" office:value="13.5"><text:p>13,5</text:p></table:table-cell>"#.to_string());
    let (remark, words) = (text_cell("Remark"), text_cell("hidden words"));
    let ods = samples::ods_of(&[
        ("Visits", false, &[&[&pid, &date, &weight], &[&p1, &d1, &w1], &[&p2, &d2, &w2]]),
        ("Labs", false, &[&[&pid, &sampled, &hb], &[&p1, &s1, &h1]]),
        ("Notes", true, &[&[&remark], &[&words]]),
    ]);
    let visits_csv = format!(
        "\"PatientID\",\"VisitDate\",\"Weight\"\n\"{}\",\"{}\",70.5\n\"{}\",\"{}\",80\n",
        p("4711"),
        keyring().visit("4711", "20240105"),
        p("98765"),
        keyring().visit("98765", "20240302")
    );
    let labs_csv = format!("\"PatientID\",\"Sampled\",\"Hb\"\n\"{}\",\"2024-01-01\",13.5\n", p("4711"));
    for (file, bytes) in [("book.xlsx", xlsx), ("book.ods", ods)] {
        let (entries, report) = run(&[(file, bytes.clone())], "{}");
        let paths: Vec<&String> = entries.keys().collect();
        assert_eq!(paths, ["EHR/20261124/book_Labs.csv", "EHR/20261124/book_Visits.csv"], "{file}");
        assert_eq!(text(&entries, "EHR/20261124/book_Visits.csv"), visits_csv, "{file}");
        assert_eq!(text(&entries, "EHR/20261124/book_Labs.csv"), labs_csv, "{file}");
        assert!(!entries.values().any(|b| b.windows(6).any(|w| w == b"hidden")), "{file}: the hidden sheet is left out");
        let tables: Vec<(&str, Option<&str>, &[String])> = report.tables.iter().map(|t| (t.table.as_str(), t.sheet.as_deref(), &t.hidden_sheets[..])).collect();
        let notes = ["Notes".to_string()];
        assert_eq!(tables, [("book_Visits", Some("Visits"), &notes[..]), ("book_Labs", Some("Labs"), &notes[..])], "{file}");

        let chosen = r#"{"ehr": {"profiles": [{"table": "book_Notes", "columns": [{"name": "Remark", "rule": "keep"}]}]}}"#;
        let (entries, _) = run(&[(file, bytes)], chosen);
        assert_eq!(text(&entries, "EHR/20261124/book_Notes.csv"), "\"Remark\"\n\"hidden words\"\n", "{file}: chosen");
        assert_eq!(entries.len(), 3, "{file}");
    }
    let hidden_only = samples::xlsx_of(&[("Notes", true, notes)]);
    let (entries, report) = run(&[("hidden.xlsx", hidden_only)], "{}");
    let report: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert!(entries.is_empty() && report["tables"].as_array().is_none_or(Vec::is_empty), "{report}");
    assert_eq!(report["files"][0]["code"], "spreadsheet-unreadable", "only a hidden sheet: {report}");
}
