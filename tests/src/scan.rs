//! Checks on an export zip: its layout, and a byte scan for values that must not survive.

use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;

/// Every entry of a zip as (name, decompressed bytes).
pub fn entries(zip_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("zip entry");
            let name = entry.name().expect("zip entry name is UTF-8").to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read zip entry");
            (name, data)
        })
        .collect()
}

/// Asserts every entry is `DICOM/<date>/<[0-9A-Z]+>/<NNNN>.dcm`; returns all entries.
pub fn check_dicom_layout(zip_bytes: &[u8], date: &str) -> Vec<(String, Vec<u8>)> {
    let entries = entries(zip_bytes);
    assert!(!entries.is_empty(), "the zip has no entries");
    for (name, _) in &entries {
        let parts: Vec<&str> = name.split('/').collect();
        let ok = parts.len() == 4
            && parts[0] == "DICOM"
            && parts[1].len() == 8
            && parts[1].bytes().all(|b| b.is_ascii_digit())
            && !parts[2].is_empty()
            && parts[2].len() <= 16
            && parts[2].bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && parts[3].len() >= 8
            && parts[3].ends_with(".dcm")
            && parts[3][..parts[3].len() - 4].bytes().all(|b| b.is_ascii_digit());
        assert!(ok, "zip entry {name:?} does not match DICOM/YYYYMMDD/<ID>/NNNN.dcm");
        assert_eq!(parts[1], date, "zip entry {name:?} is not dated {date}");
    }
    entries
}

/// An input DICOM file, read by dicom-object; a data set in implicit VR under an explicit
/// VR label (pydicom's SC_rgb_jpeg.dcm), which dicom-object refuses and pydicom reads, is
/// read as the export reads it.
pub fn read_input(path: &Path) -> dicom_object::DefaultDicomObject {
    dicom_object::open_file(path).unwrap_or_else(|e| {
        let bytes = std::fs::read(path).unwrap();
        capture::dicom::parse(&bytes, false).unwrap_or_else(|_| panic!("dicom-object cannot read {}: {e}", path.display()))
    })
}

/// Identifying values of a DICOM file: PatientName, PatientID and every UID that is not
/// a standard one (study, series, SOP instance, frame of reference, media storage SOP instance),
/// as (keyword, value).
pub fn identifying_values(path: &Path) -> Vec<(String, String)> {
    let obj = read_input(path);
    let mut out = Vec::new();
    let wanted = [
        ("PatientName", tags::PATIENT_NAME),
        ("PatientID", tags::PATIENT_ID),
        ("StudyInstanceUID", tags::STUDY_INSTANCE_UID),
        ("SeriesInstanceUID", tags::SERIES_INSTANCE_UID),
        ("SOPInstanceUID", tags::SOP_INSTANCE_UID),
        ("FrameOfReferenceUID", tags::FRAME_OF_REFERENCE_UID),
    ];
    for (keyword, tag) in wanted {
        if let Some(v) = element_text(&obj, tag) {
            if !v.is_empty() {
                out.push((keyword.to_string(), v));
            }
        }
    }
    let media = obj.meta().media_storage_sop_instance_uid().trim_end_matches(['\0', ' ']);
    if !media.is_empty() {
        out.push(("MediaStorageSOPInstanceUID".into(), media.to_string()));
    }
    out
}

/// A text attribute without padding; values written with VR UN are read as the text they hold.
pub fn element_text(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let e = obj.element(tag).ok()?;
    let text = if e.vr() == dicom_core::VR::UN {
        e.to_bytes().ok()?.iter().map(|&b| b as char).collect()
    } else {
        e.to_str().ok()?.into_owned()
    };
    Some(text.trim_end_matches(['\0', ' ']).to_string())
}

/// Where `needle` occurs in the zip: its raw bytes, a decompressed entry or an entry name.
pub fn find_in_zip(zip_bytes: &[u8], entries: &[(String, Vec<u8>)], needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    if contains(zip_bytes, needle) {
        found.push("the zip bytes".to_string());
    }
    for (name, data) in entries {
        if contains(data, needle) || contains(name.as_bytes(), needle) {
            found.push(format!("entry {name}"));
        }
    }
    found
}

/// Asserts none of the identifying values of the DICOM `inputs` occurs in the zip.
pub fn assert_no_identifiers(zip_bytes: &[u8], entries: &[(String, Vec<u8>)], inputs: &[impl AsRef<Path>]) {
    let mut leaks = Vec::new();
    for input in inputs.iter().map(AsRef::as_ref).filter(|p| p.extension().is_some_and(|e| e == "dcm")) {
        let values = identifying_values(input);
        assert!(
            values.iter().any(|(k, _)| k == "PatientName") && values.iter().any(|(k, _)| k == "PatientID"),
            "fixture {} lacks PatientName/PatientID: pick another",
            input.display()
        );
        for (keyword, value) in values {
            for place in find_in_zip(zip_bytes, entries, value.as_bytes()) {
                leaks.push(format!("{keyword} {value:?} of {} in {place}", input.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "identifying values leaked into the export:\n  {}", leaks.join("\n  "));
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

/// The data set of a deflated output, inflated; `None` for any other transfer syntax.
pub fn inflated(file: &[u8]) -> Option<Vec<u8>> {
    let obj = dicom_object::OpenFileOptions::new().read_until(dicom_dictionary_std::tags::PIXEL_DATA).from_reader(&file[128..]).ok()?;
    if obj.meta().transfer_syntax().trim_end_matches('\0') != "1.2.840.10008.1.2.1.99" {
        return None;
    }
    let group_length = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&file[144 + group_length..]), &mut out)
        .expect("inflate a deflated data set");
    Some(out)
}
