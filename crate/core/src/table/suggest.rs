//! Suggested rules, from a column's header (English, French, German, Italian) and from
//! what its values look like. Direct identifiers are dropped, identifiers that link to the
//! images are pseudonymised, dates follow the date policy, short categorical and numeric
//! values are kept, long or mostly unique text is dropped. The user confirms them.

use std::collections::BTreeSet;

use super::values::{self, YearLast};
use super::Rule;

/// Distinct values kept per column at most (to compare with the DICOM PatientIDs).
const DISTINCT_CAP: usize = 2000;
/// Sample values kept per column for the screen (never for the report or the zip).
const SAMPLES: usize = 3;
/// Longer values are kept (as samples and distinct values) cut to this many characters and
/// marked with their length: a cell of megabytes is not copied twice more.
const KEPT_CHARS: usize = 200;

/// What the scan learnt of one column.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub filled: usize,
    pub distinct: BTreeSet<String>,
    /// More distinct values than [`DISTINCT_CAP`].
    pub capped: bool,
    pub total_len: usize,
    pub max_len: usize,
    pub dates: usize,
    pub emails: usize,
    pub phones: usize,
    pub avs: usize,
    pub numbers: usize,
    pub long_integers: usize,
    pub samples: Vec<String>,
    /// Dates with the year last that read only day first, only month first.
    pub day_first: usize,
    pub month_first: usize,
    /// The first date with the year last that reads both ways, differently.
    pub either_way: Option<String>,
}

impl Stats {
    pub fn add(&mut self, value: &str) {
        let v = value.trim();
        if v.is_empty() {
            return;
        }
        self.filled += 1;
        let length = v.chars().count();
        self.total_len += length;
        self.max_len = self.max_len.max(length);
        self.dates += values::parse_date(v).is_some() as usize;
        self.emails += values::is_email(v) as usize;
        self.avs += values::is_avs(v) as usize;
        self.phones += values::is_phone(v) as usize;
        self.numbers += values::is_number(v) as usize;
        self.long_integers += values::is_long_integer(v) as usize;
        match values::year_last_order(v) {
            Some(YearLast::DayFirst) => self.day_first += 1,
            Some(YearLast::MonthFirst) => self.month_first += 1,
            Some(YearLast::Both) if self.either_way.is_none() => self.either_way = Some(v.chars().take(KEPT_CHARS).collect()),
            _ => {}
        }
        let kept = match v.char_indices().nth(KEPT_CHARS) {
            Some((cut, _)) => std::borrow::Cow::Owned(format!("{}… ({length} characters)", &v[..cut])),
            None => std::borrow::Cow::Borrowed(v),
        };
        if !self.distinct.contains(kept.as_ref()) {
            if self.samples.len() < SAMPLES {
                self.samples.push(kept.to_string());
            }
            if self.distinct.len() < DISTINCT_CAP {
                self.distinct.insert(kept.into_owned());
            } else {
                self.capped = true;
            }
        }
    }

    /// A value whose column's dates read both day first and month first (no value tells the
    /// order: every day and month is 12 or less), when there is one.
    pub fn ambiguous_date(&self) -> Option<&str> {
        (self.day_first == 0 && self.month_first == 0).then_some(self.either_way.as_deref()).flatten()
    }

    /// Whether `n` of the filled cells is at least `percent` %.
    fn share(&self, n: usize, percent: usize) -> bool {
        n > 0 && n * 100 >= self.filled * percent
    }

    /// Nearly every value different, over enough values to tell.
    fn mostly_unique(&self) -> bool {
        self.capped || (self.filled >= 10 && self.distinct.len() * 10 >= self.filled * 9)
    }
}

/// A suggested rule and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub rule: Rule,
    pub quasi_identifier: bool,
    pub reason: String,
}

fn suggestion(rule: Rule, quasi_identifier: bool, reason: impl Into<String>) -> Suggestion {
    Suggestion { rule, quasi_identifier, reason: reason.into() }
}

