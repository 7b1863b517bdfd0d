//! The wasm build in a real browser (headless Chromium, in a dedicated worker as the page
//! runs it): the same pseudonyms as natively, and a whole export through `WebJob`.

#![cfg(target_arch = "wasm32")]

use capture::pseudonym::Keyring;
use capture_web::WebJob;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
fn pseudonyms_match_the_native_build() {
    let k = Keyring::from_secret(b"correct horse battery staple 2026");
    assert_eq!(k.patient("PID4711X"), "PNMWM5WK3Q8DMQ4E");
    assert_eq!(k.visit("PID4711X", "20240315"), "V52EB717Q3CSJG7G");
    assert_eq!(k.uid("1.2.826.0.1.4711.1"), "2.25.95480004436341308729304945279523683783");
    assert_eq!(k.date_shift("PID4711X"), -693);
}

fn instance(number: i32) -> Vec<u8> {
    let sop = format!("1.2.826.0.1.4711.3.{number}");
    let ds = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.4")),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop.as_str())),
        DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.4711.1")),
        DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.4711.2")),
        DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::from("ORIGINAL\\PRIMARY\\M")),
        DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Doe^Jane")),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("PID4711X")),
        DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20240315")),
        DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(number.to_string())),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(vec![7u8; 32].into())),
    ]);
    let file = ds
        .with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
                .media_storage_sop_instance_uid(sop.as_str())
                .transfer_syntax("1.2.840.10008.1.2.1"),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    bytes
}

#[wasm_bindgen_test]
fn web_job_exports_a_zip_and_reports_every_input() {
    let mut job = WebJob::new(JsValue::NULL, b"correct horse battery staple 2026", "20261124").unwrap();
    let inputs = [instance(2), b"not a DICOM file".to_vec(), instance(1)];
    // As the worker does: the first bytes, then as many as the core asks for.
    for (i, bytes) in inputs.iter().enumerate() {
        let mut len = bytes.len().min(64);
        loop {
            job.buffer(len).copy_from(&bytes[..len]);
            let step: serde_json::Value = serde_wasm_bindgen::from_value(job.scan(&format!("file{i}"), len, bytes.len() as f64).unwrap()).unwrap();
            match step["needMore"].as_f64() {
                Some(n) => len = (n as usize).max(len + 1).min(bytes.len()),
                None => break,
            }
        }
    }
    let plan: Vec<serde_json::Value> = serde_wasm_bindgen::from_value(job.plan().unwrap()).unwrap();
    assert_eq!(plan.len(), 2);
    // As the worker does: each input's views copied out as exportEach hands them over.
    let written = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let into = written.clone();
    let write = Closure::<dyn FnMut(js_sys::Array)>::new(move |views: js_sys::Array| {
        for view in views.iter() {
            into.borrow_mut().extend(js_sys::Uint8Array::from(view).to_vec());
        }
    });
    for step in &plan {
        let input = step["input"].as_u64().unwrap() as usize;
        job.buffer(inputs[input].len()).copy_from(&inputs[input]);
        job.export_each(input, inputs[input].len(), write.as_ref().unchecked_ref()).unwrap();
    }
    let mut zip = written.take();
    zip.extend(job.finish().unwrap());
    assert!(zip.starts_with(b"PK\x03\x04"));
    let paths: Vec<&str> = plan.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["DICOM/20261124/V52EB717Q3CSJG7G/0001.dcm", "DICOM/20261124/V52EB717Q3CSJG7G/0002.dcm"]);
    // Slice order: instance 1 first, whatever the order of the inputs.
    assert_eq!(plan[0]["input"], 2);
    for needle in [&b"Doe^Jane"[..], b"PID4711X", b"1.2.826.0.1.4711"] {
        assert!(!zip.windows(needle.len()).any(|w| w == needle), "{:?} survived", String::from_utf8_lossy(needle));
    }
    let report: serde_json::Value = serde_wasm_bindgen::from_value(job.report().unwrap()).unwrap();
    assert_eq!(report["counts"]["inputs"], 3);
    assert_eq!(report["counts"]["exported"], 2);
    assert_eq!(report["counts"]["skipped"], 1);
    assert_eq!(report["files"][1]["outcome"], "skipped");
}
