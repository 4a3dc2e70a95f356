//! Encoding: timelines into token sequences, with every fallback counted.

use std::collections::BTreeMap;

use meds::Timeline;
use serde::Serialize;

use crate::{FIRST_BIN, START, Tokenizer, ValueBins, YEAR, intervals};

/// How a code was found in the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Its own token.
    Exact,
    /// A parent's token (`ICD10CM/E11.65` → `ICD10CM/E11`).
    Parent,
    /// Its vocabulary's unknown token, or `[UNK]`.
    Unknown,
}

pub(crate) struct CodeMap<'a> {
    pub(crate) token: u32,
    pub(crate) lookup: Lookup,
    pub(crate) bins: Option<&'a ValueBins>,
    pub(crate) vocabulary: Option<String>,
    pub(crate) birth: bool,
}

/// Counts from encoding, for the report: fallbacks never pass silently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EncodeStats {
    /// Subjects encoded.
    pub subjects: u64,
    /// Events read.
    pub events: u64,
    /// Tokens written (prefix excluded).
    pub tokens: u64,
    /// Events whose code fell back to a parent.
    pub parent_fallbacks: u64,
    /// Events whose code fell back to an unknown token, by vocabulary (`""`: none).
    pub unknown_fallbacks: BTreeMap<String, u64>,
    /// Numeric values not tokenized (their code has no bins).
    pub values_without_bins: u64,
    /// Text values not tokenized.
    pub texts: u64,
}

impl EncodeStats {
    /// Adds another encoder's counts.
    pub fn merge(&mut self, other: &EncodeStats) {
        self.subjects += other.subjects;
        self.events += other.events;
        self.tokens += other.tokens;
        self.parent_fallbacks += other.parent_fallbacks;
        self.values_without_bins += other.values_without_bins;
        self.texts += other.texts;
        for (k, v) in &other.unknown_fallbacks {
            *self.unknown_fallbacks.entry(k.clone()).or_default() += v;
        }
    }
}

/// One encoded subject: the static tokens, the event tokens and the time of each event token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded {
    /// The MEDS subject id.
    pub subject_id: i64,
    /// Birth time (µs), if recorded: it gives the age band of any window's prefix.
    pub birth: Option<i64>,
    /// Static tokens (sex, race, ethnicity…), in MEDS order.
    pub statics: Vec<u32>,
    /// Event tokens.
    pub tokens: Vec<u32>,
    /// The time of the event each token belongs to (an interval token takes the time of the event
    /// it leads to), so that "everything up to time t" is a prefix of the sequence.
    pub times: Vec<i64>,
    /// Per event token, where its value sits inside its bin ([`ValueBins::position`], in
    /// [−½, ½]) for a value-bin token, 0 for every other token: the model's continuous value
    /// channel. Empty when read from a file written before it existed (read as all 0).
    pub values: Vec<f32>,
}

impl Encoded {
    /// The prefix for a window starting at token `start`: statics, the age band then, `[START]`.
    pub fn prefix(&self, tokenizer: &Tokenizer, start: usize) -> Vec<u32> {
        let mut p = self.statics.clone();
        if let (Some(birth), Some(&t)) = (self.birth, self.times.get(start).or(self.times.last())) {
            p.push(tokenizer.age_token((t - birth).div_euclid(YEAR)));
        }
        p.push(START);
        p
    }

    /// [`prefix`](Self::prefix), cut to leave room for at least one event token in a window of
    /// `max_len`: a prefix that long (many statics) keeps its last part — the age and `[START]`.
    pub fn prefix_within(&self, tokenizer: &Tokenizer, start: usize, max_len: usize) -> Vec<u32> {
        let mut p = self.prefix(tokenizer, start);
        if p.len() >= max_len {
            p.drain(..p.len() + 1 - max_len.max(1));
        }
        p
    }

    /// The value channel of event token `i` (0 where [`values`](Self::values) is empty).
    pub fn value(&self, i: usize) -> f32 {
        self.values.get(i).copied().unwrap_or(0.0)
    }

    /// The number of event tokens at or before time `t`.
    pub fn len_until(&self, t: i64) -> usize {
        self.times.partition_point(|&x| x <= t)
    }
}

/// Turns timelines into token sequences. Made by [`Tokenizer::encoder`].
pub struct Encoder<'a> {
    pub(crate) tokenizer: &'a Tokenizer,
    pub(crate) map: Vec<CodeMap<'a>>,
    pub(crate) stats: EncodeStats,
}

impl Encoder<'_> {
    /// Encodes one timeline (its codes must be in the table the encoder was made with; codes
    /// beyond it are unknown).
    pub fn encode(&mut self, t: &Timeline) -> Encoded {
        let mut out = Encoded {
            subject_id: t.subject_id,
            tokens: Vec::with_capacity(t.len() * 3 / 2),
            times: Vec::with_capacity(t.len() * 3 / 2),
            values: Vec::with_capacity(t.len() * 3 / 2),
            ..Default::default()
        };
        let interval0 = self.tokenizer.first_interval;
        let mut last: Option<i64> = None;
        self.stats.subjects += 1;
        self.stats.events += t.len() as u64;
        self.stats.texts += t.text_values.len() as u64;
        for i in 0..t.len() {
            let code = t.codes[i] as usize;
            let Some(m) = self.map.get(code) else {
                *self.stats.unknown_fallbacks.entry(String::new()).or_default() += 1;
                continue;
            };
            let time = t.times[i];
            if m.birth {
                out.birth = (time != meds::STATIC_TIME).then_some(time);
                continue;
            }
            match m.lookup {
                Lookup::Exact => {}
                Lookup::Parent => self.stats.parent_fallbacks += 1,
                Lookup::Unknown => {
                    *self.stats.unknown_fallbacks.entry(m.vocabulary.clone().unwrap_or_default()).or_default() += 1
                }
            }
            if time == meds::STATIC_TIME {
                out.statics.push(m.token);
                continue;
            }
            if let Some(prev) = last {
                intervals::rungs(time - prev, |rung| {
                    out.tokens.push(interval0 + rung as u32);
                    out.times.push(time);
                    out.values.push(0.0);
                });
            }
            last = Some(time);
            out.tokens.push(m.token);
            out.times.push(time);
            out.values.push(0.0);
            let v = t.numeric_values[i];
            if !v.is_nan() {
                match m.bins {
                    Some(bins) => {
                        let b = bins.bin(v);
                        out.tokens.push(FIRST_BIN + b as u32);
                        out.times.push(time);
                        out.values.push(bins.position(b, v));
                    }
                    None => self.stats.values_without_bins += 1,
                }
            }
        }
        self.stats.tokens += out.tokens.len() as u64;
        out
    }

    /// Counts so far.
    pub fn stats(&self) -> &EncodeStats {
        &self.stats
    }
}
