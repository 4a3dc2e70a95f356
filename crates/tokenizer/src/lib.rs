//! # tokenizer — MEDS timelines to model tokens and back
//!
//! A patient's timeline becomes a sequence of tokens, in the line of ETHOS and CoMET:
//!
//! - a **static prefix** that conditions the model but is never predicted: the static events
//!   (sex, race, ethnicity, ZIP3…), the age band at the window start, and a start marker;
//! - per event, **interval tokens** for the time since the previous event ([`intervals`]: a ladder
//!   from 5 minutes to 6 months, the 6-month rung repeated for longer gaps), the **code** token,
//!   and for a numeric value its **per-code decile bin** (`Q1`…`Q10`, fitted on train), with
//!   clinical thresholds as extra edges when asked ([`cut_points`]: eGFR 60, HbA1c 6.5%…).
//!
//! Events at the same time keep their MEDS order. Birth is carried by the age token (it is not an
//! event in the stream); text values are not tokenized.
//!
//! The vocabulary is fitted on the `train` split only and saved as one versioned JSON file that
//! travels with the model. Unknown and rare codes never fail: a code unseen in train falls back
//! along its hierarchy where the vocabulary has one (`ICD10CM/E11.65` → `ICD10CM/E11.6` →
//! `ICD10CM/E11`), else to its vocabulary's unknown token (`UNKNOWN/LOINC`), and every fallback is
//! counted in [`EncodeStats`].

#![forbid(unsafe_code)]

pub mod cut_points;
pub mod dataset;
pub mod decode;
pub mod encode;
pub mod intervals;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use meds::{CodeId, CodeTable, Timeline};
use serde::{Deserialize, Serialize};

pub use decode::{Decoded, DecodedEvent};
use encode::CodeMap;
pub use encode::{EncodeStats, Encoded, Encoder, Lookup};
pub use intervals::IntervalLadder;

/// The file format name written into every tokenizer file.
pub const FORMAT: &str = "longitude-tokenizer";
/// The version of the file format; files of another version are refused.
pub const VERSION: u32 = 1;

/// Padding (never predicted, never in a sequence's content).
pub const PAD: u32 = 0;
/// An unknown code with no vocabulary to fall back to.
pub const UNK: u32 = 1;
/// Marks the end of the static prefix: the events follow.
pub const START: u32 = 2;
/// The first value-bin token (`Q1`); bins are consecutive.
pub const FIRST_BIN: u32 = 3;

/// Vocabularies whose codes shorten to their parents (`E11.65` → `E11.6` → `E11`).
const HIERARCHICAL: [&str; 3] = ["ICD10CM", "ICD9CM", "ICD10PCS"];
/// Age bands of five years up to 90, then 90 or older (the Safe Harbor ceiling).
const AGE_BANDS: usize = 19;
pub(crate) const YEAR: i64 = 31_556_952_000_000;

/// What can go wrong reading, writing or fitting.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A tokenizer file is not one this version reads.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tokenized dataset file could not be read or written.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Fitting had nothing to learn from.
    #[error("cannot fit a tokenizer: {0}")]
    Fit(String),
    /// The MEDS dataset to tokenize could not be read.
    #[error(transparent)]
    Meds(#[from] meds::MedsError),
    /// The tokenization report could not be written.
    #[error(transparent)]
    Report(#[from] outputs::artifact::ArtifactError),
}

/// How to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerConfig {
    /// A code needs at least this many train events to get a token of its own.
    pub min_count: u64,
    /// Value bins per code (10: deciles).
    pub bins: usize,
    /// Thresholds per code added to its quantile edges where they fall inside its train range
    /// ([`cut_points`]; [`cut_points::clinical`] is the guideline table). Empty: quantiles only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cut_points: BTreeMap<String, Vec<f32>>,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self { min_count: 5, bins: 10, cut_points: BTreeMap::new() }
    }
}

impl TokenizerConfig {
    /// Value-bin tokens (`Q1`…): enough for the code with the most cut points on top of its
    /// quantile edges.
    pub fn bin_tokens(&self) -> usize {
        self.bins + self.cut_points.values().map(Vec::len).max().unwrap_or(0)
    }
}

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `[PAD]`, `[UNK]`, `[START]`.
    Special,
    /// A value bin (`Q1`…).
    Bin,
    /// A time interval rung.
    Interval,
    /// An age band (prefix only).
    Age,
    /// A vocabulary's unknown token (`UNKNOWN/LOINC`).
    Unknown,
    /// A static code (prefix only).
    Static,
    /// An event code.
    Code,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Its name (a MEDS code for codes).
    pub name: String,
    /// What it stands for.
    pub kind: TokenKind,
    /// Train events it stood for (0 for structural tokens).
    pub count: u64,
}

