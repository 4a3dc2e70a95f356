//! FHIR `date`, `dateTime` and `instant` values as microseconds since the epoch (UTC, no zone).

use chrono::{DateTime, NaiveDate};

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
}
