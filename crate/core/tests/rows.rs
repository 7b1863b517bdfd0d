//! Every row of DICOM PS3.15 Table E.1-1, read from the shared JSON (not from the
//! generated table the engine uses): a marker is planted in the attribute, at the top
//! level and inside a nested sequence, the instance is de-identified under every preset
//! and option that changes the row's action, and the result must be what the standard
//! prescribes. The expectations are derived here, independently of the engine.

#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use capture::dates::{Date, DatePolicy};
use capture::profile::{self, Opt, Policy, Preset, Subject};
use capture::pseudonym::Keyring;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

const OPTION_COLUMNS: [(&str, Opt); 10] = [
    ("rtnSafePrivOpt", Opt::RetainSafePrivate),
    ("rtnUIDsOpt", Opt::RetainUids),
    ("rtnDevIdOpt", Opt::RetainDeviceIdentity),
    ("rtnInstIdOpt", Opt::RetainInstitutionIdentity),
    ("rtnPatCharsOpt", Opt::RetainPatientCharacteristics),
    ("rtnLongFullDatesOpt", Opt::RetainLongitudinalTemporalInformationFullDates),
    ("rtnLongModifDatesOpt", Opt::RetainLongitudinalTemporalInformationModifiedDates),
    ("cleanDescOpt", Opt::CleanDescriptors),
    ("cleanStructContOpt", Opt::CleanStructuredContent),
    ("cleanGraphOpt", Opt::CleanGraphics),
];

/// The patient of every test instance; its name also appears inside text markers so
/// that cleaning (C) can be seen to remove it.
const PATIENT_NAME: &str = "DOEMARKER^JOHN";
const PATIENT_ID: &str = "PID4711X";
const STUDY_DATE: &str = "20240315";
const MARK_DATE: &str = "19471123";
/// A container sequence that no row of the table names: kept, its items walked.
const CONTAINER: Tag = tags::VOILUT_SEQUENCE;

struct RowSpec {
    name: String,
    tag: Tag,
    vr: VR,
    basic: String,
    options: Vec<(Opt, String)>,
}

fn rows() -> Option<Vec<RowSpec>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/standard/ps3.15-table-e.1-1-rev2024b.json");
    let json = std::fs::read_to_string(&path).ok()?;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&json).unwrap();
    Some(
        rows.iter()
            .map(|r| {
                let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let text = s("tag").unwrap();
                let tag = match text.as_str() {
                    "(50XX,XXXX)" => Tag(0x5000, 0x3000),
                    "(60XX,3000)" => Tag(0x6000, 0x3000),
                    "(60XX,4000)" => Tag(0x6000, 0x4000),
                    "(GGGG,EEEE) WHERE GGGG IS ODD" => Tag(0x0009, 0x1010),
                    t => {
                        let hex = t.trim_matches(['(', ')']).replace(',', "");
                        let n = u32::from_str_radix(&hex, 16).unwrap();
                        Tag((n >> 16) as u16, n as u16)
                    }
                };
                let vr = match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
                    Some(VirtualVr::Exact(vr)) => vr,
                    Some(VirtualVr::Ox) | Some(VirtualVr::Px) => VR::OW,
                    Some(VirtualVr::Xs) => VR::US,
                    Some(VirtualVr::Lt) => VR::OW,
                    _ if tag.group() == 0x5000 => VR::OB,
                    _ => VR::LO,
                };
                let options = OPTION_COLUMNS.iter().filter_map(|(col, opt)| Some((*opt, s(col)?))).collect();
                RowSpec { name: s("name").unwrap(), tag, vr, basic: s("basicProfile").unwrap(), options }
            })
            .collect(),
    )
}

/// The planted value of a row, by VR; `None` for VRs whose marker is checked structurally.
fn marker(i: usize, vr: VR) -> PrimitiveValue {
    match vr {
        VR::AE | VR::CS => PrimitiveValue::from(format!("MRK{i}")),
        VR::SH | VR::LO | VR::LT | VR::ST | VR::UT | VR::UC | VR::PN | VR::UR => {
            PrimitiveValue::from(format!("MRK{i} DOEMARKER"))
        }
        VR::DA => PrimitiveValue::from(MARK_DATE),
        VR::DT => PrimitiveValue::from(format!("{MARK_DATE}101112")),
        VR::TM => PrimitiveValue::from("101112"),
        VR::AS => PrimitiveValue::from("047Y"),
        VR::DS => PrimitiveValue::from("47.11"),
        VR::IS => PrimitiveValue::from("4711"),
        VR::UI => PrimitiveValue::from(format!("1.2.826.0.1.4711.{i}")),
        VR::US => PrimitiveValue::U16([4711].as_slice().into()),
        VR::SS => PrimitiveValue::I16([4711].as_slice().into()),
        VR::UL => PrimitiveValue::U32([4711].as_slice().into()),
        VR::SL => PrimitiveValue::I32([4711].as_slice().into()),
        VR::FL => PrimitiveValue::F32([47.11].as_slice().into()),
        VR::FD => PrimitiveValue::F64([47.11].as_slice().into()),
        VR::AT => PrimitiveValue::Tags([Tag(0x4711, 0x4711)].as_slice().into()),
        _ => PrimitiveValue::U8(b"MRKBYTES".as_slice().into()),
    }
}

