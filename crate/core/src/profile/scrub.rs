//! Free text cleaned of identifiers: the words of a text, the instance's identifiers and
//! the forms identifying text takes in free text (long digit runs, written dates, names after
//! a title, addresses). The audit uses the same words, so what one finds the other removes.

/// The words of a value, upper case: runs of letters and digits (cleaning compares the same
/// words: [`scrub`]).
pub(crate) fn words_of(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    word_spans(&chars).into_iter().map(|(a, b)| chars[a..b].iter().collect::<String>().to_uppercase()).collect()
}

/// Free text without the identifying words of the instance (whole words, any case, any
/// separators between the words of one identifier), without runs of digits long enough to be
/// an ID, a phone number or a date, and without dates written with a month's name. Text with
/// nothing to remove is returned as it is.
pub(crate) fn scrub(text: &str, identifiers: &[Vec<String>]) -> String {
    scrub_with(text, identifiers, true)
}

/// [`scrub`] of the identifiers only, for codes (a code value of six digits is no phone).
pub(crate) fn scrub_words(text: &str, identifiers: &[Vec<String>]) -> String {
    scrub_with(text, identifiers, false)
}

fn scrub_with(text: &str, identifiers: &[Vec<String>], free_text: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let spans = word_spans(&chars);
    // Upper-cased as the identifiers' words are (audit::words_of: Weiß is WEISS in both).
    let words: Vec<String> = spans.iter().map(|&(a, b)| chars[a..b].iter().collect::<String>().to_uppercase()).collect();
    let mut gone = vec![false; chars.len()];
    for identifier in identifiers {
        for k in 0..words.len() {
            if !identifier.is_empty() && words[k..].starts_with(identifier) {
                let (start, end) = (spans[k].0, spans[k + identifier.len() - 1].1);
                gone[start..end].iter_mut().for_each(|g| *g = true);
            }
        }
    }
    if free_text {
        mark_digit_runs(&chars, &mut gone);
        mark_written_dates(&words, &spans, &mut gone);
        let clauses = Clauses { chars: &chars, words: &words, spans: &spans };
        clauses.mark_titled_names(&mut gone);
        clauses.mark_addresses(&mut gone);
    }
    if !gone.contains(&true) {
        return text.to_string();
    }
    let kept: String = chars.iter().zip(&gone).filter(|(_, g)| !**g).map(|(c, _)| *c).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of a text (runs of letters and digits) as character ranges.
fn word_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_alphanumeric() {
            let start = i;
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// A run of six digits or more with single separators between them (079 555 12 34,
/// 12.03.1960, 1960-03-12).
fn mark_digit_runs(chars: &[char], gone: &mut [bool]) {
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let (mut end, mut digits) = (i, 0);
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                digits += 1;
                end += 1;
            } else if matches!(chars[end], '.' | '/' | '-' | ':' | ' ') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
                end += 1;
            } else {
                break;
            }
        }
        if digits >= 6 {
            gone[i..end].iter_mut().for_each(|g| *g = true);
        }
        i = end;
    }
}

/// The words of a free text with their places, for the rules that recognise names and
/// addresses by the words around them (in text that names people the instance does not).
struct Clauses<'a> {
    chars: &'a [char],
    words: &'a [String],
    spans: &'a [(usize, usize)],
}

/// Titles a person's name follows (English, French, German, Spanish, Italian).
const TITLES: [&str; 14] = ["DR", "DRE", "DRA", "PROF", "MR", "MRS", "MS", "MME", "MLLE", "HERR", "FRAU", "DOTT", "SR", "SRA"];
/// Words that begin a street's name, and endings of one-word street names.
const STREETS: [&str; 24] = [
    "CHEMIN", "RUE", "AVENUE", "BOULEVARD", "ROUTE", "ALLÉE", "IMPASSE", "QUAI", "STREET", "ROAD", "LANE", "DRIVE",
    "CALLE", "CARRER", "VIA", "VIALE", "PIAZZA", "STRASSE", "STRAßE", "GASSE", "WEG", "PLATZ", "RUA", "PLAZA",
];
const STREET_ENDINGS: [&str; 7] = ["STRASSE", "STRAßE", "GASSE", "WEG", "GADE", "VEJ", "GATAN"];

