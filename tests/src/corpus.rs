//! A PHI-planted DICOM corpus: small but plausible MR and CT series of several patients and
//! visits, with a unique marker (or a recorded date, time, UID or accented name) in every
//! attribute of Table E.1-1 that holds text, a date or a UID — at the top level and three
//! sequences deep — plus private elements, a private sequence and elements after Pixel Data.
//!
//! [`generate`] returns the files and every [`Plant`]: which attribute holds which
//! [`Needle`]s, so that a test can decide from the de-identification policy which values may
//! legitimately survive and scan an export for all the others.
//!
//! Markers are `PHI` + 5 digits + 4 letters (12 characters, all of the same length: none is a
//! substring of another; upper case and short enough for CS, SH and AE). Dates never fall on
//! the first of a month (reduced dates always do) and never on the export dates tests use;
//! pixel values stay below 4096, so pixel bytes never hold two ASCII digits in a row.

use std::collections::BTreeMap;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, uids, StandardDataDictionary};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

/// What a needle is, which decides how a scan matches it (see [`Needle::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `PHI00042QXZK`: planted in one attribute of one file.
    Marker,
    /// `YYYYMMDD` of a DA value or the date part of a DT value.
    Date,
    /// `HHMMSS.ffffff` of a TM value.
    Time,
    /// An original UID (never a standard `1.2.840.10008.` one).
    Uid,
    /// A part of an accented name, as Latin-1 or UTF-8 bytes.
    Name,
}

/// A value that must not survive de-identification unless the policy keeps its attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Needle {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

impl Needle {
    fn new(kind: Kind, bytes: impl Into<Vec<u8>>) -> Needle {
        Needle { kind, bytes: bytes.into() }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).unwrap_or_else(|_| self.bytes.iter().map(|&b| b as char).collect())
    }
}

/// One planted attribute: the file, the path of (tag, VR) from the top level (enclosing
/// sequences first, the attribute last) and the needles its value holds.
#[derive(Debug, Clone)]
pub struct Plant {
    pub file: usize,
    pub path: Vec<(Tag, VR)>,
    pub needles: Vec<Needle>,
}

impl Plant {
    pub fn describe(&self, files: &[CorpusFile]) -> String {
        let path: Vec<String> =
            self.path.iter().map(|(t, vr)| format!("({:04X},{:04X}) {vr:?}", t.group(), t.element())).collect();
        format!("{} {}", files[self.file].name, path.join(" > "))
    }
}

pub struct CorpusFile {
    /// Relative path, e.g. `p1/v2/s1/003.dcm`.
    pub name: String,
    pub bytes: Vec<u8>,
    /// Research inputs: the clinical PatientID the file carries.
    pub patient_id: String,
}

pub struct Corpus {
    pub files: Vec<CorpusFile>,
    pub plants: Vec<Plant>,
    /// Table rows planted (exact tags, `(60xx,eeee)` as group 6000, curves as group 5000).
    pub rows_planted: usize,
    /// Table rows whose VR holds no text, date or UID (numbers, binary): not planted.
    pub rows_skipped: Vec<Tag>,
}

impl Corpus {
    /// Writes the files under `dir`; returns their paths in order.
    pub fn write_to(&self, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        self.files
            .iter()
            .map(|f| {
                let path = dir.join(&f.name);
                std::fs::create_dir_all(path.parent().expect("file in a folder")).expect("create corpus folder");
                std::fs::write(&path, &f.bytes).expect("write corpus file");
                path
            })
            .collect()
    }

    /// Every distinct needle with the plants that hold it.
    pub fn needles(&self) -> BTreeMap<&Needle, Vec<&Plant>> {
        let mut out: BTreeMap<&Needle, Vec<&Plant>> = BTreeMap::new();
        for plant in &self.plants {
            for needle in &plant.needles {
                out.entry(needle).or_default().push(plant);
            }
        }
        out
    }
}

/// The shape of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub patients: usize,
    pub visits: usize,
    pub series: usize,
    pub slices: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape { patients: 3, visits: 2, series: 2, slices: 3 }
    }
}

