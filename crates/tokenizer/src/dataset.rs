//! Tokenized splits on disk: one parquet file per split (`tokens/train.parquet`, …) that pyarrow,
//! polars or a PyTorch data loader read as they are. Columns: `subject_id` (int64), `birth`
//! (timestamp µs, nullable), `statics` (`list<int32>`), `tokens` (`list<int32>`), `times`
//! (`list<int64>`, µs since the epoch, one per token), `values` (`list<float32>`, one per token:
//! the value channel, [`Encoded::values`]; files written before it existed lack the column and
//! read as all 0).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, Int32Builder, Int64Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{EncodeStats, Encoded, FitSummary, Tokenizer, TokenizerConfig, TokenizerError};

/// The tokenization report's file name in a tokenized directory.
pub const REPORT_FILE: &str = "tokenize_report.json";
/// The fitted tokenizer's file name in a tokenized directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// What [`tokenize`] did: the vocabulary it fitted and every split's encoding counts (fallbacks
/// to a parent code or to unknown never pass silently).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenizeReport {
    /// Tokens in the vocabulary.
    pub vocabulary: usize,
    /// What the tokenizer was fitted on.
    pub fit: FitSummary,
    /// Encoding counts by split.
    pub splits: std::collections::BTreeMap<String, EncodeStats>,
    /// Subjects left out because the dataset gives them no split.
    #[serde(default)]
    pub without_split: usize,
}

impl outputs::artifact::Artifact for TokenizeReport {
    const FORMAT: &'static str = "longitude-tokenize-report";
    const VERSION: u32 = 1;
}

/// What the tokenizer was fitted on, then a row per split: subjects, events, tokens, and codes
/// that fell back to their parent or to the unknown token.
impl std::fmt::Display for TokenizeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fit = &self.fit;
        writeln!(
            f,
            "fitted on {} train subjects / {} events: {} tokens ({} codes, {} with value bins)",
            fit.subjects, fit.events, self.vocabulary, fit.code_tokens, fit.binned_codes
        )?;
        write!(
            f,
            "{:<10} {:>9} {:>11} {:>11} {:>12} {:>12}",
            "split", "subjects", "events", "tokens", "to parent", "to unknown"
        )?;
        for (split, s) in &self.splits {
            let unknown = s.unknown_fallbacks.values().sum::<u64>();
            write!(
                f,
                "\n{split:<10} {:>9} {:>11} {:>11} {:>12} {unknown:>12}",
                s.subjects, s.events, s.tokens, s.parent_fallbacks
            )?;
        }
        Ok(())
    }
}

/// The path of split `split`'s tokens in the tokenized directory `dir`.
pub fn split_path(dir: &Path, split: &str) -> std::path::PathBuf {
    dir.join("tokens").join(format!("{split}.parquet"))
}

/// Fits a tokenizer on the train split of the MEDS dataset at `meds_root` and writes every split
/// as token sequences into `out` (a directory the caller has claimed): `tokenizer.json`,
/// `tokens/<split>.parquet` and `tokenize_report.json`. Subjects without a split are left out
/// and counted.
pub fn tokenize(meds_root: &Path, out: &Path, config: TokenizerConfig) -> Result<TokenizeReport, TokenizerError> {
    let (codes, splits) = meds::read_by_split(meds_root)?;
    let Some(train) = splits.get(meds::schema::TRAIN_SPLIT) else {
        return Err(TokenizerError::Fit(format!("{} has no train split to fit on", meds_root.display())));
    };
    let tok = Tokenizer::fit(train, &codes, config)?;
    let mut report = TokenizeReport {
        vocabulary: tok.len(),
        fit: tok.fit_summary().clone(),
        splits: Default::default(),
        without_split: splits.get("").map_or(0, Vec::len),
    };
    for (split, timelines) in splits.iter().filter(|(s, _)| !s.is_empty()) {
        let (encoded, stats) = tok.encode_all(&codes, timelines);
        write_split(&split_path(out, split), &encoded)?;
        report.splits.insert(split.clone(), stats);
    }
    tok.save(&out.join(TOKENIZER_FILE))?;
    outputs::artifact::write(&out.join(REPORT_FILE), &report)?;
    Ok(report)
}

