//! Patient ID normalisation: one site setting, applied alike to the DICOM PatientID and to
//! every table's patient-id column before either is keyed ([`crate::pseudonym::Keyring`]),
//! so that a table's `00123` or ` 123 ` can be the images' `123`. Trimming always applies
//! (as [`crate::pseudonym::Keyring::patient`] always did); the other steps only when chosen,
//! so with none chosen every research ID stays what it was.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

/// One optional normalisation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalise {
    /// `00123` is `123` (an ID of zeros only stays `0`).
    LeadingZeros,
    /// `ab12` is `AB12`.
    Case,
    /// Spaces, dashes and dots anywhere are ignored: `12-34.5` is `12345`.
    Separators,
}

impl Normalise {
    pub const ALL: [Normalise; 3] = [Normalise::LeadingZeros, Normalise::Case, Normalise::Separators];

    pub fn name(self) -> &'static str {
        match self {
            Normalise::LeadingZeros => "leading-zeros",
            Normalise::Case => "case",
            Normalise::Separators => "separators",
        }
    }

    pub fn from_name(name: &str) -> Option<Normalise> {
        Normalise::ALL.into_iter().find(|n| n.name() == name.trim())
    }

    /// A comma-separated list of names (the CLI's `--patient-id-normalise`).
    pub fn parse_list(text: &str) -> Result<Vec<Normalise>, String> {
        let names = text.split(',').map(str::trim).filter(|n| !n.is_empty());
        names
            .map(|n| {
                Normalise::from_name(n).ok_or_else(|| {
                    let all: Vec<&str> = Normalise::ALL.iter().map(|o| o.name()).collect();
                    format!("unknown patient ID normalisation {n:?}; one or more of: {}", all.join(", "))
                })
            })
            .collect()
    }
}

/// The chosen steps. In the settings JSON: `"patientIdNormalise": ["leading-zeros", "case"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Normalise>", into = "Vec<Normalise>")]
pub struct PatientIdRule {
    options: BTreeSet<Normalise>,
}

impl From<Vec<Normalise>> for PatientIdRule {
    fn from(options: Vec<Normalise>) -> Self {
        PatientIdRule { options: options.into_iter().collect() }
    }
}

impl From<PatientIdRule> for Vec<Normalise> {
    fn from(rule: PatientIdRule) -> Self {
        rule.options.into_iter().collect()
    }
}

/// Separators that [`Normalise::Separators`] ignores: white space, dashes, dots.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '\u{2010}' | '\u{2011}' | '\u{2013}')
}

impl PatientIdRule {
    pub fn has(&self, option: Normalise) -> bool {
        self.options.contains(&option)
    }

    pub fn options(&self) -> impl Iterator<Item = Normalise> + '_ {
        self.options.iter().copied()
    }

    /// This rule with more steps.
    pub fn with(&self, more: &[Normalise]) -> PatientIdRule {
        PatientIdRule { options: self.options.iter().chain(more).copied().collect() }
    }

    /// The ID that is keyed: trimmed, then separators, case, leading zeros as chosen (in that
    /// order, whichever were chosen). A value the steps would empty (`-`) stays as trimmed.
    pub fn key(&self, id: &str) -> String {
        let trimmed = id.trim();
        let mut out: String = if self.has(Normalise::Separators) {
            trimmed.chars().filter(|&c| !is_separator(c)).collect()
        } else {
            trimmed.to_string()
        };
        if self.has(Normalise::Case) {
            out = out.to_uppercase();
        }
        if self.has(Normalise::LeadingZeros) {
            let rest = out.trim_start_matches('0');
            out = if rest.is_empty() && !out.is_empty() { "0".to_string() } else { rest.to_string() };
        }
        if out.is_empty() { trimmed.to_string() } else { out }
    }
}

/// Table IDs that link to no image under the chosen rule but would with `options` added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NearMiss {
    pub options: Vec<Normalise>,
    /// Distinct table patient IDs the options would link.
    pub patient_ids: usize,
}

