//! The output audit: before a de-identified file is written, every identifying value of its
//! input (person names and their parts, IDs, UIDs, dates in the forms people write them,
//! addresses, phone numbers, institutions; at every depth, private groups included) is
//! searched for in the output, in its decoded text values and in the bytes of its binary
//! values. A value that the chosen options explicitly keep is not searched for. A hit means
//! the file is not exported: the engine missed something, and the report says where.

use std::collections::{BTreeSet, HashMap};

use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::header::Header;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::scrub::words_of;
use super::{row, Action, Code, Opt, Policy};
use crate::dates::{Date, DatePolicy};

/// What kind of identifier a needle is (the report names it, never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Name,
    Id,
    Uid,
    Date,
    Address,
    Phone,
    Institution,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Name => "a person's name",
            Kind::Id => "an identifier",
            Kind::Uid => "an original UID",
            Kind::Date => "an original date",
            Kind::Address => "an address",
            Kind::Phone => "a phone number",
            Kind::Institution => "an institution's name",
        }
    }
}

/// One identifying value of the input, as words (upper case) and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Needle {
    words: Vec<String>,
    kind: Kind,
    source: String,
    reach: Reach,
}

/// Where a needle counts as found, by how specific it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    /// Among the words of any value.
    Anywhere,
    /// A part of a name (two letters or more): among the words of any value but a code
    /// string (CS), whose short defined terms (CT, MR) a name's part can equal.
    NotInCodes,
    /// One generic word (an institution called "Here"): only as a whole value.
    WholeValue,
    /// A part of a name of two letters (Li, Ng): too short to search for without holding
    /// back files by chance; cleaning still removes it from free text.
    CleanOnly,
}

/// An identifier of the input found in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    /// The input attribute it came from, as a path of tags.
    pub source: String,
    /// The output attribute it was found in.
    pub found_at: String,
}

/// The identifying values of one input instance.
#[derive(Debug)]
pub struct Identifiers {
    needles: Vec<Needle>,
    /// Needles by their first word, for one pass over an output value's words.
    by_first: HashMap<String, Vec<usize>>,
    uids: BTreeSet<String>,
    dates: BTreeSet<String>,
    /// The policy's choices: what it explicitly keeps is not audited.
    policy: Policy,
}

/// Shortest identifying words searched for: a name's part of one letter is an initial.
const MIN_NAME_PART: usize = 2;
/// Shortest needle searched for in the bytes of binary values (shorter ones match by chance).
const MIN_BYTES: usize = 6;

impl Identifiers {
    /// Collects the identifiers of `ds` that `policy` does not explicitly keep.
    pub fn collect(ds: &InMemDicomObject, policy: &Policy, shift_days: i64) -> Identifiers {
        let mut found = Collect { policy, needles: BTreeSet::new(), uids: BTreeSet::new(), dates: BTreeSet::new() };
        found.dataset(ds, &mut Vec::new(), false);
        // A date that the policy itself writes (the 1st of a month, a shifted date that falls
        // on another original one, the dummy) is no leak when found.
        let written: BTreeSet<String> = found
            .dates
            .iter()
            .filter_map(|d| Date::parse_da(d))
            .flat_map(|d| [policy.dates.apply(d, shift_days), Some(Date { year: d.year, month: 1, day: 1 })])
            .flatten()
            .map(Date::to_da)
            .chain(["19000101".to_string()])
            .collect();
        let dates: BTreeSet<String> = found.dates.difference(&written).cloned().collect();
        let mut needles: Vec<Needle> = found.needles.into_iter().collect();
        for d in &dates {
            let (y, m, day) = (&d[..4], &d[4..6], &d[6..8]);
            for words in [vec![d.clone()], vec![y.into(), m.into(), day.into()], vec![day.into(), m.into(), y.into()], vec![m.into(), day.into(), y.into()]] {
                needles.push(Needle { words, kind: Kind::Date, source: "a date".into(), reach: Reach::Anywhere });
            }
        }
        let mut by_first: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in needles.iter().enumerate() {
            by_first.entry(n.words[0].clone()).or_default().push(i);
        }
        Identifiers { needles, by_first, uids: found.uids, dates, policy: policy.clone() }
    }