fn schema() -> Arc<Schema> {
    let list = |name: &str, t: DataType| Field::new(name, DataType::new_list(t, true), false);
    Arc::new(Schema::new(vec![
        Field::new("subject_id", DataType::Int64, false),
        Field::new("birth", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        list("statics", DataType::Int32),
        list("tokens", DataType::Int32),
        list("times", DataType::Int64),
        list("values", DataType::Float32),
    ]))
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes encoded subjects to `path`, atomically, in row groups of 4,096 subjects.
pub fn write_split(path: &Path, subjects: &[Encoded]) -> Result<(), TokenizerError> {
    let io = |source| TokenizerError::Io { path: path.to_path_buf(), source };
    let (pending, file) =
        outputs::atomic::Pending::create(path, outputs::atomic::Access::Shared).map_err(|e| io(e.source))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|e| parquet_error(path, e))?))
        .build();
    let schema = schema();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| parquet_error(path, e))?;
    for chunk in subjects.chunks(4096) {
        let ids = Int64Array::from_iter_values(chunk.iter().map(|s| s.subject_id));
        let birth = TimestampMicrosecondArray::from(chunk.iter().map(|s| s.birth).collect::<Vec<_>>());
        let mut statics = ListBuilder::new(Int32Builder::new());
        let mut tokens = ListBuilder::new(Int32Builder::new());
        let mut times = ListBuilder::new(Int64Builder::new());
        let mut values = ListBuilder::new(Float32Builder::new());
        for s in chunk {
            statics.values().append_slice(&s.statics.iter().map(|&t| t as i32).collect::<Vec<_>>());
            statics.append(true);
            tokens.values().append_slice(&s.tokens.iter().map(|&t| t as i32).collect::<Vec<_>>());
            tokens.append(true);
            times.values().append_slice(&s.times);
            times.append(true);
            match s.values.len() {
                0 => values.values().append_slice(&vec![0.0; s.tokens.len()]),
                _ => values.values().append_slice(&s.values),
            }
            values.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids),
            Arc::new(birth),
            Arc::new(statics.finish()),
            Arc::new(tokens.finish()),
            Arc::new(times.finish()),
            Arc::new(values.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| parquet_error(path, e))?;
        writer.write(&batch).map_err(|e| parquet_error(path, e))?;
    }
    let file = writer.into_inner().map_err(|e| parquet_error(path, e))?;
    pending.commit(file).map_err(|e| io(e.source))
}

/// Reads a split [`write_split`] wrote.
pub fn read_split(path: &Path) -> Result<Vec<Encoded>, TokenizerError> {
    let file = std::fs::File::open(path).map_err(|source| TokenizerError::Io { path: path.to_path_buf(), source })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(4096).build())
        .map_err(|e| parquet_error(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(path, e))?;
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| parquet_error(path, format!("no column {name}")))
        };
        let (ids, birth, statics, tokens, times) =
            (column("subject_id")?, column("birth")?, column("statics")?, column("tokens")?, column("times")?);
        let wrong = |name: &str| parquet_error(path, format!("column {name} has the wrong type"));
        let ids = ids.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong("subject_id"))?;
        let birth = birth.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| wrong("birth"))?;
        let statics = statics.as_list_opt::<i32>().ok_or_else(|| wrong("statics"))?;
        let tokens = tokens.as_list_opt::<i32>().ok_or_else(|| wrong("tokens"))?;
        let times = times.as_list_opt::<i32>().ok_or_else(|| wrong("times"))?;
        let values = match batch.column_by_name("values") {
            Some(v) => Some(v.as_list_opt::<i32>().ok_or_else(|| wrong("values"))?),
            None => None,
        };
        let ints = |a: ArrayRef, name: &str| -> Result<Vec<u32>, TokenizerError> {
            let a = a.as_primitive_opt::<Int32Type>().ok_or_else(|| wrong(name))?;
            Ok(a.values().iter().map(|&t| t as u32).collect())
        };
        for i in 0..batch.num_rows() {
            let time_values = times.value(i);
            let time_values = time_values.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong("times"))?;
            let e = Encoded {
                subject_id: ids.value(i),
                birth: (!birth.is_null(i)).then(|| birth.value(i)),
                statics: ints(statics.value(i), "statics")?,
                tokens: ints(tokens.value(i), "tokens")?,
                times: time_values.values().to_vec(),
                values: match values {
                    Some(v) => {
                        let v = v.value(i);
                        v.as_primitive_opt::<Float32Type>().ok_or_else(|| wrong("values"))?.values().to_vec()
                    }
                    None => Vec::new(),
                },
            };
            if e.tokens.len() != e.times.len() {
                return Err(parquet_error(path, format!("row {i}: tokens and times differ in length")));
            }
            if !e.values.is_empty() && e.values.len() != e.tokens.len() {
                return Err(parquet_error(path, format!("row {i}: tokens and values differ in length")));
            }
            out.push(e);
        }
    }
    Ok(out)
}
