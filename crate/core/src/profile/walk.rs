//! Applies the policy to one instance: every element at every depth of every sequence,
//! elements after Pixel Data included. Pixel data is moved, never decoded or copied.
//!
//! UIDs are remapped through the keyed [`Keyring::uid`], so references between the
//! instances of one export stay valid while no original UID survives.

use std::collections::{BTreeMap, BTreeSet};

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::scrub::{scrub, scrub_words};
use super::audit::Identifiers;
use super::{private, row, simple, Action, Code, Opt, Policy, Preset};
use crate::dates::{Date, DatePolicy};
use crate::dicom::{self, reinterpret_un, text, Object};
use crate::error::FileError;
use crate::pseudonym::Keyring;

type Element = dicom_object::mem::InMemElement;

/// The name of this tool as written into DeidentificationMethod.
pub const TOOL: &str = concat!("mip-data-capture ", env!("CARGO_PKG_VERSION"));

/// UIDs defined by the standard (SOP classes, transfer syntaxes, coding schemes...)
/// identify nobody and must be kept for the file to stay readable.
const STANDARD_UID_ROOT: &str = "1.2.840.10008.";

/// Sequences are this deep at most in real files; deeper is hostile input.
const MAX_DEPTH: usize = 64;

/// Whom the instance belongs to, as far as the export is concerned.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub keyring: &'a Keyring,
    pub policy: &'a Policy,
    /// Research patient ID: replaces PatientID and PatientName.
    pub patient: &'a str,
    /// scan_research_id of the visit: goes into StudyID.
    pub visit: &'a str,
    /// The patient's offset for the `shift` date policy, in days.
    pub shift_days: i64,
}

/// De-identifies a whole file: data set and file meta group.
pub fn deidentify(object: Object, subject: &Subject) -> Result<Object, FileError> {
    let meta = object.meta();
    let transfer_syntax = meta.transfer_syntax().trim_end_matches('\0').to_string();
    // Some files carry their SOP Class and Instance UIDs only in the meta group.
    let meta_class = meta.media_storage_sop_class_uid().trim_end_matches('\0').to_string();
    let meta_instance = subject.keyring.uid(meta.media_storage_sop_instance_uid());
    let dataset = object.into_inner();

    let identifiers = Identifiers::collect(&dataset, subject.policy, subject.shift_days);
    let walk = Walk { subject, words: identifiers.words() };
    let age = (subject.policy.preset == Preset::Mip).then(|| patient_age(&dataset)).flatten();
    let mut clean = walk.dataset(dataset, 0, Mode::Rules)?;

    // Always present, even where the source lacked them: the research patient ID is what
    // links the images to the EHR tables, and StudyID names the visit.
    let put_text = |clean: &mut InMemDicomObject, tag, vr, value: &str| {
        clean.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    put_text(&mut clean, tags::PATIENT_ID, VR::LO, subject.patient);
    put_text(&mut clean, tags::PATIENT_NAME, VR::PN, subject.patient);
    put_text(&mut clean, tags::STUDY_ID, VR::SH, subject.visit);
    if let Some(age) = age {
        put_text(&mut clean, tags::PATIENT_AGE, VR::AS, &age);
    }
    record_method(&mut clean, subject.policy);
    // Nothing of the input's identifiers may be left that the options do not keep.
    identifiers.audit(&clean).map_err(|f| FileError::Identifiable { kind: f.kind.name(), source: f.source, found_at: f.found_at })?;

    let sop_class = text(&clean, tags::SOP_CLASS_UID).unwrap_or(meta_class);
    let sop_instance = text(&clean, tags::SOP_INSTANCE_UID).unwrap_or(meta_instance);
    if sop_class.is_empty() {
        return Err(FileError::NoSopClass);
    }
    // The meta group is rebuilt from scratch: the source's AE titles and private
    // meta information could identify the sending hospital.
    Ok(clean.with_exact_meta(dicom::meta(&sop_class, &sop_instance, &transfer_syntax)?))
}

/// PS3.15 E.1.1: Patient Identity Removed, the method in words and in CID 7050 codes,
/// and what happened to the dates.
fn record_method(clean: &mut InMemDicomObject, policy: &Policy) {
    clean.put(DataElement::new(tags::PATIENT_IDENTITY_REMOVED, VR::CS, PrimitiveValue::from("YES")));
    let method: Vec<String> = policy.method();
    clean.put(DataElement::new(tags::DEIDENTIFICATION_METHOD, VR::LO, PrimitiveValue::Strs(method.into())));
    let items: Vec<InMemDicomObject> = policy
        .method_codes()
        .into_iter()
        .map(|(value, meaning)| {
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(value)),
                DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("DCM")),
                DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(meaning)),
            ])
        })
        .collect();
    clean.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(items, Length::UNDEFINED),
    ));
    let dates = match policy.dates {
        DatePolicy::Keep => "UNMODIFIED",
        DatePolicy::Month | DatePolicy::Shift => "MODIFIED",
        DatePolicy::Remove => "REMOVED",
    };
    clean.put(DataElement::new(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED, VR::CS, PrimitiveValue::from(dates)));
}