/// Train values kept per bin to draw from when a generated bin is decoded ([`ValueBins::spread`]).
pub const SPREAD: usize = 32;

/// The decile cut points of one code's numeric values, and what each bin decodes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueBins {
    /// Increasing cut points; a value `v` falls in bin `#(edges ≤ v)`.
    pub edges: Vec<f32>,
    /// The median train value of each bin (`edges.len() + 1` of them).
    pub typical: Vec<f32>,
    /// Per bin, [`SPREAD`] train values at evenly spaced quantiles within the bin (the
    /// `(j + ½) / SPREAD`-th), so a generated bin can decode to a draw from what the bin held
    /// rather than always its median: a threshold inside a bin (potassium ≥ 5.5 in the top decile)
    /// is then crossed in the share of futures the train data says. Empty in files written before
    /// it existed; decoding falls back to `typical`.
    #[serde(default)]
    pub spread: Vec<Vec<f32>>,
}

impl ValueBins {
    /// The bin of `v` (0-based).
    pub fn bin(&self, v: f32) -> usize {
        self.edges.partition_point(|&e| e <= v)
    }

    /// Where `v` sits inside its bin `b`, in [−½, ½]: its mid-rank among the bin's
    /// [`spread`](Self::spread) values, centred, so −½ is the bin's lowest train values and ½ its
    /// highest. What the bin token alone cannot say (eGFR 58 against 53 in one decile) travels
    /// beside it to the model as this number. 0 (the bin's middle) where there is no spread.
    pub fn position(&self, b: usize, v: f32) -> f32 {
        match self.spread.get(b).filter(|s| !s.is_empty()) {
            Some(s) => {
                let below = s.partition_point(|&x| x < v);
                let at_or_below = s.partition_point(|&x| x <= v);
                (below + at_or_below) as f32 / (2 * s.len()) as f32 - 0.5
            }
            None => 0.0,
        }
    }

    /// The value bin `b` decodes to for the uniform draw `u` in [0, 1): a value from the bin's
    /// spread, or its typical value where there is no spread.
    pub fn draw(&self, b: usize, u: f64) -> Option<f32> {
        match self.spread.get(b).filter(|s| !s.is_empty()) {
            Some(s) => s.get(((u * s.len() as f64) as usize).min(s.len() - 1)).copied(),
            None => self.typical.get(b).copied(),
        }
    }
}

/// What the tokenizer was fitted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    /// Train subjects.
    pub subjects: u64,
    /// Train events.
    pub events: u64,
    /// Distinct codes in train.
    pub distinct_codes: u64,
    /// Codes (and hierarchy parents) that got a token.
    pub code_tokens: u64,
    /// Codes with value bins.
    pub binned_codes: u64,
}

/// The on-disk form.
#[derive(Serialize, Deserialize)]
struct TokenizerFile {
    format: String,
    version: u32,
    config: TokenizerConfig,
    fit: FitSummary,
    intervals: IntervalLadder,
    bins: BTreeMap<String, ValueBins>,
    tokens: Vec<Token>,
}

/// A fitted tokenizer. See the crate documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenizer {
    config: TokenizerConfig,
    fit: FitSummary,
    intervals: IntervalLadder,
    bins: BTreeMap<String, ValueBins>,
    tokens: Vec<Token>,
    by_name: HashMap<String, u32>,
    first_interval: u32,
    first_age: u32,
}

/// The vocabulary of a code: the part before the first `/` (`MEDS_DEATH` has none).
pub fn vocabulary_of(code: &str) -> Option<&str> {
    code.split_once('/').map(|(v, _)| v)
}

/// The parents of a hierarchical code, nearest first, down to the three-character category:
/// `ICD10CM/E11.65` → `ICD10CM/E11.6`, `ICD10CM/E11`. Empty for other vocabularies.
pub fn parents(code: &str) -> Vec<&str> {
    let Some((vocab, local)) = code.split_once('/') else { return Vec::new() };
    if !HIERARCHICAL.contains(&vocab) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut end = local.len();
    while end > 3 {
        end -= local[..end].chars().next_back().map_or(1, char::len_utf8);
        let cut = local[..end].trim_end_matches('.');
        if cut.len() < 3 {
            break;
        }
        end = cut.len();
        out.push(&code[..vocab.len() + 1 + end]);
    }
    out
}

