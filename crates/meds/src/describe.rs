//! A summary of a MEDS dataset: what `longitude meds describe` prints.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::codes::CodeTable;
use crate::error::Result;
use crate::metadata::{DatasetMetadata, read_subject_splits};
use crate::reader::{Dataset, read_shard};
use crate::schema;
use crate::timeline::STATIC_TIME;

/// Distribution of events per subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// Smallest.
    pub min: u64,
    /// 10th percentile.
    pub p10: u64,
    /// Median.
    pub median: u64,
    /// Mean.
    pub mean: f64,
    /// 90th percentile.
    pub p90: u64,
    /// Largest.
    pub max: u64,
}

impl Distribution {
    fn of(mut values: Vec<u64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let q = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        Self {
            min: values[0],
            p10: q(0.1),
            median: q(0.5),
            mean: values.iter().sum::<u64>() as f64 / values.len() as f64,
            p90: q(0.9),
            max: values[values.len() - 1],
        }
    }
}

/// One vocabulary (the prefix of codes before `/`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VocabularySummary {
    /// The vocabulary (`ICD10CM`, `LOINC`, `MEDS_BIRTH`, …).
    pub vocabulary: String,
    /// Events with a code of this vocabulary.
    pub events: u64,
    /// Distinct codes of this vocabulary.
    pub codes: usize,
    /// The most frequent codes with their event counts.
    pub top_codes: Vec<(String, u64)>,
}

/// Subjects and events of one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitSummary {
    /// The split name.
    pub split: String,
    /// Subjects in it.
    pub subjects: u64,
    /// Their events.
    pub events: u64,
}

/// A summary of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Description {
    /// The dataset metadata, if `metadata/dataset.json` could be read.
    pub metadata: Option<DatasetMetadata>,
    /// Event shards.
    pub shards: usize,
    /// Subjects (each once, whatever the shards it is written in).
    pub subjects: u64,
    /// Subjects whose events are split across more than one shard (MEDS wants each in one:
    /// `meds validate` reports them as errors).
    pub subjects_in_several_shards: u64,
    /// Events.
    pub events: u64,
    /// Events without a time.
    pub static_events: u64,
    /// Events with a numeric value.
    pub numeric_events: u64,
    /// Events with a text value.
    pub text_events: u64,
    /// Distinct codes.
    pub codes: usize,
    /// The earliest event time (ISO 8601), if any event is timed.
    pub first_time: Option<String>,
    /// The latest event time (ISO 8601), if any event is timed.
    pub last_time: Option<String>,
    /// Events per subject.
    pub events_per_subject: Distribution,
    /// Vocabularies, most events first.
    pub vocabularies: Vec<VocabularySummary>,
    /// Where the splits came from: `metadata/subject_splits.parquet`, `data/ directories`, or `none`.
    pub split_source: String,
    /// Splits, by name.
    pub splits: Vec<SplitSummary>,
    /// Columns beyond the MEDS core that some shard carries.
    pub extra_columns: Vec<String>,
}

#[derive(Default)]
struct ShardStats {
    subjects: Vec<(i64, u64)>,
    static_events: u64,
    numeric_events: u64,
    text_events: u64,
    code_counts: Vec<u64>,
    first: Option<i64>,
    last: Option<i64>,
}

/// Formats microseconds since the epoch as ISO 8601.
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| micros.to_string())
}

/// One event of subject `subject_id` as `longitude meds show` prints it: a line of time, code,
/// value and text, or (with `json`) one JSON object with the MEDS column names.
pub fn event_line(codes: &CodeTable, subject_id: i64, event: &crate::timeline::EventRef<'_>, json: bool) -> String {
    let time = event.time.map(format_time);
    let code = codes.name(event.code);
    if json {
        let line = serde_json::json!({
            "subject_id": subject_id,
            "time": time,
            "code": code,
            "numeric_value": event.numeric_value,
            "text_value": event.text_value,
        });
        return line.to_string();
    }
    let value = event.numeric_value.map(|v| format!(" = {v}")).unwrap_or_default();
    let text = event.text_value.map(|t| format!(" \"{t}\"")).unwrap_or_default();
    format!("{:<19}  {code}{value}{text}", time.as_deref().unwrap_or("(static)"))
}