/// PatientAge (AS) from the original birth and study dates, before they are reduced.
fn patient_age(ds: &InMemDicomObject) -> Option<String> {
    let date = |tag| text(ds, tag).and_then(|t| Date::parse_da(&t));
    let birth = date(tags::PATIENT_BIRTH_DATE);
    let on = [tags::STUDY_DATE, tags::SERIES_DATE, tags::ACQUISITION_DATE, tags::CONTENT_DATE].into_iter().find_map(date);
    let age = match (birth, on) {
        (Some(birth), Some(on)) if on >= birth => {
            let years = birth.years_until(on);
            let days = on.days() - birth.days();
            if years >= 1 {
                format!("{:03}Y", years.min(999))
            } else if days >= 31 {
                let months = (on.year as i64 * 12 + on.month as i64) - (birth.year as i64 * 12 + birth.month as i64)
                    - i64::from(on.day < birth.day);
                format!("{:03}M", months.max(1))
            } else {
                format!("{days:03}D")
            }
        }
        // Retain Patient Characteristics keeps the recorded age when it cannot be computed.
        _ => text(ds, tags::PATIENT_AGE)?,
    };
    Some(age)
}

struct Walk<'a> {
    subject: &'a Subject<'a>,
    words: Vec<Vec<String>>,
}

/// How the walk treats the attributes that no row of the table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Kept (UIDs remapped): the table lists what identifies.
    Rules,
    /// Inside a sequence being cleaned (C) or kept only for its references (X/Z/U*): every
    /// leaf is cleaned too, since nothing says the free text of such items is harmless.
    Clean,
}

