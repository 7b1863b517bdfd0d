//! Calendar dates as DICOM writes them (`YYYYMMDD`), without a clock: today's date
//! always comes in from the caller.


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

impl Date {
    /// Days since 1970-01-01 (negative before), for shifting and intervals.
    pub fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (self.year as i64 - (self.month <= 2) as i64, self.month as i64, self.day as i64);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01; `None` outside years 1..=9999.
    pub fn from_days(days: i64) -> Option<Date> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + (month <= 2) as i64;
        (1..=9999).contains(&year).then_some(Date { year: year as u16, month, day })
    }

    /// Whole years from `self` (a birth date) to `on`: the age on that day.
    pub fn years_until(self, on: Date) -> i64 {
        let mut years = on.year as i64 - self.year as i64;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }
}

/// What happens to the dates of an export, the same on the DICOM and the EHR side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatePolicy {
    /// Dates are kept as they are.
    Keep,
    /// Dates are reduced to the first day of their month (`YYYYMM01`).
    #[default]
    Month,
    /// Dates move by a per-patient offset derived from the secret, so intervals within
    /// one patient's data are kept exactly.
    Shift,
    /// Dates are removed.
    Remove,
}

impl DatePolicy {
    pub fn name(self) -> &'static str {
        match self {
            DatePolicy::Keep => "keep",
            DatePolicy::Month => "month",
            DatePolicy::Shift => "shift",
            DatePolicy::Remove => "remove",
        }
    }

    /// The date as the policy writes it; `None` when it is removed. `shift_days` is the
    /// patient's offset ([`crate::pseudonym::Keyring::date_shift`]), used by `Shift` only.
    pub fn apply(self, date: Date, shift_days: i64) -> Option<Date> {
        match self {
            DatePolicy::Keep => Some(date),
            DatePolicy::Month => Some(Date { day: 1, ..date }),
            DatePolicy::Shift => Date::from_days(date.days() + shift_days),
            DatePolicy::Remove => None,
        }
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

/// An export date that is not a valid `YYYYMMDD` calendar date (the text given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadExportDate(pub String);

/// The export date of a job: the name of the daily folder.
pub fn export_date(text: &str) -> Result<Date, BadExportDate> {
    Date::parse_da(text).ok_or_else(|| BadExportDate(text.to_string()))
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

    #[test]
    fn day_numbers_round_trip_and_keep_intervals() {
        let epoch = Date::parse_da("19700101").unwrap();
        assert_eq!(epoch.days(), 0);
        assert_eq!(Date::parse_da("20000301").unwrap().days() - Date::parse_da("20000228").unwrap().days(), 2);
        for text in ["00010101", "16000229", "19691231", "20261124", "99991231"] {
            let d = Date::parse_da(text).unwrap();
            assert_eq!(Date::from_days(d.days()), Some(d), "{text}");
        }
        let (a, b) = (Date::parse_da("20200115").unwrap(), Date::parse_da("20210320").unwrap());
        let (sa, sb) = (DatePolicy::Shift.apply(a, -400).unwrap(), DatePolicy::Shift.apply(b, -400).unwrap());
        assert_eq!(sb.days() - sa.days(), b.days() - a.days());
        assert_eq!(DatePolicy::Month.apply(b, 0).unwrap().to_da(), "20210301");
        assert_eq!(DatePolicy::Remove.apply(b, 0), None);
        assert_eq!(Date::parse_da("19800229").unwrap().years_until(Date::parse_da("20260228").unwrap()), 45);
        assert_eq!(Date::parse_da("19800229").unwrap().years_until(Date::parse_da("20260301").unwrap()), 46);
    }
}
