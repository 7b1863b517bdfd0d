//! The PHI-planted corpus (tests/src/corpus.rs: markers in every attribute of Table E.1-1,
//! accented names in Latin-1 and UTF-8, private sequences, elements after Pixel Data) through
//! the page with its default settings: the zip holds none of the planted markers, UIDs and
//! names that the policy does not keep, anywhere in its bytes, entry names or inflated data
//! sets, and it is byte-identical to the CLI's zip — whose every byte `tests/tests/phi.rs`
//! scans for all 36,000 planted values (dates and times included) under each preset and option.

mod common;

use capture::profile::{Policy, Preset};
use capture_tests::corpus::{self, Kind};
use capture_tests::scan;
use common::*;
use std::time::Duration;

#[test]
fn planted_corpus_through_the_page_leaks_nothing() {
    let corpus = corpus::generate(&corpus::table_tags(), corpus::Shape::default());
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus.write_to(dir.path());
    let date = today();

    let (_server, browser, _) = open_page();
    let s = &browser.session;
    browser.enter(&inputs);
    s.find("#run").unwrap().click().unwrap();
    let review = browser.confirm_review(Duration::from_secs(120));
    assert_eq!(review["images"], inputs.len(), "every corpus file is an image to export: {review}");
    let zip = browser.download_zip(Duration::from_secs(120));

    // Every planted value that the default preset does not keep (by the standard's action
    // codes, `corpus::allowed`) is absent.
    let policy = Policy::new(Preset::Mip, &[], None);
    let needles = corpus.needles();
    let mut haystacks = vec![("the zip bytes".to_string(), zip.clone())];
    for (name, data) in scan::entries(&zip) {
        haystacks.push((format!("entry name {name}"), name.clone().into_bytes()));
        if let Some(plain) = scan::inflated(&data) {
            haystacks.push((format!("{name} (inflated)"), plain));
        }
        haystacks.push((name, data));
    }
    let mut checked = 0;
    let mut leaks = Vec::new();
    for needle in needles.iter().filter(|(n, p)| !corpus::allowed(&policy, n, p)).map(|(n, _)| n) {
        // A date or time may equal an unrelated number of a kept value; the full scan of
        // tests/tests/phi.rs handles those by position, here they are left to it.
        if matches!(needle.kind, Kind::Date | Kind::Time) {
            continue;
        }
        checked += 1;
        for (place, data) in &haystacks {
            if scan::contains(data, &needle.bytes) {
                leaks.push(format!("{:?} {} in {place}", needle.kind, needle.text()));
            }
        }
    }
    assert!(leaks.is_empty(), "{} leaks:\n  {}", leaks.len(), leaks.join("\n  "));
    assert!(checked > 10_000, "only {checked} planted values checked");
    eprintln!("page: {} files exported, {checked} planted markers, UIDs and names absent", review["images"]);

    // The page writes exactly the CLI's bytes, which tests/tests/phi.rs scans for everything.
    let cli = cli::export(&inputs, &date, &[]).zip;
    assert_same_zip(&zip, &cli, "PHI corpus");
}
