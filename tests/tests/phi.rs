//! The PHI-planted corpus ([`capture_tests::corpus`]) through `capture export` under every
//! preset, option and date policy: a scan of every byte of the zip (entry names, raw bytes,
//! decompressed entries, inflated data sets of deflated files) finds none of the planted
//! markers, original dates, times, UIDs, IDs or accented names — except those whose
//! attribute the policy keeps, which are derived from [`Policy::action`], never hard-coded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use capture::dates::{Date, DatePolicy};
use capture::profile::{rows, Action, Code, Opt, Pattern, Policy, Preset};
use capture::pseudonym::Keyring;
use capture_tests::corpus::{self, Corpus, Kind, Needle, Plant};
use capture_tests::{cli, scan};
use dicom_core::{Tag, VR};

const DATE: &str = "20261124";

/// The tags the corpus plants: every exact row, the overlay rows in group 6000 and a few
/// curve attributes in group 5000 (the private-attributes row is covered by the corpus's own
/// private elements).
fn table_tags() -> Vec<Tag> {
    let mut out = Vec::new();
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

/// What the policy does with a planted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Removed, emptied, replaced by a dummy or a new UID, or a changed date.
    Gone,
    /// Kept verbatim.
    Kept,
    /// Free text cleaned: identifying names go, other words may stay.
    Cleaned,
}

/// The fate of one element under the policy, from the standard's action codes.
fn element_fate(policy: &Policy, tag: Tag, vr: VR) -> Fate {
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
            VR::SQ => Fate::Kept,
            VR::DA | VR::DT if policy.dates == DatePolicy::Keep => Fate::Kept,
            VR::TM if matches!(policy.dates, DatePolicy::Keep | DatePolicy::Shift) => Fate::Kept,
            VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN | VR::CS => Fate::Cleaned,
            _ => Fate::Gone,
        },
        // A sequence replaced by a dummy, or a sequence of references: its items go through
        // the rules of their own attributes.
        Action::Code(Code::D | Code::XD | Code::ZD | Code::XZD | Code::XZU) if vr == VR::SQ => Fate::Kept,
        Action::Code(_) => Fate::Gone,
    }
}

/// The fate of a planted value: gone as soon as an enclosing sequence goes.
fn fate(policy: &Policy, path: &[(Tag, VR)]) -> Fate {
    let mut last = Fate::Gone;
    for &(tag, vr) in path {
        last = element_fate(policy, tag, vr);
        if last == Fate::Gone {
            return Fate::Gone;
        }
    }
    last
}

/// Whether the policy lets the needle survive in at least one of its plants.
fn allowed(policy: &Policy, needle: &Needle, plants: &[&Plant]) -> bool {
    plants.iter().any(|p| match fate(policy, &p.path) {
        Fate::Kept => true,
        Fate::Cleaned => needle.kind != Kind::Name,
        Fate::Gone => false,
    })
}

/// Finds many needles in one pass: markers by their `PHI` prefix, the others by their first
/// five bytes. A date or time only counts where it starts a value (not inside a longer number
/// such as a `2.25.` UID), so a pseudonymous UID can never pass for a leaked date.
struct Scanner<'a> {
    needles: Vec<&'a Needle>,
    markers: HashMap<&'a [u8], usize>,
    others: HashMap<[u8; 5], Vec<usize>>,
}

impl<'a> Scanner<'a> {
    fn new(needles: Vec<&'a Needle>) -> Scanner<'a> {
        let mut markers = HashMap::new();
        let mut others: HashMap<[u8; 5], Vec<usize>> = HashMap::new();
        for (i, n) in needles.iter().enumerate() {
            if n.kind == Kind::Marker {
                assert!(n.bytes.len() == 12 && n.bytes.starts_with(b"PHI"));
                markers.insert(n.bytes.as_slice(), i);
            } else {
                assert!(n.bytes.len() >= 5, "needle {:?} too short to scan for", n.text());
                others.entry(n.bytes[..5].try_into().unwrap()).or_default().push(i);
            }
        }
        Scanner { needles, markers, others }
    }

    fn find(&self, hay: &[u8], found: &mut BTreeSet<usize>) {
        for pos in memchr::memmem::find_iter(hay, b"PHI") {
            if let Some(&i) = hay.get(pos..pos + 12).and_then(|m| self.markers.get(m)) {
                found.insert(i);
            }
        }
        for pos in 0..hay.len().saturating_sub(4) {
            let Some(candidates) = self.others.get(&hay[pos..pos + 5]) else { continue };
            for &i in candidates {
                let n = self.needles[i];
                if !hay[pos..].starts_with(&n.bytes) {
                    continue;
                }
                let before = pos.checked_sub(1).map(|p| hay[p]);
                if matches!(n.kind, Kind::Date | Kind::Time) && before.is_some_and(|b| b.is_ascii_digit() || b == b'.') {
                    continue;
                }
                found.insert(i);
            }
        }
    }
}

/// The data set of a deflated output, inflated; `None` for any other transfer syntax.
fn inflated(file: &[u8]) -> Option<Vec<u8>> {
    let obj = dicom_object::OpenFileOptions::new().read_until(dicom_dictionary_std::tags::PIXEL_DATA).from_reader(&file[128..]).ok()?;
    if obj.meta().transfer_syntax().trim_end_matches('\0') != "1.2.840.10008.1.2.1.99" {
        return None;
    }
    let group_length = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&file[144 + group_length..]).read_to_end(&mut out).expect("inflate a deflated data set");
    Some(out)
}

