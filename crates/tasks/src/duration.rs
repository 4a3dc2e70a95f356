//! Window offsets as ACES writes them (`24h`, `7 days`, `365d`, `1 week 2 days`), read with the
//! rules of `pytimeparse`, which ACES uses: weeks, days, hours, minutes and seconds, in that
//! order, each optional, with optional `,` or `/` separators. `pytimeparse` has no years or
//! months (their length is ambiguous), so neither do we: `1 year` is an error that says to write
//! `365 days`.

use crate::error::{Result, TaskError};

/// Microseconds in one second.
const SECOND: f64 = 1e6;

/// The units in the order `pytimeparse` accepts them, with their spellings and lengths in seconds.
const UNITS: [(&[&str], f64); 5] = [
    (&["weeks", "week", "wks", "wk", "w"], 604_800.0),
    (&["days", "day", "dys", "dy", "d"], 86_400.0),
    (&["hours", "hour", "hrs", "hr", "h"], 3_600.0),
    (&["minutes", "minute", "mins", "min", "m"], 60.0),
    (&["seconds", "second", "secs", "sec", "s"], 1.0),
];

/// Parses a duration such as `24h`, `7 days` or `-30 days` into signed microseconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let invalid = |why: &str| TaskError::Duration { text: text.to_string(), why: why.to_string() };
    let mut rest = text.trim();
    let mut sign = 1.0;
    if let Some(r) = rest.strip_prefix('-') {
        sign = -1.0;
        rest = r.trim_start();
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r.trim_start();
    }
    if rest.is_empty() {
        return Err(invalid("no amount"));
    }
    let lower = rest.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut seconds = 0.0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let amount: f64 = rest[..digits].parse().map_err(|_| invalid("not a number"))?;
        rest = rest[digits..].trim_start();
        let word_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let word = &rest[..word_len];
        if word.is_empty() {
            return Err(invalid("a number without a unit (clock times like 1:30 are not supported)"));
        }
        if ["y", "yr", "yrs", "year", "years", "mo", "mos", "month", "months", "mth", "mths"].contains(&word) {
            return Err(invalid(
                "years and months have no fixed length in ACES (pytimeparse): write days, e.g. `365 days`",
            ));
        }
        let Some(unit) = UNITS.iter().position(|(names, _)| names.contains(&word)) else {
            return Err(invalid("unknown unit (use weeks, days, hours, minutes or seconds)"));
        };
        if unit < next_unit {
            return Err(invalid("units must run from weeks down to seconds, each at most once"));
        }
        next_unit = unit + 1;
        seconds += amount * UNITS[unit].1;
        rest = rest[word_len..].trim_start();
        if let Some(r) = rest.strip_prefix([',', '/']) {
            rest = r.trim_start();
        }
    }
    Ok((sign * seconds * SECOND).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn reads_the_spellings_aces_configs_use() {
        assert_eq!(parse_duration("24h").expect("parses"), 24 * HOUR);
        assert_eq!(parse_duration("48h").expect("parses"), 48 * HOUR);
        assert_eq!(parse_duration("7 days").expect("parses"), 7 * 24 * HOUR);
        assert_eq!(parse_duration("365d").expect("parses"), 365 * 24 * HOUR);
        assert_eq!(parse_duration("2 hours").expect("parses"), 2 * HOUR);
        assert_eq!(parse_duration("1 week 2 days").expect("parses"), 9 * 24 * HOUR);
        assert_eq!(parse_duration("1d, 12h").expect("parses"), 36 * HOUR);
        assert_eq!(parse_duration("90 minutes").expect("parses"), 90 * 60_000_000);
        assert_eq!(parse_duration("1.5 hours").expect("parses"), 90 * 60_000_000);
        assert_eq!(parse_duration("-30 days").expect("parses"), -30 * 24 * HOUR);
        assert_eq!(parse_duration("30 Days").expect("parses"), 30 * 24 * HOUR);
    }

    #[test]
    fn rejects_what_pytimeparse_rejects_with_a_reason() {
        for bad in ["", "1 year", "6 months", "24", "1:30", "h", "2 fortnights", "1h 2d", "1d 1d"] {
            let err = parse_duration(bad).expect_err("rejected").to_string();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
        assert!(parse_duration("1 year").expect_err("no years").to_string().contains("365 days"));
    }
}