/// Accented names (family, given): all in Latin-1, written in ISO_IR 100 in a patient's first
/// visit and in UTF-8 (ISO_IR 192) in the others.
const NAMES: [(&str, &str); 4] = [
    ("Müller", "Zoë Françoise"),
    ("Gonçalves", "Inês Patrícia"),
    ("Søndergård", "Björn Åke"),
    ("Désirée", "Noël Élodie"),
];
const BIRTH_DATES: [&str; 4] = ["19471123", "19820607", "20020319", "19650914"];

/// Root of every original UID: never a prefix of a standard UID or of a `2.25.` UID.
const UID_ROOT: &str = "1.2.826.0.1.3680043.10.5437.";

/// The attributes set from the file's identity rather than planted with a fresh value.
const STRUCTURAL: [Tag; 8] = [
    tags::PATIENT_ID,
    tags::PATIENT_NAME,
    tags::PATIENT_BIRTH_DATE,
    tags::STUDY_DATE,
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
    tags::SOP_INSTANCE_UID,
    tags::FRAME_OF_REFERENCE_UID,
];

/// Generates the corpus. `rows` are the tags of Table E.1-1 to plant (the caller maps the
/// table's wildcard rows: overlays to group 6000, curves to group 5000; the private-attributes
/// row is always covered by the generator's own private elements).
pub fn generate(rows: &[Tag], shape: Shape) -> Corpus {
    assert!(shape.patients <= NAMES.len(), "at most {} patients", NAMES.len());
    let mut g = Gen { markers: 0, uids: 0, plants: Vec::new(), file: 0 };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut planted = 0;
    let plantable: Vec<(Tag, VR)> = rows
        .iter()
        .filter(|t| t.group() != 0x0000 && t.group() != 0x0002)
        .filter_map(|&t| match vr_of(t) {
            Some(vr) if plantable_vr(vr) || (vr == VR::SQ) || matches!((t.group() & 0xFF00, vr), (0x6000 | 0x5000, VR::OB | VR::OW)) || t == tags::DATA_SET_TRAILING_PADDING => {
                planted += 1;
                Some((t, vr))
            }
            _ => {
                skipped.push(t);
                None
            }
        })
        .collect();

    for p in 0..shape.patients {
        let patient_id = g.marker();
        let (family, given) = NAMES[p];
        let patient_marker = g.marker();
        let patient_name = format!("{family}^{given}^{patient_marker}");
        let mut name_needles = vec![Needle::new(Kind::Marker, patient_id.clone()), Needle::new(Kind::Marker, patient_marker.clone())];
        name_needles.extend(name_needles_of(family, given));
        let ct = p == 2;
        for v in 0..shape.visits {
            let study_date = format!("{:04}{:02}{:02}", 2015 + p * 2 + v, 3 + v * 4 + p, 11 + p * 3 + v);
            let study_uid = g.uid();
            let latin1 = v == 0;
            let ts = match (p, v) {
                (1, _) => uids::IMPLICIT_VR_LITTLE_ENDIAN,
                (2, 1) => uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
                _ => uids::EXPLICIT_VR_LITTLE_ENDIAN,
            };
            for s in 0..shape.series {
                let series_uid = g.uid();
                let frame_uid = g.uid();
                let sop_uids: Vec<String> = (0..shape.slices).map(|_| g.uid()).collect();
                for k in 0..shape.slices {
                    g.file = files.len();
                    let mut obj = InMemDicomObject::new_empty();
                    let put = |obj: &mut InMemDicomObject, tag, vr, value: &str| {
                        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
                    };
                    let charset = if latin1 { "ISO_IR 100" } else { "ISO_IR 192" };
                    put(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, charset);
                    put(&mut obj, tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\M\\ND");
                    let sop_class = if ct { uids::CT_IMAGE_STORAGE } else { uids::MR_IMAGE_STORAGE };
                    put(&mut obj, tags::SOP_CLASS_UID, VR::UI, sop_class);
                    put(&mut obj, tags::MODALITY, VR::CS, if ct { "CT" } else { "MR" });
                    put(&mut obj, tags::SERIES_NUMBER, VR::IS, &(s + 1).to_string());
                    put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, &(k + 1).to_string());
                    put(&mut obj, tags::IMAGE_POSITION_PATIENT, VR::DS, &format!("-8\\-8\\{}", k * 3));
                    put(&mut obj, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0");
                    put(&mut obj, tags::PIXEL_SPACING, VR::DS, "1\\1");
                    put(&mut obj, tags::SLICE_THICKNESS, VR::DS, "3");
                    put(&mut obj, tags::PATIENT_SEX, VR::CS, if p % 2 == 0 { "F" } else { "M" });
                    if ct {
                        put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
                        put(&mut obj, tags::RESCALE_SLOPE, VR::DS, "1");
                        put(&mut obj, tags::KVP, VR::DS, "120");
                    } else {
                        put(&mut obj, tags::SCANNING_SEQUENCE, VR::CS, "GR");
                        put(&mut obj, tags::SEQUENCE_VARIANT, VR::CS, "SP");
                        put(&mut obj, tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "3");
                    }
                    obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)));
                    put(&mut obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
                    for (tag, value) in [
                        (tags::ROWS, 8u16),
                        (tags::COLUMNS, 8),
                        (tags::BITS_ALLOCATED, 16),
                        (tags::BITS_STORED, 12),
                        (tags::HIGH_BIT, 11),
                        (tags::PIXEL_REPRESENTATION, 0),
                    ] {
                        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
                    }
                    let pixels: Vec<u16> = (0..64u16).map(|i| (i * 37 + k as u16 * 101 + s as u16 * 7) % 4096).collect();
                    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())));

                    // The file's identity, recorded as needles too.
                    put(&mut obj, tags::PATIENT_ID, VR::LO, &patient_id);
                    g.record(vec![(tags::PATIENT_ID, VR::LO)], vec![Needle::new(Kind::Marker, patient_id.clone())]);
                    put(&mut obj, tags::PATIENT_NAME, VR::PN, &patient_name);
                    g.record(vec![(tags::PATIENT_NAME, VR::PN)], name_needles.clone());
                    put(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, BIRTH_DATES[p]);
                    g.record(vec![(tags::PATIENT_BIRTH_DATE, VR::DA)], vec![Needle::new(Kind::Date, BIRTH_DATES[p])]);
                    put(&mut obj, tags::STUDY_DATE, VR::DA, &study_date);
                    g.record(vec![(tags::STUDY_DATE, VR::DA)], vec![Needle::new(Kind::Date, study_date.clone())]);
                    for (tag, uid) in [
                        (tags::STUDY_INSTANCE_UID, &study_uid),
                        (tags::SERIES_INSTANCE_UID, &series_uid),
                        (tags::SOP_INSTANCE_UID, &sop_uids[k]),
                        (tags::FRAME_OF_REFERENCE_UID, &frame_uid),
                    ] {
                        put(&mut obj, tag, VR::UI, uid);
                        g.record(vec![(tag, VR::UI)], vec![Needle::new(Kind::Uid, uid.as_str())]);
                    }

                    let ctx = Ctx { latin1, family, given, date_seed: (p * 16 + v) as u64 };
                    // Every other row at the top level.
                    for &(tag, vr) in &plantable {
                        // Planted below: the reference chain and the signatures after Pixel Data.
                        if STRUCTURAL.contains(&tag) || tag == tags::REFERENCED_IMAGE_SEQUENCE || tag == tags::DIGITAL_SIGNATURES_SEQUENCE {
                            continue;
                        }
                        if let Some(e) = g.plant(&[], tag, vr, &ctx) {
                            obj.put(e);
                        }
                    }
                    // Three levels of kept reference sequences, the deepest item holding a fresh
                    // copy of every row; the references point at the series' other slices.
                    let other = &sop_uids[(k + 1) % shape.slices];
                    let l1 = (tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ);
                    let l2 = (tags::SOURCE_IMAGE_SEQUENCE, VR::SQ);
                    let l3 = (tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ);
                    let mut deepest = InMemDicomObject::new_empty();
                    for &(tag, vr) in &plantable {
                        if tag.group() >= 0x5000 && tag.group() < 0x6100 {
                            continue; // curves and overlays live at the top level only
                        }
                        if let Some(e) = g.plant(&[l1, l2, l3], tag, vr, &ctx) {
                            deepest.put(e);
                        }
                    }
                    let reference = |g: &mut Gen, path: &[(Tag, VR)], inner: Option<InMemDicomObject>, seq: Tag| {
                        let mut item = InMemDicomObject::new_empty();
                        item.put(DataElement::new(tags::REFERENCED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(sop_class)));
                        item.put(DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(other.as_str())));
                        let mut at = path.to_vec();
                        at.push((tags::REFERENCED_SOP_INSTANCE_UID, VR::UI));
                        g.record(at, vec![Needle::new(Kind::Uid, other.as_str())]);
                        if let Some(inner) = inner {
                            item.put(DataElement::new(seq, VR::SQ, DataSetSequence::new(vec![inner], Length::UNDEFINED)));
                        }
                        item
                    };
                    deepest.put(DataElement::new(tags::REFERENCED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(sop_class)));
                    let item2 = reference(&mut g, &[l1, l2], Some(deepest), tags::REFERENCED_IMAGE_SEQUENCE);
                    let item1 = reference(&mut g, &[l1], Some(item2), tags::SOURCE_IMAGE_SEQUENCE);
                    obj.put(DataElement::new(l1.0, VR::SQ, DataSetSequence::new(vec![item1], Length::UNDEFINED)));

                    g.private_elements(&mut obj, &ctx, &patient_name);

                    let meta = FileMetaTableBuilder::new()
                        .media_storage_sop_class_uid(sop_class)
                        .media_storage_sop_instance_uid(sop_uids[k].as_str())
                        .transfer_syntax(ts)
                        .implementation_class_uid("1.2.826.0.1.3680043.10.5437.99")
                        .source_application_entity_title(g.marker())
                        .build()
                        .expect("file meta");
                    let source_ae = meta.source_application_entity_title.clone().expect("set above");
                    g.record(vec![(Tag(0x0002, 0x0016), VR::AE)], vec![Needle::new(Kind::Marker, source_ae.trim_end())]);
                    g.record(vec![(tags::MEDIA_STORAGE_SOP_INSTANCE_UID, VR::UI)], vec![Needle::new(Kind::Uid, sop_uids[k].as_str())]);
                    let mut bytes = Vec::new();
                    obj.with_exact_meta(meta).write_all(&mut bytes).expect("encode corpus file");
                    files.push(CorpusFile {
                        name: format!("p{}/v{}/s{}/{:03}.dcm", p + 1, v + 1, s + 1, k + 1),
                        bytes,
                        patient_id: patient_id.clone(),
                    });
                }
            }
        }
    }
    Corpus { files, plants: g.plants, rows_planted: planted, rows_skipped: skipped }
}

