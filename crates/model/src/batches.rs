//! Training windows from tokenized timelines.
//!
//! A window is the static prefix (statics, the age band at the window's start, `[START]`) followed
//! by up to `seq_len - prefix` consecutive event tokens. Windows start at a token chosen uniformly
//! over every token of the split (long histories give more windows, as ETHOS samples), moved back
//! so the window is full where the history allows. The model predicts every event token, never
//! the prefix or padding.
//!
//! Batches are a pure function of `(seed, step, micro-batch)`: there is no loader state to save,
//! and a resumed run sees exactly the batches an uninterrupted run would.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tokenizer::{Encoded, PAD, Tokenizer};

/// One batch, flattened row-major: `inputs[b * T + t]` etc., `T = seq_len - 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Rows.
    pub rows: usize,
    /// Tokens per row (the window length minus one).
    pub len: usize,
    /// Input tokens.
    pub inputs: Vec<i64>,
    /// The input tokens' value positions (the value channel; 0 for the prefix and padding).
    pub values: Vec<f32>,
    /// The next token at each position.
    pub targets: Vec<i64>,
    /// 1 where the target counts in the loss.
    pub weights: Vec<f32>,
}

impl Batch {
    /// Target tokens that count.
    pub fn counted(&self) -> usize {
        self.weights.iter().filter(|&&w| w > 0.0).count()
    }
}

/// Samples windows from one split.
pub struct Windows<'a> {
    subjects: Vec<&'a Encoded>,
    /// Cumulative token counts, for sampling a start uniformly over tokens.
    cumulative: Vec<u64>,
    tokenizer: &'a Tokenizer,
    seq_len: usize,
}

impl<'a> Windows<'a> {
    /// Windows of `seq_len` tokens (prefix included) over the subjects that have events.
    pub fn new(subjects: &'a [Encoded], tokenizer: &'a Tokenizer, seq_len: usize) -> Self {
        let subjects: Vec<&Encoded> = subjects.iter().filter(|s| !s.tokens.is_empty()).collect();
        let mut total = 0;
        let cumulative = subjects
            .iter()
            .map(|s| {
                total += s.tokens.len() as u64;
                total
            })
            .collect();
        Self { subjects, cumulative, tokenizer, seq_len }
    }

    /// Event tokens in the split.
    pub fn tokens(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Whether there is anything to sample.
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }

    /// The window of `subject` starting at event token `start`, padded: `(tokens, values,
    /// weights)` of length `seq_len`, where `values[i]` is token `i`'s value position and
    /// `weights[i]` says whether token `i` is a prediction target.
    pub fn window(&self, subject: &Encoded, start: usize) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
        let mut tokens = subject.prefix_within(self.tokenizer, start, self.seq_len);
        let prefix = tokens.len();
        let body = (self.seq_len - prefix).min(subject.tokens.len().saturating_sub(start));
        tokens.extend_from_slice(&subject.tokens[start..start + body]);
        let mut values = vec![0.0; prefix];
        values.extend((start..start + body).map(|i| subject.value(i)));
        values.resize(self.seq_len, 0.0);
        let mut weights = vec![0.0; prefix];
        weights
            .extend(subject.tokens[start..start + body].iter().map(|&t| f32::from(self.tokenizer.is_predictable(t))));
        tokens.resize(self.seq_len, PAD);
        weights.resize(self.seq_len, 0.0);
        (tokens, values, weights)
    }

    /// The batch of `rows` windows for `(seed, step, micro)`.
    pub fn batch(&self, rows: usize, seed: u64, step: u64, micro: u64) -> Batch {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ micro.rotate_left(32));
        let t = self.seq_len - 1;
        let mut batch = Batch {
            rows,
            len: t,
            inputs: Vec::with_capacity(rows * t),
            values: Vec::with_capacity(rows * t),
            targets: Vec::with_capacity(rows * t),
            weights: Vec::with_capacity(rows * t),
        };
        for _ in 0..rows {
            let (tokens, values, weights) = if self.is_empty() {
                (vec![PAD; self.seq_len], vec![0.0; self.seq_len], vec![0.0; self.seq_len])
            } else {
                let at = rng.random_range(0..self.tokens());
                let i = self.cumulative.partition_point(|&c| c <= at);
                let subject = self.subjects[i];
                let offset = (at - if i == 0 { 0 } else { self.cumulative[i - 1] }) as usize;
                let body = self.seq_len.saturating_sub(subject.statics.len() + 2).max(1);
                let start = offset.min(subject.tokens.len().saturating_sub(body));
                self.window(subject, start)
            };
            batch.inputs.extend(tokens[..t].iter().map(|&x| i64::from(x)));
            batch.values.extend_from_slice(&values[..t]);
            batch.targets.extend(tokens[1..].iter().map(|&x| i64::from(x)));
            batch.weights.extend_from_slice(&weights[1..]);
        }
        batch
    }
}