    /// What cleaning removes from free text: every name (whole and its parts), ID, address
    /// and institution of the input, each as its words, longest first.
    pub fn words(&self) -> Vec<Vec<String>> {
        let mut words: Vec<Vec<String>> =
            self.needles.iter().filter(|n| n.kind != Kind::Date).map(|n| n.words.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        words
    }

    /// Searches the de-identified data set; the first identifier found, if any.
    pub fn audit(&self, out: &InMemDicomObject) -> Result<(), Finding> {
        self.audit_dataset(out, &mut Vec::new())
    }

    /// `path`: the sequences and items above `ds`, written out only for a finding.
    fn audit_dataset(&self, ds: &InMemDicomObject, path: &mut Vec<(Tag, usize)>) -> Result<(), Finding> {
        for e in ds.iter() {
            let tag = e.tag();
            // Written by the tool from nothing original.
            if path.is_empty() && WRITTEN.contains(&tag) {
                continue;
            }
            // What the options explicitly keep, they keep with whatever it holds.
            if tag.group() % 2 == 0 && self.policy.action(tag) == Action::Code(Code::K) {
                continue;
            }
            match e.value() {
                Value::Sequence(seq) => {
                    for (i, item) in seq.items().iter().enumerate() {
                        path.push((tag, i + 1));
                        let found = self.audit_dataset(item, path);
                        path.pop();
                        found?;
                    }
                }
                // Samples, not text: burned-in text is the Clean Pixel Data option's matter.
                Value::PixelSequence(_) => {}
                Value::Primitive(_) if tag == tags::PIXEL_DATA || is_bulk_pixels(tag) => {}
                Value::Primitive(p) => self.audit_value(e.vr(), p).map_err(|(kind, source)| Finding {
                    kind,
                    source,
                    found_at: path_text(path, tag),
                })?,
            }
        }
        Ok(())
    }

    /// The kind and input source of the first identifier found in one value.
    fn audit_value(&self, vr: VR, value: &PrimitiveValue) -> Result<(), (Kind, String)> {
        let hit = |n: &Needle| Err((n.kind, n.source.clone()));
        match vr {
            VR::UI => {
                for v in value.to_multi_str().iter() {
                    if self.uids.contains(v.trim_end_matches(['\0', ' '])) {
                        return Err((Kind::Uid, "a UID".into()));
                    }
                }
            }
            VR::DA | VR::DT => {
                for v in value.to_multi_str().iter() {
                    if v.get(..8).is_some_and(|d| self.dates.contains(d)) {
                        return Err((Kind::Date, "a date".into()));
                    }
                }
            }
            // Numbers, ages and times are not where names and IDs hide.
            VR::DS | VR::IS | VR::AS | VR::TM => {}
            VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UR | VR::UT => {
                for v in value.to_multi_str().iter() {
                    if let Some(n) = self.in_text(v, 0, vr == VR::CS) {
                        return hit(n);
                    }
                    if self.uids.iter().any(|u| v.contains(u.as_str())) {
                        return Err((Kind::Uid, "a UID".into()));
                    }
                }
            }
            _ => {
                let bytes = value.to_bytes();
                if let Some(n) = self.in_bytes(&bytes) {
                    return hit(n);
                }
            }
        }
        Ok(())
    }

    /// The first needle whose words stand one after the other among the text's words, of
    /// `min` characters or more.
    fn in_text(&self, text: &str, min: usize, code: bool) -> Option<&Needle> {
        let words = words_of(text);
        for start in 0..words.len() {
            for &i in self.by_first.get(&words[start]).into_iter().flatten() {
                let n = &self.needles[i];
                let fits = words[start..].len() >= n.words.len() && words[start..start + n.words.len()] == n.words[..];
                let reaches = match n.reach {
                    Reach::Anywhere => true,
                    Reach::NotInCodes => !code,
                    Reach::WholeValue => words.len() == n.words.len(),
                    Reach::CleanOnly => false,
                };
                if fits && reaches && n.words.iter().map(|w| w.chars().count()).sum::<usize>() >= min {
                    return Some(n);
                }
            }
        }
        None
    }

    /// The first needle of [`MIN_BYTES`] characters or more in raw bytes, read as UTF-8 and
    /// as Latin-1 (the two character sets names are written in).
    fn in_bytes(&self, bytes: &[u8]) -> Option<&Needle> {
        if bytes.len() < MIN_BYTES {
            return None;
        }
        let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
        self.in_text(&String::from_utf8_lossy(bytes), MIN_BYTES, false).or_else(|| self.in_text(&latin1, MIN_BYTES, false))
    }
}

/// Attributes the tool writes itself at the top level, from research IDs and constants.
const WRITTEN: [Tag; 7] = [
    tags::PATIENT_ID,
    tags::PATIENT_NAME,
    tags::STUDY_ID,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
];

/// An attribute's place, as the report names it: `(0040,A730)[1]/(0040,A160)`.
fn path_text(path: &[(Tag, usize)], tag: Tag) -> String {
    let mut out: String = path.iter().map(|(t, i)| format!("{t}[{i}]/")).collect();
    out.push_str(&tag.to_string());
    out
}

/// Float and double pixel data: samples, not text.
fn is_bulk_pixels(tag: Tag) -> bool {
    tag == tags::FLOAT_PIXEL_DATA || tag == tags::DOUBLE_FLOAT_PIXEL_DATA
}

/// How a row's name says its value identifies someone or somewhere (its VR being text).
fn identifying_row(tag: Tag) -> Option<Kind> {
    let name = row(tag)?.1;
    let has = |w: &str| name.contains(w);
    if has("Telephone") || has("Telecom") {
        Some(Kind::Phone)
    } else if has("Address") {
        Some(Kind::Address)
    } else if has("Institution") || has("Station Name") || has("Organization") || has("Site Name") || has("Center Name")
        || has("Sponsor Name") || has("Committee Name") || has("Location") || has("Facility")
    {
        Some(Kind::Institution)
    } else if name.ends_with(" ID") || name.ends_with(" IDs") || has("Identifier") || has("Number") || has("Locator")
        || has("Identification") || has("Serial") || has("Responsible Person") || has("Birth Name") || has("Patient Names")
    {
        Some(Kind::Id)
    } else {
        None
    }
}

/// A sequence whose items identify a person or an institution (by code, name or ID).
fn identifying_sequence(tag: Tag) -> bool {
    let Some(r) = row(tag) else { return false };
    ["Identification", "Institution", "Person", "Operator", "Observer", "Physician", "Issuer", "Performer"]
        .iter()
        .any(|w| r.1.contains(w))
}

struct Collect<'a> {
    policy: &'a Policy,
    needles: BTreeSet<Needle>,
    uids: BTreeSet<String>,
    dates: BTreeSet<String>,
}