/// The uniform draws in [0, 1) that decide where inside its bin each value of a sampled future
/// falls: SplitMix64 seeded with the future's value seed, one draw per bin token in order.
/// [`Tokenizer::decode_sampled`] reads the same stream, so a generator that draws from it while
/// sampling (to tell the model where in the bin the value it just generated lies) and the decoder
/// agree on every value.
#[derive(Debug, Clone)]
pub struct ValueDraws {
    state: u64,
}

impl ValueDraws {
    /// The stream of a future whose value seed is `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next draw, in [0, 1).
    pub fn next_uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn age_band(years: i64) -> usize {
    (years.max(0) / 5).min(AGE_BANDS as i64 - 1) as usize
}

fn age_name(band: usize) -> String {
    if band == AGE_BANDS - 1 { "AGE/90+".to_owned() } else { format!("AGE/{}-{}", band * 5, band * 5 + 4) }
}

impl Tokenizer {
    fn assemble(
        config: TokenizerConfig,
        fit: FitSummary,
        intervals: IntervalLadder,
        bins: BTreeMap<String, ValueBins>,
        tokens: Vec<Token>,
    ) -> Self {
        let by_name = tokens.iter().enumerate().map(|(i, t)| (t.name.clone(), i as u32)).collect();
        let first_interval = FIRST_BIN + config.bin_tokens() as u32;
        let first_age = first_interval + intervals::LADDER.len() as u32;
        Self { config, fit, intervals, bins, tokens, by_name, first_interval, first_age }
    }