impl Walk<'_> {
    fn dataset(&self, dataset: InMemDicomObject, depth: usize, mode: Mode) -> Result<InMemDicomObject, FileError> {
        if depth > MAX_DEPTH {
            return Err(FileError::TooDeep { levels: MAX_DEPTH });
        }
        let kept_private = self.kept_private(&dataset);
        // Overlay Data is removed unless Clean Graphics keeps it; the rest of its Overlay
        // Plane module then goes too, or the file would hold an overlay without its bits.
        let overlay_data = row(Tag(0x6000, 0x3000)).map(|r| self.subject.policy.resolve(r));
        let drop_overlays = overlay_data == Some(Code::X);
        let mut out = Vec::new();
        for element in dataset {
            if drop_overlays && is_overlay(element.tag()) {
                continue;
            }
            if element.tag().group() % 2 == 1 {
                if kept_private.contains(&element.tag()) {
                    out.push(element);
                }
                continue;
            }
            if let Some(e) = self.element(element, depth, mode)? {
                out.push(e);
            }
        }
        Ok(InMemDicomObject::from_element_iter(out))
    }

    /// The private elements kept: the safe ones and the creators of their blocks, when the
    /// Retain Safe Private option is on. Every other private element goes.
    fn kept_private(&self, dataset: &InMemDicomObject) -> BTreeSet<Tag> {
        let mut kept = BTreeSet::new();
        if !self.subject.policy.options.contains(&Opt::RetainSafePrivate) {
            return kept;
        }
        let mut creators: BTreeMap<(u16, u16), String> = BTreeMap::new();
        for e in dataset.iter() {
            let t = e.tag();
            if t.group() % 2 == 1 && (0x10..=0xFF).contains(&t.element()) {
                if let Ok(name) = e.to_str() {
                    creators.insert((t.group(), t.element()), name.into_owned());
                }
            }
        }
        for e in dataset.iter() {
            let t = e.tag();
            let block = (t.group(), t.element() >> 8);
            if t.group() % 2 == 1 && t.element() >= 0x1000 && !matches!(e.vr(), VR::SQ | VR::UN) {
                if creators.get(&block).is_some_and(|c| private::is_safe(c, t.group(), t.element())) {
                    kept.insert(t);
                    kept.insert(Tag(block.0, block.1));
                }
            }
        }
        kept
    }

    fn element(&self, element: Element, depth: usize, mode: Mode) -> Result<Option<Element>, FileError> {
        let element = if element.vr() == VR::UN { reinterpret_un(element) } else { element };
        let (tag, vr) = (element.tag(), element.vr());
        let subject = self.subject;
        if vr == VR::UN {
            // Opaque bytes that no rule can read: emptied or replaced where the table says
            // so (the attribute may be required), otherwise removed, never passed on.
            return Ok(match subject.policy.action(tag) {
                Action::Code(code) => match simple(code, vr) {
                    Code::Z => Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
                    Code::D => Some(DataElement::new(tag, vr, dummy(vr))),
                    _ => None,
                },
                _ => None,
            });
        }
        let replace = |value: &str| Some(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        Ok(match subject.policy.action(tag) {
            Action::Patient => replace(subject.patient),
            Action::Visit => replace(subject.visit),
            Action::BirthYear => {
                let year = strings(&element).first().and_then(|t| Date::parse_da(t)).map(|d| format!("{:04}0101", d.year));
                Some(DataElement::new(tag, vr, year.map(PrimitiveValue::from).unwrap_or(PrimitiveValue::Empty)))
            }
            Action::Unlisted if mode == Mode::Clean => self.clean(element, depth, false)?,
            Action::Unlisted if vr == VR::UI => Some(self.uids(element)),
            Action::Unlisted => self.keep(element, depth, Mode::Rules)?,
            Action::Code(code) => self.apply(simple(code, vr), element, depth, mode)?,
        })
    }

    fn apply(&self, code: Code, element: Element, depth: usize, mode: Mode) -> Result<Option<Element>, FileError> {
        let (tag, vr) = (element.tag(), element.vr());
        Ok(match code {
            // Kept by an option, but inside a sequence being cleaned its text is cleaned too:
            // the identifiers of others go, the kept value's own words stay.
            Code::K if mode == Mode::Clean && is_text(vr) => self.clean(element, depth, false)?,
            Code::K => self.keep(element, depth, Mode::Rules)?,
            Code::X => None,
            Code::Z if vr == VR::SQ => Some(DataElement::new(tag, vr, DataSetSequence::new(Vec::<InMemDicomObject>::new(), Length::UNDEFINED))),
            Code::Z => Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
            Code::U => Some(remap_uids(element, self.subject.keyring)),
            Code::D => match vr {
                VR::SQ => Some(self.dummy_sequence(element, depth)?),
                VR::UI => Some(remap_uids(element, self.subject.keyring)),
                _ => Some(DataElement::new(tag, vr, dummy(vr))),
            },
            Code::C => self.clean(element, depth, true)?,
            compound => unreachable!("{compound:?} is resolved by `simple`"),
        })
    }

    /// Keeps an element; a sequence's items go through the rules themselves.
    fn keep(&self, element: Element, depth: usize, mode: Mode) -> Result<Option<Element>, FileError> {
        let (header, value) = element.into_parts();
        Ok(Some(match value {
            Value::Sequence(seq) => {
                let items = seq
                    .into_items()
                    .into_iter()
                    .map(|item| self.dataset(item, depth + 1, mode))
                    .collect::<Result<Vec<_>, _>>()?;
                DataElement::new(header.tag, header.vr, DataSetSequence::new(items, Length::UNDEFINED))
            }
            other => DataElement::new(header.tag, header.vr, other),
        }))
    }

    /// C: values of similar meaning that do not identify. Dates follow the date policy,
    /// free text loses the words that name the patient and staff, and long numbers; a
    /// person's name cannot be cleaned and becomes a dummy. `listed`: the attribute has a row
    /// whose action is C (its numbers and bytes become dummies); else it is a leaf of a
    /// sequence being cleaned (numbers, flags and bytes of such items are kept).
    fn clean(&self, element: Element, depth: usize, listed: bool) -> Result<Option<Element>, FileError> {
        let (tag, vr) = (element.tag(), element.vr());
        let policy = self.subject.policy.dates;
        let shift = self.subject.shift_days;
        let values = strings(&element);
        let rewrite = |f: &dyn Fn(&str) -> Option<String>| -> Option<Element> {
            let out: Vec<String> = values.iter().filter_map(|v| f(v)).collect();
            let value = if out.is_empty() { PrimitiveValue::Empty } else { PrimitiveValue::Strs(out.into()) };
            Some(DataElement::new(tag, vr, value))
        };
        Ok(match vr {
            VR::SQ => self.keep(element, depth, Mode::Clean)?,
            VR::DA => rewrite(&|v| Date::parse_da(v).and_then(|d| policy.apply(d, shift)).map(Date::to_da)),
            VR::DT => rewrite(&|v| {
                let date = Date::parse_da(v.get(..8)?).and_then(|d| policy.apply(d, shift))?;
                Some(match policy {
                    // Reduced to the month, the time of day goes too.
                    DatePolicy::Month => date.to_da(),
                    _ => format!("{}{}", date.to_da(), v.get(8..)?),
                })
            }),
            VR::TM => match policy {
                DatePolicy::Keep | DatePolicy::Shift => self.keep(element, depth, Mode::Rules)?,
                // Times go; a dummy where the attribute may be Type 1 (its row allows D).
                DatePolicy::Month | DatePolicy::Remove if row_allows_dummy(tag) => Some(DataElement::new(tag, vr, dummy(vr))),
                DatePolicy::Month | DatePolicy::Remove => Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
            },
            VR::UI => Some(self.uids(element)),
            // A person's name and an AE title cannot be cleaned into something harmless.
            VR::PN | VR::AE => Some(DataElement::new(tag, vr, dummy(vr))),
            // A temporal attribute of a text VR (Timezone Offset From UTC): kept only where
            // its syntax proves it holds nothing else.
            _ if is_text(vr) && super::is_temporal(tag) => rewrite(&|v| is_utc_offset(v).then(|| v.to_string())),
            // Codes (a code value, a value type) are not free text: only identifiers go.
            _ if vr == VR::CS || CODES.contains(&tag) => rewrite(&|v| Some(scrub_words(v, &self.words))),
            _ if is_text(vr) => rewrite(&|v| Some(scrub(v, &self.words))),
            _ if listed => Some(DataElement::new(tag, vr, dummy(vr))),
            _ => self.keep(element, depth, Mode::Rules)?,
        })
    }

    /// D on a sequence: a dummy carries no original content. One item (none if the original
    /// had none) with the first item's attributes, each a dummy of its VR: codes become the
    /// de-identification code, UIDs their keyed replacements, private attributes go.
    fn dummy_sequence(&self, element: Element, depth: usize) -> Result<Element, FileError> {
        if depth > MAX_DEPTH {
            return Err(FileError::TooDeep { levels: MAX_DEPTH });
        }
        let (header, value) = element.into_parts();
        let first = match value {
            Value::Sequence(seq) => seq.into_items().into_iter().next(),
            _ => None,
        };
        let mut items = Vec::new();
        if let Some(first) = first {
            let mut item = Vec::new();
            for e in first {
                let (tag, vr) = (e.tag(), e.vr());
                if tag.group() % 2 == 1 {
                    continue;
                }
                item.push(match (tag, vr) {
                    (_, VR::SQ) => self.dummy_sequence(e, depth + 1)?,
                    // A dummy, even under Retain UIDs: the keyed replacement (standard UIDs kept).
                    (_, VR::UI) => remap_uids(e, self.subject.keyring),
                    (tags::CODE_VALUE, _) => DataElement::new(tag, vr, PrimitiveValue::from(DEID_CODE.0)),
                    (tags::CODING_SCHEME_DESIGNATOR, _) => DataElement::new(tag, vr, PrimitiveValue::from(DEID_CODE.1)),
                    (tags::CODE_MEANING, _) => DataElement::new(tag, vr, PrimitiveValue::from(DEID_CODE.2)),
                    // An enumerated term (a content item's value or relationship type) stays
                    // where it cannot be anything else: letters only, none of an identifier.
                    (_, VR::CS) if is_term(&e, &self.words) => e,
                    _ => DataElement::new(tag, vr, dummy(vr)),
                });
            }
            items.push(InMemDicomObject::from_element_iter(item));
        }
        Ok(DataElement::new(header.tag, VR::SQ, DataSetSequence::new(items, Length::UNDEFINED)))
    }

    /// UIDs replaced by their keyed pseudonyms, unless Retain UIDs keeps them.
    fn uids(&self, element: Element) -> Element {
        if self.subject.policy.options.contains(&Opt::RetainUids) {
            return element;
        }
        remap_uids(element, self.subject.keyring)
    }
}