impl Collect<'_> {
    /// `path`: the sequences and items above `ds`, written out only for a needle.
    fn dataset(&mut self, ds: &InMemDicomObject, path: &mut Vec<(Tag, usize)>, in_identifying: bool) {
        if path.len() > 64 {
            return;
        }
        for e in ds.iter() {
            let tag = e.tag();
            // What the options keep, they keep explicitly: not searched for.
            if self.policy.action(tag) == Action::Code(Code::K) && tag.group() % 2 == 0 {
                continue;
            }
            match e.value() {
                Value::Sequence(seq) => {
                    let identifying = in_identifying || identifying_sequence(tag);
                    for (i, item) in seq.items().iter().enumerate() {
                        path.push((tag, i + 1));
                        self.dataset(item, path, identifying);
                        path.pop();
                    }
                }
                Value::Primitive(p) => self.value(tag, e.vr(), p, path, in_identifying),
                Value::PixelSequence(_) => {}
            }
        }
    }

    fn value(&mut self, tag: Tag, vr: VR, value: &PrimitiveValue, path: &[(Tag, usize)], in_identifying: bool) {
        // Numbers and bytes identify nobody here (and a bulk value would cost a string each).
        if !matches!(vr, VR::UI | VR::DA | VR::DT | VR::PN | VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC) {
            return;
        }
        let values: Vec<String> = value.to_multi_str().iter().map(|v| v.trim_matches(['\0', ' ']).to_string()).collect();
        let keeps_uids = self.policy.options.contains(&Opt::RetainUids);
        match vr {
            VR::UI if !keeps_uids => {
                self.uids.extend(values.into_iter().filter(|v| v.len() >= 8 && !v.starts_with("1.2.840.10008.")));
            }
            VR::DA | VR::DT if self.policy.dates != DatePolicy::Keep => {
                self.dates.extend(values.iter().filter_map(|v| v.get(..8)).filter(|d| Date::parse_da(d).is_some()).map(String::from));
            }
            VR::PN => {
                let at = path_text(path, tag);
                for v in &values {
                    self.name(v, &at);
                }
            }
            // An attribute that is cleaned holds a description, not an identifier itself.
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC if self.policy.action(tag) != Action::Code(Code::C) => {
                let kind = identifying_row(tag).or(in_identifying.then_some(Kind::Id));
                if let Some(kind) = kind {
                    let at = path_text(path, tag);
                    for v in &values {
                        self.push(words_of(v), kind, &at);
                    }
                }
            }
            _ => {}
        }
    }

    /// A person's name: whole, and each part of it (family, given, middle names...).
    fn name(&mut self, value: &str, at: &str) {
        self.push(words_of(value), Kind::Name, at);
        for part in words_of(value) {
            let reach = if part.chars().count() > MIN_NAME_PART { Reach::NotInCodes } else { Reach::CleanOnly };
            if part.chars().count() >= MIN_NAME_PART && !part.chars().all(|c| c.is_ascii_digit()) {
                self.push_reaching(vec![part], Kind::Name, at, reach);
            }
        }
    }

    fn push(&mut self, words: Vec<String>, kind: Kind, at: &str) {
        let reach = if kind == Kind::Institution && words.len() == 1 { Reach::WholeValue } else { Reach::Anywhere };
        self.push_reaching(words, kind, at, reach);
    }

    fn push_reaching(&mut self, words: Vec<String>, kind: Kind, at: &str, reach: Reach) {
        let long_enough = words.iter().map(|w| w.chars().count()).sum::<usize>() >= MIN_NAME_PART + usize::from(kind != Kind::Name);
        // The tool's own dummies identify nobody.
        if words.is_empty() || !long_enough || words == ["ANONYMIZED"] {
            return;
        }
        self.needles.insert(Needle { words, kind, source: at.to_string(), reach });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Preset;
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, Length};

    fn ds(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(elements)
    }

    #[test]
    fn finds_names_ids_dates_and_uids_at_any_depth() {
        let policy = Policy::new(Preset::Basic, &[], Some(DatePolicy::Shift));
        let input = ds(vec![
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("Müller^Zoë")),
            DataElement::new(tags::ACCESSION_NUMBER, VR::SH, PrimitiveValue::from("ACC-778812")),
            DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20240315")),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.99.1")),
        ]);
        let ids = Identifiers::collect(&input, &policy, 3);
        let text = |v: &str| ds(vec![DataElement::new(tags::IMAGE_COMMENTS, VR::LT, PrimitiveValue::from(v))]);
        assert!(ids.audit(&text("nothing here, T1 3D")).is_ok());
        assert_eq!(ids.audit(&text("for zoë MÜLLER")).unwrap_err().kind, Kind::Name);
        assert_eq!(ids.audit(&text("ref 778812")).map_err(|f| f.kind), Ok(()), "a part of an ID alone is not the ID");
        assert_eq!(ids.audit(&text("ref ACC-778812.")).unwrap_err().kind, Kind::Id);
        assert_eq!(ids.audit(&text("seen 15.03.2024")).unwrap_err().kind, Kind::Date);
        let nested = ds(vec![DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![ds(vec![DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.99.1"))])], Length::UNDEFINED),
        )]);
        let f = ids.audit(&nested).unwrap_err();
        assert_eq!((f.kind, f.found_at.as_str()), (Kind::Uid, "(0008,1140)[1]/(0008,1155)"));
        // The shifted date is what the policy writes: no finding.
        let shifted = Date::parse_da("20240315").unwrap();
        let shifted = DatePolicy::Shift.apply(shifted, 3).unwrap().to_da();
        assert!(ids.audit(&ds(vec![DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from(shifted.as_str()))])).is_ok());
        assert!(ids.audit(&ds(vec![DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20240315"))])).is_err());
    }

    #[test]
    fn what_the_options_keep_is_not_searched_for() {
        let input = ds(vec![
            DataElement::new(tags::INSTITUTION_NAME, VR::LO, PrimitiveValue::from("Hôpital Saint-Éloi")),
            DataElement::new(tags::STUDY_DATE, VR::DA, PrimitiveValue::from("20240315")),
        ]);
        let out = input.clone();
        let keep = Policy::new(Preset::Basic, &[Opt::RetainInstitutionIdentity], Some(DatePolicy::Keep));
        assert!(Identifiers::collect(&input, &keep, 0).audit(&out).is_ok());
        let basic = Policy::new(Preset::Basic, &[], Some(DatePolicy::Remove));
        assert!(Identifiers::collect(&input, &basic, 0).audit(&out).is_err());
    }
}