/// The parts of an accented name long enough to scan for, in Latin-1 and in UTF-8.
fn name_needles_of(family: &str, given: &str) -> Vec<Needle> {
    let mut out = Vec::new();
    for word in std::iter::once(family).chain(given.split(' ')) {
        if word.chars().count() >= 5 {
            out.push(Needle::new(Kind::Name, word.as_bytes()));
            out.push(Needle::new(Kind::Name, latin1(word)));
        }
    }
    out
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character")).collect()
}

/// The VR the standard dictionary gives a tag, where it is a single one.
fn vr_of(tag: Tag) -> Option<VR> {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => Some(vr),
        _ => match tag.group() & 0xFF00 {
            // Dictionary entries of repeating groups are keyed by their first group.
            0x5000 | 0x6000 => StandardDataDictionary.by_tag(tag).and_then(|e| match e.vr() {
                VirtualVr::Exact(vr) => Some(vr),
                VirtualVr::Ox => Some(VR::OW),
                _ => None,
            }),
            _ => None,
        },
    }
}

fn plantable_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE | VR::CS | VR::DA | VR::DT | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::TM | VR::UC | VR::UI | VR::UR | VR::UT
    )
}

struct Ctx<'a> {
    latin1: bool,
    family: &'a str,
    given: &'a str,
    date_seed: u64,
}