/// Summarises the dataset at `root` (shards in parallel). Metadata files are used when present.
pub fn describe(root: &Path, top_codes: usize) -> Result<Description> {
    let dataset = Dataset::open(root)?;
    let codes = Mutex::new(CodeTable::new());
    let stats: Vec<ShardStats> = dataset
        .shards()
        .par_iter()
        .map(|shard| {
            let mut s = ShardStats::default();
            read_shard(&shard.path, &codes, |t| {
                s.subjects.push((t.subject_id, t.len() as u64));
                let n_static = t.static_len();
                s.static_events += n_static as u64;
                s.numeric_events += t.numeric_values.iter().filter(|v| !v.is_nan()).count() as u64;
                s.text_events += t.text_values.len() as u64;
                for &c in &t.codes {
                    let c = c as usize;
                    if c >= s.code_counts.len() {
                        s.code_counts.resize(c + 1, 0);
                    }
                    s.code_counts[c] += 1;
                }
                if let Some((first, last)) = t.time_range() {
                    s.first = Some(s.first.map_or(first, |f| f.min(first)));
                    s.last = Some(s.last.map_or(last, |l| l.max(last)));
                }
                Ok(())
            })?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let codes = codes.into_inner().unwrap_or_else(|p| p.into_inner());

    let mut counts = vec![0u64; codes.len()];
    let mut shards_of: HashMap<i64, u32> = HashMap::new();
    let (mut static_events, mut numeric_events, mut text_events) = (0, 0, 0);
    let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
    let mut subject_events: HashMap<i64, u64> = HashMap::new();
    for s in &stats {
        for (c, n) in s.code_counts.iter().enumerate() {
            counts[c] += n;
        }
        for &(id, n) in &s.subjects {
            *subject_events.entry(id).or_default() += n;
            *shards_of.entry(id).or_default() += 1;
        }
        static_events += s.static_events;
        numeric_events += s.numeric_events;
        text_events += s.text_events;
        first = match (first, s.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last = match (last, s.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let events: u64 = counts.iter().sum();
    // A subject written in several shards is one subject with all of its events.
    let per_subject: Vec<u64> = subject_events.values().copied().collect();
    let subjects_in_several_shards = shards_of.values().filter(|n| **n > 1).count() as u64;

    // vocabulary → (events, [(code, events)])
    type CodeCounts = Vec<(String, u64)>;
    let mut vocabularies: BTreeMap<&str, (u64, CodeCounts)> = BTreeMap::new();
    for (id, name) in codes.names().enumerate() {
        let entry = vocabularies.entry(schema::vocabulary(name)).or_default();
        entry.0 += counts[id];
        entry.1.push((name.to_owned(), counts[id]));
    }
    let mut vocabularies: Vec<VocabularySummary> = vocabularies
        .into_iter()
        .map(|(vocabulary, (events, mut codes))| {
            codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let n = codes.len();
            codes.truncate(top_codes);
            VocabularySummary { vocabulary: vocabulary.to_owned(), events, codes: n, top_codes: codes }
        })
        .collect();
    vocabularies.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.vocabulary.cmp(&b.vocabulary)));

    let (split_source, splits) = match read_subject_splits(root) {
        Ok(assignments) => {
            let mut by_split: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for (id, split) in assignments {
                let e = by_split.entry(split).or_default();
                e.0 += 1;
                e.1 += subject_events.get(&id).copied().unwrap_or(0);
            }
            ("metadata/subject_splits.parquet".to_owned(), by_split)
        }
        Err(_) => {
            let mut by_split: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            let mut seen: std::collections::HashSet<(String, i64)> = Default::default();
            for (shard, s) in dataset.shards().iter().zip(&stats) {
                if let Some(prefix) = &shard.prefix {
                    let e = by_split.entry(prefix.clone()).or_default();
                    e.0 += s.subjects.iter().filter(|(id, _)| seen.insert((prefix.clone(), *id))).count() as u64;
                    e.1 += s.subjects.iter().map(|(_, n)| n).sum::<u64>();
                }
            }
            let source = if by_split.is_empty() { "none" } else { "data/ directories" };
            (source.to_owned(), by_split)
        }
    };

    let mut extra_columns: Vec<String> = Vec::new();
    for shard in dataset.shards() {
        if let Ok(file) = std::fs::File::open(&shard.path)
            && let Ok((layout, _)) = crate::reader::shard_layout(&shard.path, &file)
        {
            for c in layout.extra_columns {
                if !extra_columns.contains(&c) {
                    extra_columns.push(c);
                }
            }
        }
    }

    Ok(Description {
        metadata: DatasetMetadata::read(root).ok(),
        shards: dataset.shards().len(),
        subjects: per_subject.len() as u64,
        subjects_in_several_shards,
        events,
        static_events,
        numeric_events,
        text_events,
        codes: codes.len(),
        first_time: first.filter(|&t| t != STATIC_TIME).map(format_time),
        last_time: last.filter(|&t| t != STATIC_TIME).map(format_time),
        events_per_subject: Distribution::of(per_subject),
        vocabularies,
        split_source,
        splits: splits
            .into_iter()
            .map(|(split, (subjects, events))| SplitSummary { split, subjects, events })
            .collect(),
        extra_columns,
    })
}

impl Description {
    /// The description as a person reads it, headed by the dataset's directory `dir`.
    pub fn render(&self, dir: &std::path::Path) -> String {
        let d = self;
        use std::fmt::Write;
        let mut s = String::new();
        let pct = |n: u64| if d.events == 0 { 0.0 } else { 100.0 * n as f64 / d.events as f64 };
        let _ = writeln!(s, "MEDS dataset {}", dir.display());
        if let Some(m) = &d.metadata {
            let name = m.dataset_name.as_deref().unwrap_or("(unnamed)");
            let etl = m
                .etl_name
                .as_deref()
                .map(|e| format!(", ETL {e} {}", m.etl_version.as_deref().unwrap_or("")))
                .unwrap_or_default();
            let _ = writeln!(s, "  name            {name}{etl}, MEDS {}", m.meds_version.as_deref().unwrap_or("?"));
        } else {
            let _ = writeln!(s, "  metadata        (no readable metadata/dataset.json)");
        }
        let _ = writeln!(s, "  shards          {}", d.shards);
        let _ = writeln!(s, "  subjects        {}", d.subjects);
        if d.subjects_in_several_shards > 0 {
            let _ = writeln!(
                s,
                "  WARNING         {} subjects are split across shards (not valid MEDS; see `meds validate`)",
                d.subjects_in_several_shards
            );
        }
        let _ = writeln!(s, "  events          {}", d.events);
        let _ = writeln!(s, "    static        {} ({:.1}%)", d.static_events, pct(d.static_events));
        let _ = writeln!(s, "    numeric value {} ({:.1}%)", d.numeric_events, pct(d.numeric_events));
        let _ = writeln!(s, "    text value    {} ({:.1}%)", d.text_events, pct(d.text_events));
        let _ = writeln!(s, "  distinct codes  {}", d.codes);
        let _ = writeln!(
            s,
            "  time range      {} .. {}",
            d.first_time.as_deref().unwrap_or("-"),
            d.last_time.as_deref().unwrap_or("-")
        );
        let e = &d.events_per_subject;
        let _ = writeln!(
            s,
            "  events/subject  min {}  p10 {}  median {}  mean {:.1}  p90 {}  max {}",
            e.min, e.p10, e.median, e.mean, e.p90, e.max
        );
        if !d.extra_columns.is_empty() {
            let _ = writeln!(s, "  extra columns   {}", d.extra_columns.join(", "));
        }
        let _ = writeln!(s, "\nsplits (from {})", d.split_source);
        let _ = writeln!(s, "  {:<12} {:>10} {:>12}", "split", "subjects", "events");
        for sp in &d.splits {
            let _ = writeln!(s, "  {:<12} {:>10} {:>12}", sp.split, sp.subjects, sp.events);
        }
        let _ = writeln!(s, "\nvocabularies");
        let _ = writeln!(s, "  {:<22} {:>10} {:>7} {:>8}  top codes (events)", "vocabulary", "events", "%", "codes");
        for v in &d.vocabularies {
            let top: Vec<String> = v.top_codes.iter().map(|(c, n)| format!("{c} ({n})")).collect();
            let _ = writeln!(
                s,
                "  {:<22} {:>10} {:>6.1}% {:>8}  {}",
                v.vocabulary,
                v.events,
                pct(v.events),
                v.codes,
                top.join(", ")
            );
        }
        s
    }
}
