//! Calendar dates as DICOM writes them (`YYYYMMDD`), without a clock: today's date
//! always comes in from the caller.

use crate::error::JobError;

/// A validated calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses a DICOM DA value (`YYYYMMDD`, blanks around it ignored).
    pub fn parse_da(text: &str) -> Option<Date> {
        let t = text.trim_matches(|c: char| c == ' ' || c == '\0');
        if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: u16 = t[0..4].parse().ok()?;
        let month: u8 = t[4..6].parse().ok()?;
        let day: u8 = t[6..8].parse().ok()?;
        let date = Date { year, month, day };
        (month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month)).then_some(date)
    }

    /// The `YYYYMMDD` form.
    pub fn to_da(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The export date of a job: the name of the daily folder.
pub fn export_date(text: &str) -> Result<Date, JobError> {
    Date::parse_da(text).ok_or_else(|| JobError::ExportDate(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_dates_only() {
        assert_eq!(Date::parse_da("20240229").unwrap().to_da(), "20240229");
        assert_eq!(Date::parse_da(" 19991231 ").unwrap().day, 31);
        for bad in ["20230229", "20241301", "2024011", "2024-01-01", "", "20240100"] {
            assert!(Date::parse_da(bad).is_none(), "{bad}");
        }
        assert!(export_date("21000229").is_err());
    }
}