/// What a header says a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A direct identifier (the words say which).
    Direct(&'static str),
    FreeText,
    BirthDate,
    PatientId,
    Visit,
    Date,
    /// Kept, and a quasi-identifier for the k-anonymity hint.
    Quasi(&'static str),
}

/// (kind, words found anywhere in the folded header, words that must be a whole token)
const HEADER_WORDS: &[(Kind, &[&str], &[&str])] = &[
    (Kind::Direct("social security number"), &["versicherten", "securitesociale", "socialsecurity", "assicurat"], &["avs", "ahv", "nss", "ssn", "noavs", "avsnr", "ahvnr"]),
    (Kind::Direct("phone number"), &["telephone", "phone", "telefon", "mobile", "natel", "handy", "cellulare", "portable"], &["tel", "fax"]),
    (Kind::Direct("e-mail address"), &["email", "courriel"], &["mail"]),
    (Kind::Direct("name"), &["name", "prenom", "vorname", "nachname", "cognome", "surname", "initiales", "initials"], &["nom", "nome"]),
    (
        Kind::Direct("address or place"),
        &["adresse", "address", "indirizzo", "strasse", "street", "domicile", "wohnort", "residenza", "geburtsort", "lieudenaissance", "luogodinascita", "birthplace", "placeofbirth"],
        &["rue", "via", "ort", "ville", "city", "citta", "localite", "localita"],
    ),
    (
        Kind::FreeText,
        &["comment", "remarque", "remark", "bemerkung", "kommentar", "notiz", "osservazion", "befund", "anamnes", "description", "beschreibung", "descrizione", "rapport", "report"],
        &["note", "notes", "text", "texte", "testo", "freetext", "commento", "nota"],
    ),
    (Kind::BirthDate, &["naissance", "geburt", "nascita", "birth"], &["dob", "ddn", "gebdat"]),
    (
        Kind::PatientId,
        &["patientid", "patientnumber", "patientennummer", "numeropatient", "idpatient", "nopatient", "idpaziente", "codicepaziente", "patnr"],
        &["ipp", "nip", "pid", "mrn", "patid"],
    ),
    (
        Kind::Visit,
        &["visit", "besuch", "encounter", "sejour", "aufenthalt", "ricovero", "fallnummer", "studydate", "examdate", "dateexamen", "untersuchungsdatum", "dataesame", "accession"],
        &["visite", "visita", "episode", "fall"],
    ),
    (Kind::Date, &["date", "datum"], &["data", "dt", "jour"]),
    (Kind::Quasi("sex"), &["geschlecht", "gender"], &["sex", "sexe", "genre", "sesso"]),
    (Kind::Quasi("age"), &[], &["age", "alter", "eta", "ans", "jahre", "anni"]),
    (Kind::Quasi("postcode"), &["postcode", "postal", "codepostal", "postleitzahl", "zipcode"], &["npa", "plz", "cap", "zip"]),
];

/// Lower case, accents folded, split into tokens at non-letters and at camelCase humps.
fn tokens(header: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in header.chars() {
        let folded = fold(c);
        if !folded.chars().all(|f| f.is_ascii_alphanumeric()) || folded.is_empty() {
            out.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.push_str(&folded.to_ascii_lowercase());
    }
    out.extend((!current.is_empty()).then_some(current));
    out
}

/// One character without its accent (`é` → `e`, `ß` → `ss`).
pub fn fold(c: char) -> String {
    let base = match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ß' => return "ss".into(),
        _ => return c.to_string(),
    };
    if c.is_uppercase() { base.to_ascii_uppercase().to_string() } else { base.to_string() }
}

fn header_kind(header: &str) -> Option<Kind> {
    let tokens = tokens(header);
    let compact = tokens.concat();
    HEADER_WORDS.iter().find_map(|(kind, anywhere, whole)| {
        let hit = anywhere.iter().any(|w| compact.contains(w)) || tokens.iter().any(|t| whole.contains(&t.as_str()));
        hit.then_some(*kind)
    })
}

/// The suggested rule of one column. `dicom`: the PatientIDs of the DICOM inputs.
pub fn suggest(header: &str, stats: &Stats, dicom: &super::Dicom) -> Suggestion {
    let kind = header_kind(header);
    let by_header = |what: &str| format!("header {header:?} reads as {what}");
    if let Some(Kind::Direct(what)) = kind {
        return suggestion(Rule::Drop, false, format!("direct identifier: {}", by_header(what)));
    }
    for (n, what) in [(stats.avs, "social security numbers"), (stats.emails, "e-mail addresses"), (stats.phones, "phone numbers")] {
        if stats.share(n, 30) {
            return suggestion(Rule::Drop, false, format!("direct identifier: {n} of {} values look like {what}", stats.filled));
        }
    }
    if kind == Some(Kind::FreeText) {
        return suggestion(Rule::Drop, false, format!("free text: {}", by_header("free text")));
    }
    let linked = stats.distinct.iter().filter(|v| v.len() >= 2 && dicom.has_patient(v)).count();
    match kind {
        Some(Kind::BirthDate) => return suggestion(Rule::BirthDate, true, by_header("a birth date") + ": kept as the year"),
        Some(Kind::PatientId) => return suggestion(Rule::PatientId, false, by_header("a patient ID")),
        _ if linked > 0 => {
            return suggestion(Rule::PatientId, false, format!("{linked} values equal the PatientID of DICOM inputs"));
        }
        Some(Kind::Visit) => return suggestion(Rule::Visit, false, by_header("a visit ID or date")),
        Some(Kind::Date) => return suggestion(Rule::Date, false, by_header("a date")),
        _ if stats.share(stats.dates, 80) => {
            return suggestion(Rule::Date, false, format!("{} of {} values are dates", stats.dates, stats.filled));
        }
        Some(Kind::Quasi(what)) => return suggestion(Rule::Keep, true, by_header(what) + ": a quasi-identifier"),
        _ => {}
    }
    shape(stats)
}

/// Columns the header does not name: judged by their values.
fn shape(stats: &Stats) -> Suggestion {
    if stats.filled == 0 {
        return suggestion(Rule::Drop, false, "empty column");
    }
    let average = stats.total_len / stats.filled;
    if stats.share(stats.numbers, 95) {
        if stats.share(stats.long_integers, 80) && stats.mostly_unique() {
            return suggestion(Rule::Drop, false, "long, mostly unique numbers: an identifier?");
        }
        return suggestion(Rule::Keep, false, "numbers: a measurement or score");
    }
    if average > 30 || stats.max_len > 80 {
        return suggestion(Rule::Drop, false, format!("free text: values up to {} characters", stats.max_len));
    }
    if stats.mostly_unique() {
        return suggestion(Rule::Drop, false, "mostly unique values: an identifier or free text?");
    }
    if stats.max_len <= 40 {
        return suggestion(Rule::Keep, false, "short categorical values or codes");
    }
    suggestion(Rule::Drop, false, "unrecognised text (dropped: fail closed)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient_id::{Normalise, PatientIdRule};
    use crate::table::Dicom;

    fn stats(values: &[&str]) -> Stats {
        let mut s = Stats::default();
        values.iter().for_each(|v| s.add(v));
        s
    }

    fn dicom(ids: &[&str], rule: PatientIdRule) -> Dicom {
        Dicom { patients: ids.iter().map(|i| rule.key(i)).collect(), rule, ..Dicom::default() }
    }

    fn rule(header: &str, values: &[&str]) -> Rule {
        suggest(header, &stats(values), &dicom(&["PAT-001"], PatientIdRule::default())).rule
    }

    #[test]
    fn headers_in_four_languages() {
        for h in ["Nom", "Prénom", "Vorname", "Nachname", "cognome", "PatientName", "téléphone", "Telefon", "E-Mail", "Adresse", "indirizzo", "No AVS", "AHV-Nr", "Remarques", "Bemerkung"] {
            assert_eq!(rule(h, &["x"]), Rule::Drop, "{h}");
        }
        for h in ["PatientID", "patient_id", "IPP", "NIP", "Patientennummer"] {
            assert_eq!(rule(h, &["12"]), Rule::PatientId, "{h}");
        }
        for h in ["date de naissance", "Geburtsdatum", "data di nascita", "DOB", "birth_date"] {
            assert_eq!(rule(h, &["01.02.1980"]), Rule::BirthDate, "{h}");
        }
        assert_eq!(rule("Visit date", &["2024-01-02"]), Rule::Visit);
        assert_eq!(rule("Datum Labor", &["2024-01-02"]), Rule::Date);
        let sex = suggest("Sexe", &stats(&["F", "M"]), &Dicom::default());
        assert_eq!((sex.rule, sex.quasi_identifier), (Rule::Keep, true));
        assert_eq!(rule("Geburtsort", &["Bern"]), Rule::Drop);
    }

    #[test]
    fn values_speak_when_headers_do_not() {
        assert_eq!(rule("contact", &["a@b.ch", "c@d.ch"]), Rule::Drop);
        assert_eq!(rule("x", &["756.1234.5678.97"]), Rule::Drop);
        assert_eq!(rule("contact", &["+41 79 123 45 67"]), Rule::Drop);
        assert_eq!(rule("ref", &["PAT-001", "PAT-999"]), Rule::PatientId);
        assert_eq!(rule("when", &["2024-01-02", "03.04.2023"]), Rule::Date);
        assert_eq!(rule("score", &["3", "4,5", "12"]), Rule::Keep);
        assert_eq!(rule("icd", &["I63.9", "G35"]), Rule::Keep);
        let long = "a long sentence written by a clinician about the patient's history";
        assert_eq!(rule("history", &[long]), Rule::Drop);
        let ids: Vec<String> = (0..20).map(|i| format!("{}", 4_000_000 + i * 37)).collect();
        assert_eq!(rule("case", &ids.iter().map(String::as_str).collect::<Vec<_>>()), Rule::Drop);
        assert_eq!(rule("blank", &["", " "]), Rule::Drop);
    }

    #[test]
    fn dates_that_read_both_ways_are_ambiguous() {
        assert_eq!(stats(&["04.07.1961", "01.01.1980", ""]).ambiguous_date(), Some("04.07.1961"));
        assert_eq!(stats(&["04.07.1961", "13.07.1961"]).ambiguous_date(), None, "13 is a day");
        assert_eq!(stats(&["04/07/1961", "07/13/1961"]).ambiguous_date(), None, "13 is a day: month first");
        assert_eq!(stats(&["01.01.1980", "1961-07-04"]).ambiguous_date(), None, "no date reads two ways");
    }

    /// Values match the images' PatientIDs as both are keyed: normalised alike.
    #[test]
    fn values_match_patient_ids_under_the_normalisation() {
        let zeros = dicom(&["123", "456"], PatientIdRule::from(vec![Normalise::LeadingZeros]));
        assert_eq!(suggest("ref", &stats(&["00123", "0456"]), &zeros).rule, Rule::PatientId);
        let plain = dicom(&["123", "456"], PatientIdRule::default());
        assert_ne!(suggest("ref", &stats(&["00123", "0456"]), &plain).rule, Rule::PatientId);
    }
}
