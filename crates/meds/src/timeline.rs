//! A subject's timeline: the typed, in-memory form of one subject's MEDS events.

use crate::codes::CodeId;

/// The `time` of a static event (MEDS stores it as null). It is the smallest `i64`, so sorting by
/// time puts static events first, as MEDS requires.
pub const STATIC_TIME: i64 = i64::MIN;

/// One event, borrowed from a [`Timeline`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRef<'a> {
    /// Microseconds since 1970-01-01T00:00:00 (no time zone), or `None` for a static event.
    pub time: Option<i64>,
    /// The event's code, as an id into the dataset's [`crate::CodeTable`].
    pub code: CodeId,
    /// The numeric value, if any.
    pub numeric_value: Option<f32>,
    /// The text value, if any.
    pub text_value: Option<&'a str>,
}

/// One subject's events, stored column by column.
///
/// Columns are parallel vectors (`times[i]`, `codes[i]`, `numeric_values[i]` describe event `i`);
/// a missing numeric value is `NaN` and a static event's time is [`STATIC_TIME`]. Text values are
/// sparse (most events have none): `(event index, text)` pairs in increasing index order.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The subject's MEDS `subject_id`.
    pub subject_id: i64,
    /// Event times in microseconds since the epoch; [`STATIC_TIME`] for static events.
    pub times: Vec<i64>,
    /// Event codes.
    pub codes: Vec<CodeId>,
    /// Numeric values; `NaN` where the event has none.
    pub numeric_values: Vec<f32>,
    /// Text values of the events that have one, by event index (increasing).
    pub text_values: Vec<(u32, String)>,
}

/// Equality treats a missing numeric value (`NaN`) as equal to another missing value, so that two
/// reads of the same data compare equal.
impl PartialEq for Timeline {
    fn eq(&self, other: &Self) -> bool {
        self.subject_id == other.subject_id
            && self.times == other.times
            && self.codes == other.codes
            && self.text_values == other.text_values
            && self.numeric_values.len() == other.numeric_values.len()
            && self.numeric_values.iter().zip(&other.numeric_values).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Timeline {
    /// An empty timeline for `subject_id`.
    pub fn new(subject_id: i64) -> Self {
        Self { subject_id, ..Self::default() }
    }

    /// An empty timeline with room for `n` events.
    pub fn with_capacity(subject_id: i64, n: usize) -> Self {
        Self {
            subject_id,
            times: Vec::with_capacity(n),
            codes: Vec::with_capacity(n),
            numeric_values: Vec::with_capacity(n),
            text_values: Vec::new(),
        }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether the timeline has no events.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Appends an event. A `NaN` numeric value is stored as missing.
    pub fn push(&mut self, time: Option<i64>, code: CodeId, numeric_value: Option<f32>, text_value: Option<String>) {
        let index = self.times.len();
        self.times.push(time.unwrap_or(STATIC_TIME));
        self.codes.push(code);
        self.numeric_values.push(numeric_value.unwrap_or(f32::NAN));
        if let Some(text) = text_value {
            self.text_values.push((index as u32, text));
        }
    }

    /// Event `i`, or `None` past the end.
    pub fn event(&self, i: usize) -> Option<EventRef<'_>> {
        let time = *self.times.get(i)?;
        let value = self.numeric_values[i];
        Some(EventRef {
            time: (time != STATIC_TIME).then_some(time),
            code: self.codes[i],
            numeric_value: (!value.is_nan()).then_some(value),
            text_value: self.text_value(i),
        })
    }

    /// The text value of event `i`, if it has one.
    pub fn text_value(&self, i: usize) -> Option<&str> {
        let i = u32::try_from(i).ok()?;
        self.text_values.binary_search_by_key(&i, |(idx, _)| *idx).ok().map(|pos| self.text_values[pos].1.as_str())
    }

    /// The events in order.
    pub fn events(&self) -> impl Iterator<Item = EventRef<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.event(i))
    }

    /// The number of static (time-less) events, which sort first.
    pub fn static_len(&self) -> usize {
        self.times.partition_point(|&t| t == STATIC_TIME)
    }

    /// Whether events are in MEDS order: static events first, then non-decreasing time.
    pub fn is_sorted(&self) -> bool {
        self.times.is_sorted()
    }

    /// The index of the first event that breaks MEDS order, if any.
    pub fn first_unsorted(&self) -> Option<usize> {
        self.times.windows(2).position(|w| w[1] < w[0]).map(|i| i + 1)
    }

    /// Sorts events into MEDS order (static first, then by time), keeping the existing order of
    /// events that share a time, so that the result is deterministic.
    pub fn sort(&mut self) {
        if self.is_sorted() {
            return;
        }
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_key(|&i| self.times[i as usize]);
        self.times = order.iter().map(|&i| self.times[i as usize]).collect();
        self.codes = order.iter().map(|&i| self.codes[i as usize]).collect();
        self.numeric_values = order.iter().map(|&i| self.numeric_values[i as usize]).collect();
        if !self.text_values.is_empty() {
            let mut new_index = vec![0u32; order.len()];
            for (new, &old) in order.iter().enumerate() {
                new_index[old as usize] = new as u32;
            }
            for (idx, _) in &mut self.text_values {
                *idx = new_index[*idx as usize];
            }
            self.text_values.sort_by_key(|(idx, _)| *idx);
        }
    }

    /// Appends all events of `other` (same subject) to this timeline.
    pub fn extend_from(&mut self, other: &Timeline) {
        let offset = self.len() as u32;
        self.times.extend_from_slice(&other.times);
        self.codes.extend_from_slice(&other.codes);
        self.numeric_values.extend_from_slice(&other.numeric_values);
        self.text_values.extend(other.text_values.iter().map(|(i, t)| (i + offset, t.clone())));
    }

    /// Time range `(first, last)` of the timed events, in microseconds.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let first = *self.times.get(self.static_len())?;
        Some((first, *self.times.last()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_puts_static_first_and_is_stable() {
        let mut t = Timeline::new(7);
        t.push(Some(20), 1, Some(1.5), None);
        t.push(None, 2, None, Some("static".into()));
        t.push(Some(10), 3, None, Some("early".into()));
        t.push(Some(20), 4, None, None);
        assert!(!t.is_sorted());
        assert_eq!(t.first_unsorted(), Some(1));
        t.sort();
        assert!(t.is_sorted());
        assert_eq!(t.codes, vec![2, 3, 1, 4]);
        assert_eq!(t.static_len(), 1);
        assert_eq!(t.text_value(0), Some("static"));
        assert_eq!(t.text_value(1), Some("early"));
        assert_eq!(t.text_value(2), None);
        let e = t.event(2).expect("event 2");
        assert_eq!((e.time, e.numeric_value), (Some(20), Some(1.5)));
        assert_eq!(t.event(0).map(|e| e.time), Some(None));
        assert_eq!(t.time_range(), Some((10, 20)));
    }
}