struct Gen {
    markers: u32,
    uids: u32,
    plants: Vec<Plant>,
    file: usize,
}

/// SplitMix64: deterministic, random-looking letters and dates.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Gen {
    fn marker(&mut self) -> String {
        self.markers += 1;
        let n = self.markers;
        let mut h = mix(u64::from(n));
        let letters: String = (0..4)
            .map(|_| {
                let c = (b'A' + (h % 26) as u8) as char;
                h /= 26;
                c
            })
            .collect();
        format!("PHI{n:05}{letters}")
    }

    fn uid(&mut self) -> String {
        self.uids += 1;
        format!("{UID_ROOT}{}.{:012}", self.uids + 100_000, mix(u64::from(self.uids) + 7) % 1_000_000_000_000)
    }

    fn record(&mut self, path: Vec<(Tag, VR)>, needles: Vec<Needle>) {
        self.plants.push(Plant { file: self.file, path, needles });
    }

    /// A date of the visit's era, the same in every file of the visit for one row: day 02–28.
    fn date(&self, ctx: &Ctx, tag: Tag, depth: u64) -> String {
        let h = mix(ctx.date_seed << 40 ^ u64::from(tag.0) << 8 ^ u64::from(tag.1) << 24 ^ depth);
        format!("{:04}{:02}{:02}", 1990 + h % 34, 1 + (h >> 8) % 12, 2 + (h >> 16) % 27)
    }

    fn time(&self, ctx: &Ctx, tag: Tag, depth: u64) -> String {
        let h = mix(ctx.date_seed << 40 ^ u64::from(tag.0) << 8 ^ u64::from(tag.1) << 24 ^ depth ^ 0x5555);
        format!("{:02}{:02}{:02}.{:06}", 7 + h % 12, (h >> 8) % 60, (h >> 16) % 60, (h >> 24) % 1_000_000)
    }

    /// One planted attribute at `path` (the enclosing sequences), recorded with its needles.
    fn plant(&mut self, path: &[(Tag, VR)], tag: Tag, vr: VR, ctx: &Ctx) -> Option<DataElement<InMemDicomObject>> {
        let mut at = path.to_vec();
        at.push((tag, vr));
        let depth = path.len() as u64;
        let name = |g: &mut Gen| {
            let marker = g.marker();
            let value = format!("{}^{}^{marker}", ctx.family, ctx.given);
            let mut needles = vec![Needle::new(Kind::Marker, marker)];
            needles.extend(name_needles_of(ctx.family, ctx.given));
            (value, needles)
        };
        let patient_names = [tags::OTHER_PATIENT_NAMES, tags::PATIENT_BIRTH_NAME, tags::PATIENT_MOTHER_BIRTH_NAME, tags::PATIENT_NAME];
        let (value, needles): (PrimitiveValue, Vec<Needle>) = match vr {
            VR::SQ => {
                // One item holding a marker in Patient's Address (removed under every option)
                // and in a private element.
                let (text, needles) = name(self);
                let mut item = InMemDicomObject::new_empty();
                item.put(DataElement::new(tags::PATIENT_ADDRESS, VR::LO, PrimitiveValue::from(text.replace('^', " "))));
                let mut inner = at.clone();
                inner.push((tags::PATIENT_ADDRESS, VR::LO));
                self.record(inner, needles);
                let marker = self.marker();
                item.put(DataElement::new(Tag(0x0011, 0x0010), VR::LO, PrimitiveValue::from("PHI TEST CREATOR")));
                item.put(DataElement::new(Tag(0x0011, 0x1010), VR::LO, PrimitiveValue::from(marker.as_str())));
                let mut inner = at.clone();
                inner.push((Tag(0x0011, 0x1010), VR::LO));
                self.record(inner, vec![Needle::new(Kind::Marker, marker)]);
                return Some(DataElement::new(tag, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
            }
            VR::DA => {
                let d = self.date(ctx, tag, depth);
                (PrimitiveValue::from(d.as_str()), vec![Needle::new(Kind::Date, d)])
            }
            VR::DT => {
                let d = self.date(ctx, tag, depth);
                (PrimitiveValue::from(format!("{d}093015")), vec![Needle::new(Kind::Date, d)])
            }
            VR::TM => {
                let t = self.time(ctx, tag, depth);
                (PrimitiveValue::from(t.as_str()), vec![Needle::new(Kind::Time, t)])
            }
            VR::UI => {
                let u = self.uid();
                (PrimitiveValue::from(u.as_str()), vec![Needle::new(Kind::Uid, u)])
            }
            VR::PN if patient_names.contains(&tag) => {
                let (text, needles) = name(self);
                (PrimitiveValue::from(text), needles)
            }
            VR::PN => {
                let marker = self.marker();
                (PrimitiveValue::from(format!("{marker}^Staff")), vec![Needle::new(Kind::Marker, marker)])
            }
            VR::UR => {
                let marker = self.marker();
                (PrimitiveValue::from(format!("https://phi.example/{marker}")), vec![Needle::new(Kind::Marker, marker)])
            }
            // Free text: the marker and the patient's name, which cleaning must take out.
            VR::LO | VR::LT | VR::ST | VR::UT | VR::UC
                if tag != tags::SERIES_DESCRIPTION && tag != tags::PROTOCOL_NAME && tag.group() & 0xFF00 != 0x6000 =>
            {
                let marker = self.marker();
                let text = format!("{marker} {} {}", ctx.family, ctx.given);
                let mut needles = vec![Needle::new(Kind::Marker, marker)];
                needles.extend(name_needles_of(ctx.family, ctx.given));
                (PrimitiveValue::from(text), needles)
            }
            VR::LO if tag == tags::SERIES_DESCRIPTION || tag == tags::PROTOCOL_NAME => {
                let marker = self.marker();
                (PrimitiveValue::from(format!("T1 MPRAGE {marker}")), vec![Needle::new(Kind::Marker, marker)])
            }
            // Binary rows (overlay and curve data, trailing padding): the marker as bytes.
            VR::OB | VR::OW => {
                let marker = self.marker();
                (PrimitiveValue::U8(marker.as_bytes().to_vec().into()), vec![Needle::new(Kind::Marker, marker)])
            }
            _ => {
                let marker = self.marker();
                (PrimitiveValue::from(marker.as_str()), vec![Needle::new(Kind::Marker, marker)])
            }
        };
        self.record(at, needles);
        Some(DataElement::new(tag, vr, value))
    }

    /// Private elements before and after Pixel Data, a private sequence with the patient's
    /// name in it, the Digital Signatures Sequence and trailing padding.
    fn private_elements(&mut self, obj: &mut InMemDicomObject, ctx: &Ctx, patient_name: &str) {
        let text = |g: &mut Gen, obj: &mut InMemDicomObject, tag: Tag, vr: VR, extra: &str| {
            let marker = g.marker();
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(format!("{marker}{extra}"))));
            g.record(vec![(tag, vr)], vec![Needle::new(Kind::Marker, marker)]);
        };
        obj.put(DataElement::new(Tag(0x0009, 0x0010), VR::LO, PrimitiveValue::from("PHI TEST CREATOR")));
        text(self, obj, Tag(0x0009, 0x1010), VR::LO, "");
        text(self, obj, Tag(0x0009, 0x1011), VR::SH, "");
        // A private sequence: a vendor's copy of the patient's identity.
        let marker = self.marker();
        let mut item = InMemDicomObject::new_empty();
        item.put(DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(patient_name)));
        item.put(DataElement::new(Tag(0x0009, 0x0010), VR::LO, PrimitiveValue::from("PHI TEST CREATOR")));
        item.put(DataElement::new(Tag(0x0009, 0x1010), VR::LO, PrimitiveValue::from(marker.as_str())));
        obj.put(DataElement::new(Tag(0x0009, 0x1012), VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
        let mut needles = vec![Needle::new(Kind::Marker, marker)];
        needles.extend(name_needles_of(ctx.family, ctx.given));
        self.record(vec![(Tag(0x0009, 0x1012), VR::SQ), (Tag(0x0009, 0x1010), VR::LO)], needles);
        // A CSA-like binary header with text inside.
        let marker = self.marker();
        obj.put(DataElement::new(Tag(0x0029, 0x0010), VR::LO, PrimitiveValue::from("SIEMENS CSA HEADER")));
        let mut blob = b"SV10\x04\x03\x02\x01".to_vec();
        let inside = format!("PatientName={}{marker}", ctx.family);
        blob.extend_from_slice(&if ctx.latin1 { latin1(&inside) } else { inside.into_bytes() });
        blob.push(0);
        obj.put(DataElement::new(Tag(0x0029, 0x1010), VR::OB, PrimitiveValue::U8(blob.into())));
        self.record(vec![(Tag(0x0029, 0x1010), VR::OB)], vec![Needle::new(Kind::Marker, marker)]);
        // A safe private element (a b-value): kept with Retain Safe Private, harmless.
        obj.put(DataElement::new(Tag(0x0019, 0x0010), VR::LO, PrimitiveValue::from("SIEMENS MR HEADER")));
        obj.put(DataElement::new(Tag(0x0019, 0x100C), VR::IS, PrimitiveValue::from("1000")));

        // After Pixel Data.
        obj.put(DataElement::new(Tag(0x7FE1, 0x0010), VR::LO, PrimitiveValue::from("PHI TEST CREATOR")));
        text(self, obj, Tag(0x7FE1, 0x1010), VR::LO, "");
        let signature = self.marker();
        let uid = self.uid();
        let mut item = InMemDicomObject::new_empty();
        item.put(DataElement::new(tags::MACID_NUMBER, VR::US, PrimitiveValue::from(1u16)));
        item.put(DataElement::new(tags::DIGITAL_SIGNATURE_UID, VR::UI, PrimitiveValue::from(uid.as_str())));
        item.put(DataElement::new(tags::SIGNATURE, VR::OB, PrimitiveValue::U8(signature.as_bytes().to_vec().into())));
        obj.put(DataElement::new(tags::DIGITAL_SIGNATURES_SEQUENCE, VR::SQ, DataSetSequence::new(vec![item], Length::UNDEFINED)));
        let seq = (tags::DIGITAL_SIGNATURES_SEQUENCE, VR::SQ);
        self.record(vec![seq, (tags::DIGITAL_SIGNATURE_UID, VR::UI)], vec![Needle::new(Kind::Uid, uid)]);
        self.record(vec![seq, (tags::SIGNATURE, VR::OB)], vec![Needle::new(Kind::Marker, signature)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Tag> {
        vec![
            tags::ACCESSION_NUMBER,
            tags::STUDY_DESCRIPTION,
            tags::SERIES_DESCRIPTION,
            tags::REFERRING_PHYSICIAN_NAME,
            tags::OTHER_PATIENT_NAMES,
            tags::STUDY_TIME,
            tags::ACQUISITION_DATE_TIME,
            tags::REFERENCED_STUDY_SEQUENCE,
            tags::PATIENT_ID,
            tags::DATA_SET_TRAILING_PADDING,
            Tag(0x6000, 0x3000),
            Tag(0x6000, 0x4000),
        ]
    }

    #[test]
    fn corpus_is_readable_and_encodes_names_by_charset() {
        let corpus = generate(&rows(), Shape { patients: 2, visits: 2, series: 1, slices: 2 });
        assert_eq!(corpus.files.len(), 8);
        let first = &corpus.files[0].bytes;
        let utf8 = &corpus.files[2].bytes;
        assert!(crate::scan::contains(first, b"M\xFCller"), "Latin-1 name in an ISO_IR 100 file");
        assert!(!crate::scan::contains(first, "Müller".as_bytes()));
        assert!(crate::scan::contains(utf8, "Müller".as_bytes()), "UTF-8 name in an ISO_IR 192 file");
        for f in &corpus.files {
            let obj = dicom_object::OpenFileOptions::new().from_reader(&f.bytes[128..]).expect("corpus file parses");
            assert!(obj.element(tags::PIXEL_DATA).is_ok());
            let deep = obj.element(tags::REFERENCED_IMAGE_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::SOURCE_IMAGE_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::REFERENCED_IMAGE_SEQUENCE).unwrap().items().unwrap()[0]
                .element(tags::ACCESSION_NUMBER).unwrap().to_str().unwrap().into_owned();
            assert!(deep.starts_with("PHI"), "{deep}");
            let padding = obj.element(tags::DATA_SET_TRAILING_PADDING).unwrap().to_bytes().unwrap().into_owned();
            assert!(padding.starts_with(b"PHI"));
        }
        // Markers all have the same length, and only the patient-wide ones repeat.
        let mut markers: Vec<&Needle> = corpus.plants.iter().flat_map(|p| &p.needles).filter(|n| n.kind == Kind::Marker).collect();
        assert!(markers.iter().all(|m| m.bytes.len() == 12));
        markers.sort();
        markers.dedup();
        let repeated = corpus.plants.iter().flat_map(|p| &p.needles).filter(|n| n.kind == Kind::Marker).count() - markers.len();
        // PatientID, and PatientName's middle name recorded with PatientName and PatientID.
        assert_eq!(repeated, 3 * corpus.files.len() - 2 * 2, "only the patient-wide markers repeat");
    }
}

/// The tags the corpus plants: every exact row, the overlay rows in group 6000 and a few
/// curve attributes in group 5000 (the private-attributes row is covered by the corpus's own
/// private elements).
pub fn table_tags() -> Vec<Tag> {
    let mut out = Vec::new();
    use capture::profile::{rows, Pattern};
    for row in rows() {
        match row.0 {
            Pattern::Tag(t) => out.push(Tag((t >> 16) as u16, t as u16)),
            Pattern::Overlay(e) => out.push(Tag(0x6000, e)),
            Pattern::Curve => out.extend([Tag(0x5000, 0x0022), Tag(0x5000, 0x2500), Tag(0x5000, 0x3000)]),
            Pattern::Private => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The fate model: what a de-identification policy lets survive of each plant, derived from the
// standard's action codes (shared by tests/tests/phi.rs and the page's webdriver/tests/phi.rs).

use capture::dates::DatePolicy;
use capture::profile::{Action, Code, Opt, Policy};

/// What the policy does with a planted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Removed, emptied, replaced by a dummy or a new UID, or a changed date.
    Gone,
    /// Kept verbatim.
    Kept,
    /// Free text cleaned: identifying names go, other words may stay.
    Cleaned,
}

/// The fate of one element under the policy, from the standard's action codes.
pub fn element_fate(policy: &Policy, tag: Tag, vr: VR) -> Fate {
    if tag.group() == 0x0002 {
        return Fate::Gone; // the meta group is rebuilt
    }
    if tag.group() % 2 == 1 {
        return Fate::Gone; // the corpus's private elements are not on the safe list
    }
    match policy.action(tag) {
        Action::Patient | Action::Visit | Action::BirthYear => Fate::Gone,
        Action::Unlisted if vr == VR::UI && !policy.options.contains(&Opt::RetainUids) => Fate::Gone,
        Action::Unlisted => Fate::Kept,
        Action::Code(Code::K) => Fate::Kept,
        Action::Code(Code::C) => match vr {
            // The items of a cleaned sequence are cleaned.
            VR::SQ => Fate::Cleaned,
            VR::DA | VR::DT if policy.dates == DatePolicy::Keep => Fate::Kept,
            VR::TM if matches!(policy.dates, DatePolicy::Keep | DatePolicy::Shift) => Fate::Kept,
            // A temporal value of a text VR survives only as a UTC offset: a marker does not.
            _ if capture::profile::is_temporal(tag) => Fate::Gone,
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::CS => Fate::Cleaned,
            // A person's name and an AE title cannot be cleaned: dummies.
            _ => Fate::Gone,
        },
        // A sequence of references: kept for its references, the rest of its items cleaned.
        Action::Code(Code::XZU) if vr == VR::SQ => Fate::Cleaned,
        // A sequence replaced by a dummy keeps nothing of its items.
        Action::Code(_) => Fate::Gone,
    }
}

/// The fate of a planted value: gone as soon as an enclosing sequence goes.
/// Inside a cleaned sequence, what would be kept is cleaned.
pub fn fate(policy: &Policy, path: &[(Tag, VR)]) -> Fate {
    let mut last = Fate::Gone;
    let mut cleaned = false;
    for &(tag, vr) in path {
        last = element_fate(policy, tag, vr);
        if last == Fate::Gone {
            return Fate::Gone;
        }
        if cleaned && last == Fate::Kept && !matches!(vr, VR::UI) {
            last = Fate::Cleaned;
        }
        cleaned |= last == Fate::Cleaned;
    }
    last
}

/// Whether the policy lets the needle survive in at least one of its plants.
pub fn allowed(policy: &Policy, needle: &Needle, plants: &[&Plant]) -> bool {
    plants.iter().any(|p| match fate(policy, &p.path) {
        Fate::Kept => true,
        Fate::Cleaned => needle.kind != Kind::Name,
        Fate::Gone => false,
    })
}