    /// Fits on `timelines` (the train split) whose codes are in `codes`.
    pub fn fit<'a>(
        timelines: impl IntoIterator<Item = &'a Timeline>,
        codes: &CodeTable,
        config: TokenizerConfig,
    ) -> Result<Self, TokenizerError> {
        if config.bins < 2 || config.bins > 100 {
            return Err(TokenizerError::Fit(format!("bins must be 2–100, not {}", config.bins)));
        }
        if let Some((code, _)) = config.cut_points.iter().find(|(_, cuts)| cuts.iter().any(|c| !c.is_finite())) {
            return Err(TokenizerError::Fit(format!("the cut points of {code} are not all finite numbers")));
        }
        if let Some((code, cuts)) = config.cut_points.iter().find(|(_, cuts)| cuts.len() > 100) {
            return Err(TokenizerError::Fit(format!("{code} has {} cut points; at most 100", cuts.len())));
        }
        let mut counts = vec![0u64; codes.len()];
        let mut is_static = vec![false; codes.len()];
        let mut values: Vec<Vec<f32>> = vec![Vec::new(); codes.len()];
        let mut gaps: Vec<Vec<i64>> = vec![Vec::new(); intervals::LADDER.len()];
        let mut fit = FitSummary::default();
        let birth = codes.get(meds::schema::BIRTH_CODE);
        for t in timelines {
            fit.subjects += 1;
            let mut last: Option<i64> = None;
            for e in t.events() {
                fit.events += 1;
                let c = e.code as usize;
                let Some(count) = counts.get_mut(c) else { continue };
                *count += 1;
                match e.time {
                    None => is_static[c] = true,
                    Some(time) if Some(e.code) != birth => {
                        if let Some(prev) = last
                            && let Some((rung, rest)) = intervals::remainder_rung(time - prev)
                        {
                            gaps[rung].push(rest);
                        }
                        last = Some(time);
                        if let Some(v) = e.numeric_value {
                            values[c].push(v);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if fit.events == 0 {
            return Err(TokenizerError::Fit("the training split has no events".into()));
        }
        // Hierarchy parents get a token when their descendants together are frequent enough.
        let mut totals: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
        for (id, name) in codes.names().enumerate() {
            if counts[id] == 0 || Some(id as CodeId) == birth {
                continue;
            }
            fit.distinct_codes += 1;
            let entry = totals.entry(name).or_default();
            entry.0 += counts[id];
            entry.1 |= is_static[id];
            for parent in parents(name) {
                totals.entry(parent).or_default().0 += counts[id];
            }
        }
        let mut tokens: Vec<Token> = ["[PAD]", "[UNK]", "[START]"]
            .iter()
            .map(|n| Token { name: (*n).to_owned(), kind: TokenKind::Special, count: 0 })
            .collect();
        tokens.extend((1..=config.bin_tokens()).map(|b| Token {
            name: format!("Q{b}"),
            kind: TokenKind::Bin,
            count: 0,
        }));
        tokens.extend(intervals::LADDER.iter().map(|(_, n)| Token {
            name: (*n).to_owned(),
            kind: TokenKind::Interval,
            count: 0,
        }));
        tokens.extend((0..AGE_BANDS).map(|b| Token { name: age_name(b), kind: TokenKind::Age, count: 0 }));
        let mut vocabularies: Vec<&str> = totals.keys().filter_map(|c| vocabulary_of(c)).collect();
        vocabularies.dedup();
        tokens.extend(vocabularies.iter().map(|v| Token {
            name: format!("UNKNOWN/{v}"),
            kind: TokenKind::Unknown,
            count: 0,
        }));
        for (name, (count, stat)) in &totals {
            if *count >= config.min_count {
                let kind = if *stat { TokenKind::Static } else { TokenKind::Code };
                tokens.push(Token { name: (*name).to_owned(), kind, count: *count });
                fit.code_tokens += 1;
            }
        }
        let mut bins = BTreeMap::new();
        for (id, name) in codes.names().enumerate() {
            let v = &mut values[id];
            if (v.len() as u64) < config.min_count.max(2) {
                continue;
            }
            v.retain(|x| x.is_finite());
            v.sort_unstable_by(f32::total_cmp);
            if v.first() == v.last() {
                continue;
            }
            let mut edges: Vec<f32> =
                (1..config.bins).map(|k| v[(k * v.len() / config.bins).min(v.len() - 1)]).collect();
            edges.dedup();
            // A cut at the minimum would leave the first bin empty.
            edges.retain(|&e| e > v[0]);
            if let Some(cuts) = config.cut_points.get(name) {
                cut_points::merge(&mut edges, cuts, v[0], v[v.len() - 1]);
            }
            let b = ValueBins { typical: Vec::new(), edges, spread: Vec::new() };
            let mut per_bin: Vec<Vec<f32>> = vec![Vec::new(); b.edges.len() + 1];
            for &x in v.iter() {
                per_bin[b.bin(x)].push(x);
            }
            let typical = per_bin.iter().map(|xs| xs.get(xs.len() / 2).copied().unwrap_or(f32::NAN)).collect();
            // Values arrive sorted, so each bin's list is sorted too.
            let spread = per_bin
                .iter()
                .map(|xs| match xs.len() {
                    0 => Vec::new(),
                    n => (0..SPREAD).map(|j| xs[((2 * j + 1) * n / (2 * SPREAD)).min(n - 1)]).collect(),
                })
                .collect();
            bins.insert(name.to_owned(), ValueBins { typical, spread, ..b });
            fit.binned_codes += 1;
        }
        Ok(Self::assemble(config, fit, intervals::fit(gaps), bins, tokens))
    }

    /// Saves as versioned JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        let file = TokenizerFile {
            format: FORMAT.into(),
            version: VERSION,
            config: self.config.clone(),
            fit: self.fit.clone(),
            intervals: self.intervals.clone(),
            bins: self.bins.clone(),
            tokens: self.tokens.clone(),
        };
        let io = |source| TokenizerError::Io { path: path.to_path_buf(), source };
        let text = serde_json::to_string(&file).map_err(|e| io(e.into()))?;
        outputs::atomic::write(path, outputs::atomic::Access::Shared, text.as_bytes()).map_err(|e| io(e.source))
    }

    /// Loads a file [`save`](Self::save) wrote; refuses other formats and versions.
    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenizerError::Io { path: path.to_path_buf(), source })?;
        let bad = |message: String| TokenizerError::Format { path: path.to_path_buf(), message };
        let file: TokenizerFile = serde_json::from_str(&text).map_err(|e| bad(format!("not a tokenizer file: {e}")))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(bad(format!(
                "format {} version {}; this build reads {FORMAT} version {VERSION}",
                file.format, file.version
            )));
        }
        let t = Self::assemble(file.config, file.fit, file.intervals, file.bins, file.tokens);
        let structural = 3 + t.config.bin_tokens() + intervals::LADDER.len() + AGE_BANDS;
        if t.tokens.len() < structural || t.tokens[t.first_age as usize].kind != TokenKind::Age {
            return Err(bad("the token list does not have the expected layout".into()));
        }
        Ok(t)
    }