/// Every haystack of an export: the zip bytes, each entry's name and bytes, and the inflated
/// data set of deflated entries.
fn haystacks(zip: &[u8]) -> (Vec<(String, Vec<u8>)>, usize) {
    let entries = scan::check_dicom_layout(zip, DATE);
    let files = entries.len();
    let mut out = vec![("the zip bytes".to_string(), zip.to_vec())];
    for (name, data) in entries {
        out.push((format!("entry name {name}"), name.clone().into_bytes()));
        if let Some(plain) = inflated(&data) {
            out.push((format!("{name} (inflated)"), plain));
        }
        out.push((name, data));
    }
    (out, files)
}

/// Original dates that some shifted date could equal: a shift of one patient may land on
/// another original date, which is then no evidence of a leak.
fn shift_collisions(corpus: &Corpus, needles: &[&Needle]) -> BTreeSet<Vec<u8>> {
    let keyring = Keyring::from_secret(cli::PASSPHRASE.as_bytes());
    let shifts: BTreeSet<i64> = corpus.files.iter().map(|f| keyring.date_shift(&f.patient_id)).collect();
    let mut out = BTreeSet::new();
    for n in needles.iter().filter(|n| n.kind == Kind::Date) {
        let d = Date::parse_da(&n.text()).expect("planted dates are valid");
        for &s in &shifts {
            if let Some(shifted) = DatePolicy::Shift.apply(d, s) {
                out.insert(shifted.to_da().into_bytes());
            }
        }
    }
    out
}

struct Run {
    label: String,
    args: Vec<String>,
    policy: Policy,
}

fn runs() -> Vec<Run> {
    let dates = |d: &str| match d {
        "keep" => DatePolicy::Keep,
        "month" => DatePolicy::Month,
        "shift" => DatePolicy::Shift,
        _ => DatePolicy::Remove,
    };
    let mut out = Vec::new();
    for (preset, name) in [(Preset::Mip, "mip"), (Preset::Basic, "basic")] {
        out.push(Run { label: name.into(), args: vec!["--preset".into(), name.into()], policy: Policy::new(preset, &[], None) });
        for d in ["keep", "month", "shift", "remove"] {
            out.push(Run {
                label: format!("{name} --dates {d}"),
                args: vec!["--preset".into(), name.into(), "--dates".into(), d.into()],
                policy: Policy::new(preset, &[], Some(dates(d))),
            });
        }
    }
    for o in Opt::ALL {
        out.push(Run {
            label: format!("basic --option {}", o.name()),
            args: vec!["--preset".into(), "basic".into(), "--option".into(), o.name().into()],
            policy: Policy::new(Preset::Basic, &[o], None),
        });
    }
    out.push(Run {
        label: "basic with every option".into(),
        args: std::iter::once(["--preset", "basic"].map(String::from).to_vec())
            .chain(Opt::ALL.iter().filter(|o| o.name() != "retain-longitudinal-temporal-information-full-dates").map(|o| vec!["--option".into(), o.name().to_string()]))
            .flatten()
            .collect(),
        policy: Policy::new(Preset::Basic, &Opt::ALL.iter().copied().filter(|o| *o != Opt::RetainLongitudinalTemporalInformationFullDates).collect::<Vec<_>>(), None),
    });
    out
}