fn planted(i: usize, tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    if vr == VR::SQ {
        let item = InMemDicomObject::from_element_iter([DataElement::new(
            tags::CODE_VALUE,
            VR::SH,
            PrimitiveValue::from(format!("MRK{i}")),
        )]);
        DataElement::new(tag, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED))
    } else {
        DataElement::new(tag, vr, marker(i, vr))
    }
}

fn instance(i: usize, row: &RowSpec) -> dicom_object::DefaultDicomObject {
    let mut ds = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.4")),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.4711.999.1")),
        DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.4711.999.2")),
        DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.4711.999.3")),
        DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(PATIENT_NAME)),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from(PATIENT_ID)),
        DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from(STUDY_DATE)),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("MR")),
    ]);
    if row.tag.group() % 2 == 1 {
        ds.put(DataElement::new(Tag(row.tag.group(), 0x0010), VR::LO, PrimitiveValue::from("ACME PRIVATE")));
    }
    ds.put(planted(i, row.tag, row.vr));
    // The same attribute one level down, in an item of a sequence no rule removes.
    let mut item = InMemDicomObject::new_empty();
    if row.tag.group() % 2 == 1 {
        item.put(DataElement::new(Tag(row.tag.group(), 0x0010), VR::LO, PrimitiveValue::from("ACME PRIVATE")));
    }
    item.put(planted(i, row.tag, row.vr));
    ds.put(DataElement::new(CONTAINER, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
    ds.with_meta(
        FileMetaTableBuilder::new()
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
            .media_storage_sop_instance_uid("1.2.826.0.1.4711.999.1")
            .transfer_syntax("1.2.840.10008.1.2.1"),
    )
    .unwrap()
}

/// What must become of the planted value.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Absent,
    Empty,
    /// Present, non-empty, the marker gone.
    Dummy,
    /// A sequence of one item holding none of the planted values (a dummy carries no
    /// original content).
    DummyItems,
    /// The keyed replacement of the planted UID.
    Uid,
    Kept,
    /// Dates moved by the policy; text without the patient's name; others dummies.
    Cleaned,
    /// Attributes this tool always writes itself.
    Written(&'static str),
}

/// The row's action as PS3.15 E.1.1 and the options define it, resolved with the VR.
fn expected(row: &RowSpec, preset: Preset, policy: &Policy) -> Expect {
    match row.tag {
        tags::PATIENT_NAME | tags::PATIENT_ID => return Expect::Written("patient"),
        tags::STUDY_ID => return Expect::Written("visit"),
        tags::PATIENT_IDENTITY_REMOVED => return Expect::Written("YES"),
        tags::DEIDENTIFICATION_METHOD
        | tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE
        | tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED => return Expect::Written("method"),
        _ => {}
    }
    if row.tag == tags::PATIENT_BIRTH_DATE && policy.dates == DatePolicy::Month {
        return Expect::Written("year");
    }
    if preset == Preset::Mip {
        match row.tag {
            // Kept for protocol matching, cleaned of the instance's identifiers.
            tags::SERIES_DESCRIPTION | tags::PROTOCOL_NAME => return Expect::Cleaned,
            tags::PATIENT_BIRTH_DATE => return Expect::Written("year"),
            tags::PATIENT_AGE => return Expect::Written("age"),
            _ => {}
        }
    }
    let chosen: Vec<&str> = row.options.iter().filter(|(o, _)| policy.options.contains(o)).map(|(_, c)| c.as_str()).collect();
    let code = if chosen.contains(&"K") {
        "K"
    } else if chosen.contains(&"C") {
        "C"
    } else {
        row.basic.as_str()
    };
    // Private attributes: only safe ones survive, and the planted one is not on the list.
    if row.tag.group() % 2 == 1 {
        return Expect::Absent;
    }
    match (code, row.vr) {
        ("X", _) => Expect::Absent,
        ("Z" | "X/Z", _) => Expect::Empty,
        ("K", VR::UI) => Expect::Kept,
        ("K", _) => Expect::Kept,
        ("U", _) => Expect::Uid,
        ("D" | "X/D" | "Z/D" | "X/Z/D", VR::UI) => Expect::Uid,
        ("D" | "X/D" | "Z/D" | "X/Z/D", VR::SQ) => Expect::DummyItems,
        ("D" | "X/D" | "Z/D" | "X/Z/D", _) => Expect::Dummy,
        ("X/Z/U*", VR::SQ) => Expect::Kept,
        ("X/Z/U*", VR::UI) => Expect::Uid,
        ("X/Z/U*", _) => Expect::Empty,
        ("C", VR::SQ) => Expect::Kept,
        ("C", _) => Expect::Cleaned,
        (other, vr) => panic!("row {}: unexpected action {other} for VR {vr:?}", row.name),
    }
}

fn strings(e: &DataElement<InMemDicomObject>) -> Vec<String> {
    match e.value() {
        Value::Primitive(p) => p.to_multi_str().iter().map(|s| s.trim_end_matches(['\0', ' ']).to_string()).collect(),
        _ => Vec::new(),
    }
}

fn is_empty(e: &DataElement<InMemDicomObject>) -> bool {
    match e.value() {
        Value::Sequence(s) => s.items().is_empty(),
        Value::Primitive(PrimitiveValue::Empty) => true,
        Value::Primitive(p) => p.to_bytes().iter().all(|&b| b == 0 || b == b' ') && p.to_bytes().is_empty(),
        Value::PixelSequence(_) => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn check(i: usize, row: &RowSpec, expect: &Expect, e: Option<&DataElement<InMemDicomObject>>, keyring: &Keyring, policy: &Policy, at: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("row {i} {} {} ({at}, {expect:?}): {why}", row.name, row.tag));
    let planted_text = strings(&planted(i, row.tag, row.vr));
    match (expect, e) {
        (Expect::Absent, None) => Ok(()),
        (Expect::Absent, Some(e)) => fail(format!("still present: {:?}", strings(e))),
        (_, None) => fail("missing".into()),
        (Expect::Empty, Some(e)) if is_empty(e) => Ok(()),
        (Expect::Empty, Some(e)) => fail(format!("not empty: {:?}", strings(e))),
        (Expect::Kept, Some(e)) if row.vr == VR::SQ => match e.value() {
            Value::Sequence(s) if s.items().len() == 1 => Ok(()),
            _ => fail("sequence not kept".into()),
        },
        (Expect::Kept, Some(e)) if e.value() == planted(i, row.tag, row.vr).value() || strings(e) == planted_text => Ok(()),
        (Expect::Kept, Some(e)) => fail(format!("changed to {:?}", strings(e))),
        (Expect::Uid, Some(e)) => {
            let want = keyring.uid(&planted_text[0]);
            if strings(e) == [want.clone()] { Ok(()) } else { fail(format!("{:?} is not {want}", strings(e))) }
        }
        (Expect::DummyItems, Some(e)) => match e.value() {
            Value::Sequence(s) if s.items().len() == 1 => {
                let code = s.items()[0].element(tags::CODE_VALUE).ok().map(strings).unwrap_or_default();
                if code.iter().any(|v| v.contains("MRK")) { fail(format!("the item kept {code:?}")) } else { Ok(()) }
            }
            _ => fail("not a sequence of one item".into()),
        },
        (Expect::Dummy, Some(e)) => {
            if is_empty(e) {
                fail("empty, a dummy was expected".into())
            } else if !planted_text.is_empty() && strings(e) == planted_text || e.value() == planted(i, row.tag, row.vr).value() {
                fail("the marker survived".into())
            } else {
                Ok(())
            }
        }
        (Expect::Cleaned, Some(e)) => {
            let got = strings(e);
            let shift = keyring.date_shift(PATIENT_ID);
            let date = || policy.dates.apply(Date::parse_da(MARK_DATE).unwrap(), shift).map(Date::to_da).unwrap_or_default();
            let ok = match row.vr {
                VR::DA => got == [date()],
                VR::DT => match policy.dates {
                    DatePolicy::Month => got == [date()],
                    _ => got == [format!("{}101112", date())],
                },
                VR::TM => match policy.dates {
                    DatePolicy::Shift | DatePolicy::Keep => got == ["101112"],
                    // Times go; where the row allows a dummy the attribute may be Type 1.
                    _ if matches!(row.basic.as_str(), "D" | "X/D" | "Z/D" | "X/Z/D") => got == ["000000"],
                    _ => is_empty(e),
                },
                // A temporal attribute of a text VR (Timezone Offset From UTC) keeps only a
                // value proven harmless by its syntax; the marker is not one.
                VR::SH if row.options.iter().any(|(o, c)| *o == Opt::RetainLongitudinalTemporalInformationModifiedDates && c == "C") => is_empty(e),
                // A person's name cannot be cleaned: a dummy.
                VR::PN => !is_empty(e) && !got.iter().any(|v| v.contains("MRK") || v.contains("DOEMARKER")),
                VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC => got == [format!("MRK{i}")],
                VR::CS => got == [format!("MRK{i}")],
                _ => !is_empty(e) && got != planted_text,
            };
            if ok { Ok(()) } else { fail(format!("cleaned to {got:?}")) }
        }
        (Expect::Written(what), Some(e)) => {
            let got = strings(e);
            let ok = match *what {
                "patient" => got == ["PRESEARCHPATIENT"],
                "visit" => got == ["VRESEARCHVISIT01"],
                "year" => got == ["19470101"],
                "YES" => got == ["YES"],
                _ => !got.iter().any(|v| v.contains("MRK")),
            };
            if ok { Ok(()) } else { fail(format!("written as {got:?}")) }
        }
    }
}

#[test]
fn every_row_of_table_e1_1_gets_its_action() {
    let Some(rows) = rows() else {
        panic!("../shared/standard/ps3.15-table-e.1-1-rev2024b.json is missing: the standard must be beside the repository");
    };
    let keyring = Keyring::from_secret(b"rows test secret");
    let mut covered = 0;
    let mut runs = 0;
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        // The presets, and the Basic Profile with each option that changes this row.
        let mut policies = vec![
            (Preset::Basic, Policy::new(Preset::Basic, &[], None)),
            (Preset::Mip, Policy::new(Preset::Mip, &[], None)),
        ];
        for (opt, _) in &row.options {
            match opt {
                Opt::RetainLongitudinalTemporalInformationFullDates => {
                    policies.push((Preset::Basic, Policy::new(Preset::Basic, &[], Some(DatePolicy::Keep))))
                }
                Opt::RetainLongitudinalTemporalInformationModifiedDates => {
                    policies.push((Preset::Basic, Policy::new(Preset::Basic, &[], Some(DatePolicy::Month))));
                    policies.push((Preset::Basic, Policy::new(Preset::Basic, &[], Some(DatePolicy::Shift))));
                }
                opt => policies.push((Preset::Basic, Policy::new(Preset::Basic, &[*opt], None))),
            }
        }
        for (preset, policy) in &policies {
            let expect = expected(row, *preset, policy);
            let subject = Subject {
                keyring: &keyring,
                policy,
                patient: "PRESEARCHPATIENT",
                visit: "VRESEARCHVISIT01",
                shift_days: keyring.date_shift(PATIENT_ID),
            };
            let out = profile::deidentify(instance(i, row), &subject)
                .unwrap_or_else(|e| panic!("row {i} {}: de-identification failed: {e}", row.name));
            if let Err(e) = capture::dicom::encode(&out) {
                failures.push(format!("row {i} {}: cannot encode: {e}", row.name));
            }
            let top = out.element_opt(row.tag).ok().flatten();
            let nested = out
                .element_opt(CONTAINER)
                .ok()
                .flatten()
                .and_then(|c| c.items().and_then(|items| items.first()).and_then(|item| item.element_opt(row.tag).ok().flatten()));
            for (at, e) in [("top level", top), ("nested", nested)] {
                // What the tool writes itself exists only at the top level.
                // Replacements apply at every depth; the method attributes and the computed
                // age are written once, at the top level.
                let expect = match (&expect, at) {
                    (Expect::Written("patient" | "visit" | "year"), _) => expect.clone(),
                    (Expect::Written(_), "nested") => Expect::Absent,
                    _ => expect.clone(),
                };
                if let Err(e) = check(i, row, &expect, e, &keyring, policy, at) {
                    failures.push(e);
                }
            }
            runs += 1;
        }
        covered += 1;
    }
    eprintln!("Table E.1-1: {covered} rows covered, {runs} preset/option runs, {} failures", failures.len());
    assert!(failures.is_empty(), "{} failures:\n  {}", failures.len(), failures.join("\n  "));
    assert_eq!(covered, 621, "every row of Table E.1-1");
}