    /// The vocabulary size.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty (never, for a fitted tokenizer).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token with this id.
    pub fn token(&self, id: u32) -> Option<&Token> {
        self.tokens.get(id as usize)
    }

    /// The id of a token by name.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The whole vocabulary, by id.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// What it was fitted on.
    pub fn fit_summary(&self) -> &FitSummary {
        &self.fit
    }

    /// The fitting configuration.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The value bins of a code, if it has any.
    pub fn bins(&self, code: &str) -> Option<&ValueBins> {
        self.bins.get(code)
    }

    /// The interval ladder with its fitted typical gaps.
    pub fn intervals(&self) -> &IntervalLadder {
        &self.intervals
    }

    /// The token of value bin `b` (0-based).
    pub fn bin_token(&self, b: usize) -> u32 {
        FIRST_BIN + b as u32
    }

    /// The bin (0-based) a token stands for, if it is a bin token.
    pub fn bin_of(&self, token: u32) -> Option<usize> {
        (FIRST_BIN..self.first_interval).contains(&token).then(|| (token - FIRST_BIN) as usize)
    }

    /// The interval rung a token stands for, if it is an interval token.
    pub fn rung_of(&self, token: u32) -> Option<usize> {
        (self.first_interval..self.first_age).contains(&token).then(|| (token - self.first_interval) as usize)
    }

    /// The time (µs) the interval tokens among `tokens` add up to, each its rung's typical gap:
    /// how far a generated future's clock ran.
    pub fn elapsed(&self, tokens: &[u32]) -> i64 {
        tokens.iter().filter_map(|&t| self.rung_of(t)).map(|r| self.intervals.typical[r]).sum()
    }

    /// The age-band token for an age in years.
    pub fn age_token(&self, years: i64) -> u32 {
        self.first_age + age_band(years) as u32
    }

    /// Whether a token may be predicted (everything but padding and the prefix's tokens).
    pub fn is_predictable(&self, token: u32) -> bool {
        self.token(token)
            .is_some_and(|t| !matches!(t.kind, TokenKind::Age | TokenKind::Static) && token != PAD && token != START)
    }

    /// The token a code is written as, and how it was found.
    pub fn lookup(&self, code: &str) -> (u32, Lookup) {
        if let Some(&id) = self.by_name.get(code) {
            return (id, Lookup::Exact);
        }
        for parent in parents(code) {
            if let Some(&id) = self.by_name.get(parent) {
                return (id, Lookup::Parent);
            }
        }
        match vocabulary_of(code).and_then(|v| self.by_name.get(&format!("UNKNOWN/{v}"))) {
            Some(&id) => (id, Lookup::Unknown),
            None => (UNK, Lookup::Unknown),
        }
    }

    /// Encodes `timelines` in parallel, in order (one encoder per chunk of 512), with their
    /// statistics merged.
    pub fn encode_all(&self, codes: &CodeTable, timelines: &[Timeline]) -> (Vec<Encoded>, EncodeStats) {
        use rayon::prelude::*;
        let parts: Vec<(Vec<Encoded>, EncodeStats)> = timelines
            .par_chunks(512)
            .map(|chunk| {
                let mut enc = self.encoder(codes);
                let out = chunk.iter().map(|t| enc.encode(t)).collect();
                (out, enc.stats().clone())
            })
            .collect();
        let mut stats = EncodeStats::default();
        let mut all = Vec::with_capacity(timelines.len());
        for (part, s) in parts {
            stats.merge(&s);
            all.extend(part);
        }
        (all, stats)
    }