/// The code written in the items of a dummied coded sequence: a local coding scheme (PS3.3
/// 8.2: designators beginning with "99"), value and meaning saying what happened.
const DEID_CODE: (&str, &str, &str) = ("DEIDENTIFIED", "99CAPTURE", "De-identified");

/// The attributes of a coded entry that hold codes, not text.
const CODES: [Tag; 5] =
    [tags::CODE_VALUE, tags::CODING_SCHEME_DESIGNATOR, tags::CODING_SCHEME_VERSION, tags::LONG_CODE_VALUE, tags::URN_CODE_VALUE];

/// A code string of terms made of letters (and `_`, space) only, none an identifier's word.
fn is_term(element: &Element, words: &[Vec<String>]) -> bool {
    let values = strings(element);
    !values.is_empty()
        && values.iter().all(|v| {
            !v.is_empty()
                && v.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c == ' ')
                && scrub_words(v, words) == *v
        })
}

/// Text VRs, whose values the Clean action scrubs.
fn is_text(vr: VR) -> bool {
    matches!(vr, VR::CS | VR::LO | VR::LT | VR::SH | VR::ST | VR::UC | VR::UT)
}

/// `±HHMM` with an offset that exists (PS3.3 C.12.1.1.8: -1200 to +1400).
fn is_utc_offset(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (hours, minutes) = (value[1..3].parse::<u32>().unwrap_or(99), value[3..].parse::<u32>().unwrap_or(99));
    minutes < 60 && hours <= 14
}

