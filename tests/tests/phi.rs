//! The PHI-planted corpus ([`capture_tests::corpus`]) through `capture export` under every
//! preset, option and date policy: a scan of every byte of the zip (entry names, raw bytes,
//! decompressed entries, inflated data sets of deflated files) finds none of the planted
//! markers, original dates, times, UIDs, IDs or accented names — except those whose
//! attribute the policy keeps, which are derived from [`Policy::action`], never hard-coded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use capture::dates::{Date, DatePolicy};
use capture::profile::{Opt, Policy, Preset};
use capture::pseudonym::Keyring;
use capture_tests::corpus::{self, allowed, fate, Corpus, Fate, Kind, Needle};
use capture_tests::{cli, scan};
use dicom_core::VR;

const DATE: &str = "20261124";


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


/// Every haystack of an export: the zip bytes, each entry's name and bytes, and the inflated
/// data set of deflated entries.
fn haystacks(zip: &[u8]) -> (Vec<(String, Vec<u8>)>, usize) {
    let entries = scan::check_dicom_layout(zip, DATE);
    let files = entries.len();
    let mut out = vec![("the zip bytes".to_string(), zip.to_vec())];
    for (name, data) in entries {
        out.push((format!("entry name {name}"), name.clone().into_bytes()));
        if let Some(plain) = scan::inflated(&data) {
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
    let tags = corpus::table_tags();
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
        if let Some(plain) = scan::inflated(&f.bytes) {
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
    assert_eq!(fate(&mip, &[(tags::SERIES_DESCRIPTION, VR::LO)]), Fate::Cleaned, "kept, cleaned of identifiers");
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
    // A dummy sequence keeps nothing of its items.
    let operators = (tags::OPERATOR_IDENTIFICATION_SEQUENCE, VR::SQ);
    assert_eq!(fate(&basic, &[operators, (tags::CODE_VALUE, VR::SH)]), Fate::Gone);
    assert_eq!(fate(&basic, &[(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH)]), Fate::Gone);
}
