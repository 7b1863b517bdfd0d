//! What a cell's value looks like: dates in the formats hospital exports use, e-mail
//! addresses, phone numbers, Swiss social security (AVS/AHV) numbers, numbers.

use serde::{Deserialize, Serialize};

use crate::dates::Date;

/// How a date written with the year last (`04.07.1961`, `04/07/1961`) is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateOrder {
    /// `dd.mm.yyyy`, as in Europe (the default).
    #[default]
    DayFirst,
    /// `mm/dd/yyyy`, as in the United States.
    MonthFirst,
}

/// A date written as `yyyy-mm-dd`, `yyyy/mm/dd`, `dd.mm.yyyy`, `dd/mm/yyyy`, `dd-mm-yyyy`
/// or `yyyymmdd`, optionally followed by a time (` 10:30`, `T10:30:00`), which is ignored.
/// Dates with the year last are read day first, as in Europe; two-digit years are not dates.
pub fn parse_date(text: &str) -> Option<Date> {
    parse_date_in(text, DateOrder::DayFirst)
}

/// [`parse_date`], dates with the year last read in `order`.
pub fn parse_date_in(text: &str, order: DateOrder) -> Option<Date> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    let (y, m, d) = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        (&t[0..4], &t[4..6], &t[6..8])
    } else {
        let parts: Vec<&str> = t.split(['-', '.', '/']).collect();
        match (&parts[..], order) {
            (&[y, m, d], _) if y.len() == 4 => (y, m, d),
            (&[d, m, y], DateOrder::DayFirst) if y.len() == 4 => (y, m, d),
            (&[m, d, y], DateOrder::MonthFirst) if y.len() == 4 => (y, m, d),
            _ => return None,
        }
    };
    if !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let (y, m, d): (u16, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let date = Date::parse_da(&format!("{y:04}{m:02}{d:02}"))?;
    (1800..=2200).contains(&date.year).then_some(date)
}

/// How a value bears on the order of a date column: `None` when it is no date with the year
/// last; else whether it reads only day first, only month first, or both ways differently
/// (both fields 12 or less and unequal: `04.07.1961`).
pub fn year_last_order(text: &str) -> Option<YearLast> {
    let (day_first, month_first) = (parse_date_in(text, DateOrder::DayFirst), parse_date_in(text, DateOrder::MonthFirst));
    let t = text.trim();
    let year_first = t.len() >= 5 && t.as_bytes()[..4].iter().all(u8::is_ascii_digit) && !t.as_bytes()[4].is_ascii_digit();
    if year_first || (t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    match (day_first, month_first) {
        (Some(a), Some(b)) if a != b => Some(YearLast::Both),
        (Some(_), Some(_)) => Some(YearLast::Same),
        (Some(_), None) => Some(YearLast::DayFirst),
        (None, Some(_)) => Some(YearLast::MonthFirst),
        (None, None) => None,
    }
}

/// What a date with the year last says of its column's order ([`year_last_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearLast {
    DayFirst,
    MonthFirst,
    /// Read both ways, differently.
    Both,
    /// Read both ways alike (day and month equal).
    Same,
}

/// A year alone (`1980`), as some tables give a birth date.
pub fn parse_year(text: &str) -> Option<u16> {
    let t = text.trim();
    (t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten()
}

/// ISO 8601: `yyyy-mm-dd`.
pub fn iso(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

pub fn is_email(text: &str) -> bool {
    let t = text.trim();
    match t.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.contains('@') && !t.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A Swiss social security number: 13 digits starting with 756 (`756.1234.5678.97`).
pub fn is_avs(text: &str) -> bool {
    let digits: String = text.chars().filter(|c| !matches!(c, '.' | ' ' | '-')).collect();
    digits.len() == 13 && digits.starts_with("756") && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A phone number: `+` or a leading 0, 9 to 15 digits, spaces, dots, dashes, slashes and
/// parentheses between them; not a date, not a decimal number like `0.000123456`.
pub fn is_phone(text: &str) -> bool {
    let t = text.trim();
    if !(t.starts_with('+') || t.starts_with('0')) || parse_date(t).is_some() {
        return false;
    }
    if !t.chars().all(|c| c.is_ascii_digit() || " +-./()".contains(c)) || t.matches('.').count() == 1 {
        return false;
    }
    (9..=15).contains(&t.chars().filter(char::is_ascii_digit).count())
}

/// A number, with a decimal point or a decimal comma.
pub fn is_number(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t.matches([',', '.']).count() <= 1 && t.replace(',', ".").parse::<f64>().is_ok_and(f64::is_finite)
}

/// An integer of six digits or more: more likely an identifier than a measurement.
pub fn is_long_integer(text: &str) -> bool {
    let t = text.trim();
    t.len() >= 6 && t.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_date_formats() {
        for text in ["2024-03-05", "05.03.2024", "5.3.2024", "05/03/2024", "20240305", "2024/03/05", "2024-03-05T10:30:00", "05.03.2024 10:30"] {
            assert_eq!(parse_date(text).map(iso).as_deref(), Some("2024-03-05"), "{text}");
        }
        for text in ["", "31.02.2024", "05.03.24", "12345678", "2024-3", "P12", "Tuesday"] {
            assert_eq!(parse_date(text), None, "{text}");
        }
        assert_eq!(parse_year(" 1980 "), Some(1980));
        assert_eq!(parse_date_in("04/07/1961", DateOrder::MonthFirst).map(iso).as_deref(), Some("1961-04-07"));
        assert_eq!(parse_date_in("1961-07-04", DateOrder::MonthFirst).map(iso).as_deref(), Some("1961-07-04"));
        let orders: Vec<_> = ["04.07.1961", "13.07.1961", "07/13/1961", "01.01.1980", "1961-07-04", "19610704", "x"].map(year_last_order).into();
        assert_eq!(orders, [Some(YearLast::Both), Some(YearLast::DayFirst), Some(YearLast::MonthFirst), Some(YearLast::Same), None, None, None]);
    }

    #[test]
    fn recognises_direct_identifiers() {
        assert!(is_email("jean.dupont@example.ch"));
        assert!(!is_email("a @b.c") && !is_email("x@y"));
        assert!(is_avs("756.1234.5678.97") && is_avs("7561234567897") && !is_avs("757.1234.5678.97"));
        assert!(is_phone("+41 79 123 45 67") && is_phone("079/123.45.67") && is_phone("0041791234567"));
        assert!(!is_phone("0.000123456") && !is_phone("05.03.2024") && !is_phone("12345") && !is_phone("041"));
        assert!(is_number("3,5") && is_number("-12.25") && !is_number("1.2.3") && !is_number("NaN"));
    }
}