/// Whether the Basic Profile action of the tag's row includes D: the attribute may be
/// required (Type 1), so an emptied value would make the file invalid.
fn row_allows_dummy(tag: Tag) -> bool {
    row(tag).is_some_and(|r| matches!(r.2, Code::D | Code::XD | Code::ZD | Code::XZD))
}

/// Whether the element belongs to an overlay group (60xx, even).
fn is_overlay(tag: Tag) -> bool {
    tag.group() & 0xFF01 == 0x6000
}

/// The values of a primitive element as strings, padding removed.
fn strings(element: &Element) -> Vec<String> {
    match element.value() {
        Value::Primitive(p) => p.to_multi_str().iter().map(|s| s.trim_matches(['\0', ' ']).to_string()).collect(),
        _ => Vec::new(),
    }
}

/// D: a non-zero-length value consistent with the VR that means nothing.
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::DT => PrimitiveValue::from("19000101000000"),
        VR::TM => PrimitiveValue::from("000000"),
        VR::AS => PrimitiveValue::from("000Y"),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT | VR::UR => {
            PrimitiveValue::from("ANONYMIZED")
        }
        VR::US => PrimitiveValue::U16(std::iter::once(0).collect()),
        VR::SS => PrimitiveValue::I16(std::iter::once(0).collect()),
        VR::UL => PrimitiveValue::U32(std::iter::once(0).collect()),
        VR::SL => PrimitiveValue::I32(std::iter::once(0).collect()),
        VR::UV => PrimitiveValue::U64(std::iter::once(0).collect()),
        VR::SV => PrimitiveValue::I64(std::iter::once(0).collect()),
        VR::FL => PrimitiveValue::F32(std::iter::once(0.0).collect()),
        VR::FD => PrimitiveValue::F64(std::iter::once(0.0).collect()),
        VR::AT => PrimitiveValue::Tags(std::iter::once(Tag(0, 0)).collect()),
        _ => PrimitiveValue::U8(vec![0, 0].into()),
    }
}

fn remap_uids(element: Element, keyring: &Keyring) -> Element {
    let tag = element.tag();
    let mapped: Vec<String> = strings(&element)
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| if v.starts_with(STANDARD_UID_ROOT) { v.to_string() } else { keyring.uid(v) })
        .collect();
    let value = if mapped.is_empty() { PrimitiveValue::Empty } else { PrimitiveValue::Strs(mapped.into()) };
    DataElement::new(tag, VR::UI, value)
}
