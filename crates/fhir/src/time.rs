//! FHIR `date`, `dateTime` and `instant` values as microseconds since the epoch (UTC, no zone).

use chrono::{DateTime, NaiveDate};

/// The earliest instant a record may carry: 1850-01-01 (no one alive was born earlier, and no
/// electronic record describes earlier care). Microseconds since the epoch.
pub const EARLIEST: i64 = -3_786_825_600_000_000;
/// How far past the present a recorded time may lie (scheduled care): one year.
pub const AHEAD: i64 = 366 * 86_400_000_000;

/// Why a date cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    /// Not a FHIR date, dateTime or instant.
    Malformed,
    /// Well formed, but before [`EARLIEST`] or more than [`AHEAD`] past now (`0000-01-01`,
    /// `9999-12-31`: placeholders, not dates).
    Implausible,
}

impl DateError {
    /// The error as the quarantine records it, naming the field.
    pub fn describe(self, field: &str) -> String {
        match self {
            Self::Malformed => format!("malformed {field}"),
            Self::Implausible => format!("implausible {field} (before 1850 or more than a year from now)"),
        }
    }
}

/// [`parse`], refusing dates outside the plausible range of a clinical record.
pub fn parse_plausible(s: &str) -> Result<i64, DateError> {
    let t = parse(s).ok_or(DateError::Malformed)?;
    if is_plausible(t) { Ok(t) } else { Err(DateError::Implausible) }
}

/// Whether a time (microseconds since the epoch) lies between [`EARLIEST`] and [`AHEAD`] past now.
pub fn is_plausible(t: i64) -> bool {
    (EARLIEST..=chrono::Utc::now().timestamp_micros().saturating_add(AHEAD)).contains(&t)
}

/// Parses a FHIR date or dateTime (`2019`, `2019-03`, `2019-03-04`, `2019-03-04T10:00:00Z`,
/// `2019-03-04T10:00:00.123+02:00`). Partial dates take their first instant. `None` if malformed.
pub fn parse(s: &str) -> Option<i64> {
    if s.len() > 10 {
        return DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_micros());
    }
    let date = match s.len() {
        4 => NaiveDate::from_ymd_opt(s.parse().ok()?, 1, 1)?,
        7 => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?,
        10 => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?,
        _ => return None,
    };
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_date_forms() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("1970"), Some(0));
        assert_eq!(parse("1970-02"), Some(31 * 86_400_000_000));
        assert_eq!(parse("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse("1970-01-01T02:00:00+02:00"), Some(0));
        assert_eq!(parse("1970-01-01T00:00:00.5Z"), Some(500_000));
        assert_eq!(parse("not a date"), None);
        assert_eq!(parse("2019-13-01"), None);
    }

    #[test]
    fn placeholder_dates_are_implausible() {
        assert_eq!(parse_plausible("0000-01-01"), Err(DateError::Implausible));
        assert_eq!(parse_plausible("9999-12-31"), Err(DateError::Implausible));
        assert_eq!(parse_plausible("1849-12-31"), Err(DateError::Implausible));
        assert_eq!(parse_plausible("1850-01-01"), Ok(EARLIEST));
        assert!(parse_plausible("2020-02-29T10:00:00Z").is_ok());
        assert_eq!(parse_plausible("yesterday"), Err(DateError::Malformed));
    }
}