impl Clauses<'_> {
    /// Whether word `k` begins with a capital letter in the text.
    fn capitalised(&self, k: usize) -> bool {
        self.chars[self.spans[k].0].is_uppercase()
    }

    /// Whether a comma, semicolon or colon stands between words `a` and `a + 1`.
    fn clause_ends_after(&self, a: usize) -> bool {
        a + 1 >= self.spans.len() || self.chars[self.spans[a].1..self.spans[a + 1].0].iter().any(|c| matches!(c, ',' | ';' | ':'))
    }

    fn mark(&self, words: std::ops::RangeInclusive<usize>, gone: &mut [bool]) {
        let (start, end) = (self.spans[*words.start()].0, self.spans[*words.end()].1);
        gone[start..end].iter_mut().for_each(|g| *g = true);
    }

    /// The capitalised words after a title (Dr Castañeda Inés), up to three, within a clause.
    fn mark_titled_names(&self, gone: &mut [bool]) {
        for k in 0..self.words.len() {
            if !TITLES.contains(&self.words[k].as_str()) || !self.capitalised(k) {
                continue;
            }
            let mut last = k;
            while last < k + 3 && last + 1 < self.words.len() && self.capitalised(last + 1) && !(last > k && self.clause_ends_after(last)) {
                last += 1;
            }
            if last > k {
                self.mark(k + 1..=last, gone);
            }
        }
    }

    /// A street (a capitalised street word and the rest of its clause, with a house number
    /// before it) and the postcode and town of the clause after it (12 Rue X, 1205 Genève).
    fn mark_addresses(&self, gone: &mut [bool]) {
        let street = |w: &str| STREETS.contains(&w) || STREET_ENDINGS.iter().any(|e| w.len() > e.len() + 2 && w.ends_with(e));
        let number = |w: &str| w.len() <= 5 && w.chars().next().is_some_and(|c| c.is_ascii_digit());
        for k in 0..self.words.len() {
            if !street(&self.words[k]) || !self.capitalised(k) {
                continue;
            }
            let start = if k > 0 && number(&self.words[k - 1]) && !self.clause_ends_after(k - 1) { k - 1 } else { k };
            let mut end = k;
            while !self.clause_ends_after(end) {
                end += 1;
            }
            self.mark(start..=end, gone);
            // The postcode and the town: a number, then capitalised words, in the next clause.
            let next = end + 1;
            if next + 1 < self.words.len() && number(&self.words[next]) && self.capitalised(next + 1) {
                let mut town = next + 1;
                while !self.clause_ends_after(town) && town + 1 < self.words.len() && self.capitalised(town + 1) {
                    town += 1;
                }
                self.mark(next..=town, gone);
            }
        }
    }
}

/// Month names (English, French, German; full and three letters) that a date written in
/// words is recognised by.
const MONTHS: [&str; 40] = [
    "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER",
    "DECEMBER", "JAN", "FEB", "MAR", "APR", "JUN", "JUL", "AUG", "SEP", "SEPT", "OCT", "NOV", "DEC", "JANVIER",
    "FÉVRIER", "MARS", "AVRIL", "MAI", "JUIN", "JUILLET", "AOÛT", "SEPTEMBRE", "OCTOBRE", "NOVEMBRE", "DÉCEMBRE",
    "JANUAR", "FEBRUAR", "MÄRZ", "DEZEMBER",
];

/// A date written with a month's name (12 March 1960, March 12, 1960, 12. März 1960): the
/// month, the year beside it and a day number beside either.
fn mark_written_dates(words: &[String], spans: &[(usize, usize)], gone: &mut [bool]) {
    let is_year = |w: &str| w.len() == 4 && w.parse::<u32>().is_ok_and(|y| (1850..=2199).contains(&y));
    let is_day = |w: &str| w.len() <= 2 && w.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d));
    for k in 0..words.len() {
        if !MONTHS.contains(&words[k].as_str()) {
            continue;
        }
        let Some(year) = [k + 1, k + 2].into_iter().find(|&j| j < words.len() && is_year(&words[j])) else { continue };
        let mut marked = vec![k, year];
        if k > 0 && is_day(&words[k - 1]) {
            marked.push(k - 1);
        }
        if year == k + 2 && is_day(&words[k + 1]) {
            marked.push(k + 1);
        }
        for m in marked {
            gone[spans[m].0..spans[m].1].iter_mut().for_each(|g| *g = true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_names_and_long_numbers() {
        let w = |t: &str| t.split(' ').map(String::from).collect::<Vec<_>>();
        let words = vec![w("MÜLLER HANS"), w("MÜLLER"), w("HANS"), w("PID123")];
        assert_eq!(scrub("T1 sagittal for Hans Müller", &words), "T1 sagittal for");
        assert_eq!(scrub("called 079 555 12 34, id pid123, born 12.03.1960", &words), "called , id , born");
        assert_eq!(scrub("T2  FLAIR 3mm", &words), "T2  FLAIR 3mm", "nothing to remove: unchanged");
        assert_eq!(scrub("born 12 March 1960 in Bern", &words), "born in Bern");
        assert_eq!(scrub("seen March 3, 2024", &words), "seen ,");
        // Names after a title, and addresses, of people the instance does not name.
        assert_eq!(scrub("seen by Dr Castañeda Inés; ok", &words), "seen by Dr ; ok");
        assert_eq!(scrub("lives Chemin des Glycines 17, 1205 Genève; T1", &words), "lives , ; T1");
        assert_eq!(scrub("Østerbrogade 88, 2100 Hørsholm", &words), ",");
        assert_eq!(scrub("ST elevation, in place, Dr. visit", &words), "ST elevation, in place, Dr. visit");
        // Whole words only: a name inside another word stays.
        let li = vec![w("LI")];
        assert_eq!(scrub("ref ACC-778812, ok", &[w("ACC 778812")]), "ref , ok");
        assert_eq!(scrub("SLICE by Li", &li), "SLICE by");
        // A word whose capital is longer (ß → SS) matches the identifier's words.
        let weiss = vec![words_of("Weiß")];
        assert_eq!(scrub("seen by Hans Weiß", &weiss), "seen by Hans");
    }
}
