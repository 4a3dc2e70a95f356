//! Time between events as tokens: a ladder of intervals from 5 minutes to 6 months, in the line of
//! ETHOS. A gap shorter than the first rung gets no token (same visit); a gap of six months or
//! more gets the 6-month token once per six months, so any gap is expressible and a long silence
//! costs a few tokens, not one per day.

use serde::{Deserialize, Serialize};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The lower bounds of the rungs, in microseconds, with their token names. The last rung (6
/// months) repeats.
pub const LADDER: [(i64, &str); 13] = [
    (5 * MINUTE, "INTERVAL/5m-15m"),
    (15 * MINUTE, "INTERVAL/15m-1h"),
    (HOUR, "INTERVAL/1h-2h"),
    (2 * HOUR, "INTERVAL/2h-6h"),
    (6 * HOUR, "INTERVAL/6h-12h"),
    (12 * HOUR, "INTERVAL/12h-1d"),
    (DAY, "INTERVAL/1d-3d"),
    (3 * DAY, "INTERVAL/3d-1w"),
    (7 * DAY, "INTERVAL/1w-2w"),
    (14 * DAY, "INTERVAL/2w-1mo"),
    (30 * DAY, "INTERVAL/1mo-3mo"),
    (91 * DAY, "INTERVAL/3mo-6mo"),
    (SIX_MONTHS, "INTERVAL/6mo"),
];

/// Six months (182.5 days), the repeating rung.
pub const SIX_MONTHS: i64 = 182 * DAY + 12 * HOUR;

/// The typical length of each rung, fitted on training gaps (the median gap that fell in it), used
/// to decode interval tokens back into time. Defaults to the rung's geometric middle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalLadder {
    /// Median gap per rung, microseconds; the last is exactly [`SIX_MONTHS`].
    pub typical: Vec<i64>,
}

impl Default for IntervalLadder {
    fn default() -> Self {
        let typical = (0..LADDER.len())
            .map(|i| match LADDER.get(i + 1) {
                Some(&(hi, _)) => ((LADDER[i].0 as f64) * (hi as f64)).sqrt() as i64,
                None => SIX_MONTHS,
            })
            .collect();
        Self { typical }
    }
}

/// The rungs a gap is written as: none below 5 minutes; otherwise `n` six-month rungs for the whole
/// six-month periods and one rung for the remainder, if that remainder is at least 5 minutes.
pub fn rungs(gap: i64, mut push: impl FnMut(usize)) {
    let last = LADDER.len() - 1;
    let mut rest = gap;
    while rest >= SIX_MONTHS {
        push(last);
        rest -= SIX_MONTHS;
    }
    if rest >= LADDER[0].0 {
        // The highest rung whose lower bound the remainder reaches.
        let i = LADDER[..last].partition_point(|&(lo, _)| lo <= rest) - 1;
        push(i);
    }
}

/// Fits the typical gap of each rung from `(rung, gap remainder)` samples.
pub fn fit(mut samples: Vec<Vec<i64>>) -> IntervalLadder {
    let default = IntervalLadder::default();
    let typical = samples
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            if i == LADDER.len() - 1 || s.is_empty() {
                return default.typical[i];
            }
            s.sort_unstable();
            s[s.len() / 2]
        })
        .collect();
    IntervalLadder { typical }
}

/// For fitting: the rung of the remainder of `gap` (after whole six-month periods) and that
/// remainder, if it gets a rung.
pub fn remainder_rung(gap: i64) -> Option<(usize, i64)> {
    let rest = gap % SIX_MONTHS;
    let last = LADDER.len() - 1;
    (rest >= LADDER[0].0).then(|| (LADDER[..last].partition_point(|&(lo, _)| lo <= rest) - 1, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(gap: i64) -> Vec<usize> {
        let mut v = Vec::new();
        rungs(gap, |i| v.push(i));
        v
    }

    #[test]
    fn gaps_become_rungs() {
        assert!(of(0).is_empty());
        assert!(of(4 * MINUTE).is_empty(), "same visit");
        assert_eq!(of(5 * MINUTE), vec![0]);
        assert_eq!(of(90 * MINUTE), vec![2]);
        assert_eq!(of(2 * DAY), vec![6]);
        assert_eq!(of(100 * DAY), vec![11]);
        assert_eq!(of(SIX_MONTHS), vec![12]);
        assert_eq!(of(2 * SIX_MONTHS + 3 * DAY), vec![12, 12, 7], "repeated 6-month rung, then the rest");
        assert_eq!(remainder_rung(2 * SIX_MONTHS + 3 * DAY), Some((7, 3 * DAY)));
        assert_eq!(remainder_rung(SIX_MONTHS), None);
        let ladder = IntervalLadder::default();
        for (i, &(lo, _)) in LADDER.iter().enumerate().take(LADDER.len() - 1) {
            assert!(ladder.typical[i] >= lo && ladder.typical[i] < LADDER[i + 1].0, "rung {i}");
        }
    }
}