#[test]
fn planted_phi_never_survives_an_export() {
    let tags = table_tags();
    let corpus = corpus::generate(&tags, corpus::Shape::default());
    let dir = tempfile::tempdir().unwrap();
    corpus.write_to(dir.path());
    let by_needle = corpus.needles();
    let needles: Vec<&Needle> = by_needle.keys().copied().collect();
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    for n in &needles {
        *kinds.entry(n.kind).or_default() += 1;
    }
    eprintln!(
        "corpus: {} files ({} bytes), {} table rows planted ({} of {} tags skipped: no text/date/UID VR), \
         {} plants, {} distinct needles {:?}",
        corpus.files.len(),
        corpus.files.iter().map(|f| f.bytes.len()).sum::<usize>(),
        corpus.rows_planted,
        corpus.rows_skipped.len(),
        tags.len(),
        corpus.plants.len(),
        needles.len(),
        kinds
    );
    assert!(corpus.rows_planted > 450, "only {} rows planted", corpus.rows_planted);
    let scanner = Scanner::new(needles.clone());
    // The scanner finds every needle in the corpus itself (deflated files inflated).
    let mut in_corpus = BTreeSet::new();
    for f in &corpus.files {
        scanner.find(&f.bytes, &mut in_corpus);
        if let Some(plain) = inflated(&f.bytes) {
            scanner.find(&plain, &mut in_corpus);
        }
    }
    let missing: Vec<String> = (0..needles.len()).filter(|i| !in_corpus.contains(i)).map(|i| needles[i].text()).take(20).collect();
    assert!(missing.is_empty(), "the scanner misses planted needles in the corpus: {missing:?}");
    let collisions = shift_collisions(&corpus, &needles);

    let mut failures = Vec::new();
    for run in runs() {
        let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
        let export = cli::export(&[dir.path().to_path_buf()], DATE, &args);
        let (hay, files) = haystacks(&export.zip);
        if files != corpus.files.len() {
            failures.push(format!("{}: {files} of {} files exported\n{}", run.label, corpus.files.len(), export.stderr));
        }
        let mut found = BTreeSet::new();
        let mut places: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for (place, bytes) in &hay {
            let mut here = BTreeSet::new();
            scanner.find(bytes, &mut here);
            for i in here {
                places.entry(i).or_default().push(place);
                found.insert(i);
            }
        }
        let (mut checked, mut kept, mut ambiguous, mut kept_found) = (0, 0, 0, 0);
        let mut leaks = Vec::new();
        for (i, needle) in needles.iter().enumerate() {
            let plants = &by_needle[needle];
            if allowed(&run.policy, needle, plants) {
                kept += 1;
                kept_found += usize::from(found.contains(&i));
                continue;
            }
            checked += 1;
            if found.contains(&i) {
                if run.policy.dates == DatePolicy::Shift && needle.kind == Kind::Date && collisions.contains(&needle.bytes) {
                    ambiguous += 1; // found, but as another date's shifted value
                    continue;
                }
                let where_ = &places[&i];
                leaks.push(format!(
                    "{:?} {:?} planted in {} ({} plants) found in {} places, e.g. {}",
                    needle.kind,
                    needle.text(),
                    plants[0].describe(&corpus.files),
                    plants.len(),
                    where_.len(),
                    where_.last().unwrap()
                ));
            }
        }
        eprintln!(
            "{:<58} {files} files: {checked} needles checked, {kept} kept by the policy ({kept_found} of them found), \
             {ambiguous} found only as another date shifted, {} leaked",
            run.label,
            leaks.len()
        );
        // A positive control: what the policy keeps is found, so the scan does see the output.
        if kept > 0 && kept_found == 0 {
            failures.push(format!("{}: none of the {kept} values the policy keeps was found in the zip", run.label));
        }
        if !leaks.is_empty() {
            let shown = leaks.len().min(40);
            failures.push(format!("{}: {} values leaked:\n    {}", run.label, leaks.len(), leaks[..shown].join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "planted PHI survived:\n  {}", failures.join("\n  "));
}

/// The fate model itself, on rows whose outcome the standard states plainly.
#[test]
fn fate_model_follows_the_standard() {
    use dicom_dictionary_std::tags;
    let basic = Policy::new(Preset::Basic, &[], None);
    let mip = Policy::new(Preset::Mip, &[], None);
    assert_eq!(fate(&basic, &[(tags::ACCESSION_NUMBER, VR::SH)]), Fate::Gone);
    assert_eq!(fate(&basic, &[(tags::STUDY_DATE, VR::DA)]), Fate::Gone);
    assert_eq!(fate(&mip, &[(tags::SERIES_DESCRIPTION, VR::LO)]), Fate::Kept);
    assert_eq!(fate(&mip, &[(tags::DEVICE_SERIAL_NUMBER, VR::LO)]), Fate::Kept);
    assert_eq!(fate(&mip, &[(tags::STUDY_DATE, VR::DA)]), Fate::Gone, "reduced to the month");
    let refs = (tags::REFERENCED_IMAGE_SEQUENCE, VR::SQ);
    assert_eq!(fate(&basic, &[refs, (tags::REFERENCED_SOP_INSTANCE_UID, VR::UI)]), Fate::Gone);
    assert_eq!(fate(&basic, &[refs, (tags::SOP_CLASS_UID, VR::UI)]), Fate::Gone, "unlisted UIDs are remapped");
    let uids = Policy::new(Preset::Basic, &[Opt::RetainUids], None);
    assert_eq!(fate(&uids, &[refs, (tags::REFERENCED_SOP_INSTANCE_UID, VR::UI)]), Fate::Kept);
    let clean = Policy::new(Preset::Basic, &[Opt::CleanDescriptors], None);
    assert_eq!(fate(&clean, &[(tags::STUDY_DESCRIPTION, VR::LO)]), Fate::Cleaned);
    assert_eq!(fate(&basic, &[(tags::PATIENT_ADDRESS, VR::LO)]), Fate::Gone);
}