/// The near misses of some table IDs against the images' IDs (both as read, trimmed or not):
/// each step not chosen that would link some, then all of them together when that links more
/// than any one alone. Counts only: no ID leaves this function.
pub fn near_misses<'a>(rule: &PatientIdRule, tables: impl IntoIterator<Item = &'a String>, images: &BTreeSet<String>) -> Vec<NearMiss> {
    let keys = |r: &PatientIdRule| -> HashSet<String> { images.iter().map(|i| r.key(i)).collect() };
    let linked_now = keys(rule);
    let unlinked: Vec<&String> = tables.into_iter().filter(|t| !linked_now.contains(&rule.key(t))).collect();
    let linked_with = |more: &[Normalise]| {
        let r = rule.with(more);
        let images = keys(&r);
        unlinked.iter().filter(|t| images.contains(&r.key(t))).count()
    };
    let missing: Vec<Normalise> = Normalise::ALL.into_iter().filter(|o| !rule.has(*o)).collect();
    if unlinked.is_empty() || images.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<NearMiss> = missing
        .iter()
        .map(|&o| NearMiss { options: vec![o], patient_ids: linked_with(&[o]) })
        .filter(|m| m.patient_ids > 0)
        .collect();
    if missing.len() > 1 {
        let all = linked_with(&missing);
        if all > 0 && out.iter().all(|m| m.patient_ids < all) {
            out.push(NearMiss { options: missing, patient_ids: all });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(options: &[Normalise]) -> PatientIdRule {
        PatientIdRule::from(options.to_vec())
    }

    #[test]
    fn no_option_only_trims() {
        let none = PatientIdRule::default();
        for id in ["00123", "ab-12.3", "HUG-0012345", "PID 1", "0"] {
            assert_eq!(none.key(id), id, "without options the ID is keyed as it is");
        }
        assert_eq!(none.key(" 123 \t"), "123");
    }

    #[test]
    fn each_step_as_chosen() {
        use Normalise::*;
        assert_eq!(rule(&[LeadingZeros]).key(" 00123 "), "123");
        assert_eq!(rule(&[LeadingZeros]).key("000"), "0");
        assert_eq!(rule(&[LeadingZeros]).key("A0012"), "A0012", "only zeros at the start");
        assert_eq!(rule(&[Case]).key("ab-12"), "AB-12");
        assert_eq!(rule(&[Separators]).key("12 34-5.6"), "123456");
        assert_eq!(rule(&[Separators]).key("-"), "-", "a value the steps would empty stays");
        assert_eq!(rule(&[Separators, LeadingZeros]).key("0-0123"), "123", "separators go before the zeros");
        assert_eq!(rule(&Normalise::ALL).key(" hug-0012.345 "), "HUG0012345");
    }

    #[test]
    fn settings_and_cli_names() {
        let r: PatientIdRule = serde_json::from_str(r#"["case", "leading-zeros"]"#).unwrap();
        assert!(r.has(Normalise::Case) && r.has(Normalise::LeadingZeros) && !r.has(Normalise::Separators));
        assert_eq!(Normalise::parse_list("leading-zeros, separators").unwrap(), [Normalise::LeadingZeros, Normalise::Separators]);
        assert!(Normalise::parse_list("zeros").unwrap_err().contains("leading-zeros, case, separators"));
        assert!(serde_json::from_str::<PatientIdRule>(r#"["zeros"]"#).is_err());
    }

    #[test]
    fn near_misses_count_what_an_option_not_chosen_would_link() {
        let images: BTreeSet<String> = ["123", "AB7", "9-9"].map(String::from).into();
        let tables: Vec<String> = ["00123", " 123 ", "ab7", "99", "000ab7", "555"].map(String::from).into();
        let misses = near_misses(&PatientIdRule::default(), &tables, &images);
        let expected = [
            NearMiss { options: vec![Normalise::LeadingZeros], patient_ids: 1 },
            NearMiss { options: vec![Normalise::Case], patient_ids: 1 },
            NearMiss { options: vec![Normalise::Separators], patient_ids: 1 },
            NearMiss { options: Normalise::ALL.to_vec(), patient_ids: 4 },
        ];
        assert_eq!(misses, expected);
        let chosen = rule(&[Normalise::LeadingZeros, Normalise::Case, Normalise::Separators]);
        assert!(near_misses(&chosen, &tables, &images).is_empty());
        let unrelated: Vec<String> = vec!["555".into()];
        assert!(near_misses(&PatientIdRule::default(), &unrelated, &images).is_empty(), "nothing to link, no near miss");
    }
}