    /// An encoder for timelines whose codes are in `codes`.
    pub fn encoder(&self, codes: &CodeTable) -> Encoder<'_> {
        let birth = codes.get(meds::schema::BIRTH_CODE);
        let map = codes
            .names()
            .enumerate()
            .map(|(id, name)| {
                if Some(id as CodeId) == birth {
                    return CodeMap { token: PAD, lookup: Lookup::Exact, bins: None, vocabulary: None, birth: true };
                }
                let (token, lookup) = self.lookup(name);
                let bins = if lookup == Lookup::Exact { self.bins.get(name) } else { None };
                let vocabulary = vocabulary_of(name).map(str::to_owned);
                CodeMap { token, lookup, bins, vocabulary, birth: false }
            })
            .collect();
        Encoder { tokenizer: self, map, stats: EncodeStats::default() }
    }

    /// Decodes generated tokens (no prefix) into events, starting the clock at `start`. Interval
    /// tokens advance time by their rung's typical gap; a bin token gives the preceding code its
    /// bin's typical value. Tokens that cannot be decoded where they stand (a bin with no code
    /// before it, a prefix token) are skipped and counted.
    pub fn decode(&self, tokens: &[u32], start: i64) -> Decoded {
        self.decode_values(tokens, start, |bins, b, _| bins.typical.get(b).copied())
    }

    /// [`decode`](Self::decode) for a sampled future: each bin token's value is drawn from the
    /// bin's train values ([`ValueBins::draw`]) by a generator seeded with `seed`, so the same
    /// tokens and seed decode the same way.
    pub fn decode_sampled(&self, tokens: &[u32], start: i64, seed: u64) -> Decoded {
        let mut draws = ValueDraws::new(seed);
        self.decode_values(tokens, start, |bins, b, _| bins.draw(b, draws.next_uniform()))
    }

    /// [`decode_sampled`](Self::decode_sampled) with each bin redrawn first: the `k`-th bin token
    /// of `tokens` is replaced by a draw from `probabilities[k]` (weights over `Q1`… in order,
    /// as the model gave them where it generated that token), among the bins its code has; then
    /// its value is drawn from that bin. A bin token without probabilities keeps its own bin.
    /// Reading a future many times this way counts a rare bin with its probability, where
    /// sampled bins show it only when it was drawn.
    pub fn decode_resampled(&self, tokens: &[u32], start: i64, seed: u64, probabilities: &[Vec<f32>]) -> Decoded {
        let mut draws = ValueDraws::new(seed);
        let mut uniform = move || draws.next_uniform();
        self.decode_values(tokens, start, |bins, b, k| {
            let bin = match probabilities.get(k) {
                Some(p) => {
                    let p = &p[..p.len().min(bins.typical.len())];
                    let total: f64 = p.iter().map(|&x| f64::from(x)).sum();
                    let mut r = uniform() * total;
                    let drawn = p.iter().position(|&x| {
                        r -= f64::from(x);
                        r < 0.0
                    });
                    if total > 0.0 { drawn.unwrap_or(p.len() - 1) } else { b }
                }
                None => b,
            };
            bins.draw(bin, uniform())
        })
    }

    fn decode_values(
        &self,
        tokens: &[u32],
        start: i64,
        mut value_of: impl FnMut(&ValueBins, usize, usize) -> Option<f32>,
    ) -> Decoded {
        let mut ordinal = 0;
        let mut out = Decoded::default();
        let mut t = start;
        for &token in tokens {
            if let Some(rung) = self.rung_of(token) {
                t += self.intervals.typical[rung];
                continue;
            }
            if let Some(b) = self.bin_of(token) {
                let k = ordinal;
                ordinal += 1;
                let value = out
                    .events
                    .last_mut()
                    .filter(|e| e.numeric_value.is_none())
                    .and_then(|e| self.bins.get(&e.code).and_then(|bins| value_of(bins, b, k)).map(|v| (e, v)));
                match value {
                    Some((e, v)) => e.numeric_value = Some(v),
                    None => out.skipped += 1,
                }
                continue;
            }
            match self.token(token) {
                Some(tok) if matches!(tok.kind, TokenKind::Code | TokenKind::Unknown) || token == UNK => {
                    out.events.push(DecodedEvent { time: t, code: tok.name.clone(), numeric_value: None });
                }
                _ => out.skipped += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchical_codes_have_parents_others_none() {
        assert_eq!(parents("ICD10CM/E11.65"), vec!["ICD10CM/E11.6", "ICD10CM/E11"]);
        assert_eq!(parents("ICD10CM/I10"), Vec::<&str>::new());
        assert_eq!(parents("ICD9CM/250.00"), vec!["ICD9CM/250.0", "ICD9CM/250"]);
        assert!(parents("LOINC/4548-4").is_empty());
        assert!(parents("MEDS_DEATH").is_empty());
        assert_eq!(age_name(0), "AGE/0-4");
        assert_eq!(age_name(18), "AGE/90+");
        assert_eq!(age_band(200), 18);
    }
}
