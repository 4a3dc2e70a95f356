//! Streaming, sharded, atomic MEDS writing.
//!
//! A [`DatasetWriter`] takes whole subjects one at a time, sorts each subject's events into MEDS
//! order, and buffers them per split until a shard is full; full shards are encoded to parquet on
//! background threads while the caller keeps producing, with a bounded number in flight, so memory stays
//! bounded by `threads × shard_events`. Each shard, and each metadata file, is written to a
//! `.partial` file and renamed into place only when complete. `metadata/dataset.json` is written
//! last: a directory without it is an unfinished dataset.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use arrow_array::builder::{LargeStringBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::atomic::write_atomic;
use crate::codes::CodeTable;
use crate::error::{MedsError, Result};
use crate::metadata::{CodeMetadata, DatasetMetadata, write_codes, write_subject_splits};
use crate::schema;
use crate::timeline::{STATIC_TIME, Timeline};

/// Compression of the event shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardCompression {
    /// No compression: largest files, fastest to read.
    None,
    /// Snappy: fast to write and read, moderate size (the default).
    #[default]
    Snappy,
    /// Zstandard at the given level: smallest files, slower to read.
    Zstd(i32),
}

/// How a [`DatasetWriter`] lays out and describes the dataset.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A shard is closed once it holds at least this many events (a subject is never split).
    pub shard_events: usize,
    /// Shard compression.
    pub compression: ShardCompression,
    /// At most this many shards are encoded concurrently (0: the number of available cores).
    pub threads: usize,
    /// Written to `metadata/dataset.json`; `meds_version` and `created_at` are filled in if unset.
    pub metadata: DatasetMetadata,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            shard_events: 1 << 21,
            compression: ShardCompression::default(),
            threads: 0,
            metadata: DatasetMetadata::default(),
        }
    }
}

/// What a finished write produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Subjects written.
    pub subjects: u64,
    /// Events written.
    pub events: u64,
    /// Shard files written, relative to the dataset root, in the order they were closed.
    pub shards: Vec<PathBuf>,
    /// Distinct codes written (the rows of `metadata/codes.parquet`).
    pub codes: usize,
}

/// The writer properties of event shards. `time` is monotone within a subject, so delta encoding
/// beats a dictionary; `text_value` is mostly null or unique; codes, subject ids and values keep
/// parquet's dictionary encoding.
fn shard_properties(compression: ShardCompression) -> Result<WriterProperties> {
    let compression = match compression {
        ShardCompression::None => Compression::UNCOMPRESSED,
        ShardCompression::Snappy => Compression::SNAPPY,
        ShardCompression::Zstd(level) => Compression::ZSTD(
            ZstdLevel::try_new(level).map_err(|e| MedsError::parquet(format!("zstd level {level}"), e))?,
        ),
    };
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_column_dictionary_enabled(ColumnPath::from(schema::TIME), false)
        .set_column_encoding(ColumnPath::from(schema::TIME), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from(schema::SUBJECT_ID), false)
        .set_column_encoding(ColumnPath::from(schema::SUBJECT_ID), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from(schema::TEXT_VALUE), false)
        .set_column_dictionary_enabled(ColumnPath::from(schema::NUMERIC_VALUE), false)
        .build())
}

/// Events of one shard, accumulated column by column.
struct ShardBuffer {
    subject_ids: Vec<i64>,
    times: Vec<i64>,
    time_valid: Vec<bool>,
    codes: StringBuilder,
    values: Vec<f32>,
    value_valid: Vec<bool>,
    texts: LargeStringBuilder,
    subjects: u64,
}

impl ShardBuffer {
    fn new(capacity: usize) -> Self {
        Self {
            subject_ids: Vec::with_capacity(capacity),
            times: Vec::with_capacity(capacity),
            time_valid: Vec::with_capacity(capacity),
            codes: StringBuilder::with_capacity(capacity, capacity * 12),
            values: Vec::with_capacity(capacity),
            value_valid: Vec::with_capacity(capacity),
            texts: LargeStringBuilder::new(),
            subjects: 0,
        }
    }

    fn len(&self) -> usize {
        self.times.len()
    }

    fn push(&mut self, t: &Timeline, codes: &CodeTable) {
        self.subjects += 1;
        let n = t.len();
        self.subject_ids.extend(std::iter::repeat_n(t.subject_id, n));
        self.times.extend_from_slice(&t.times);
        self.time_valid.extend(t.times.iter().map(|&x| x != STATIC_TIME));
        for &c in &t.codes {
            self.codes.append_value(codes.name(c));
        }
        self.values.extend_from_slice(&t.numeric_values);
        self.value_valid.extend(t.numeric_values.iter().map(|v| !v.is_nan()));
        let mut texts = t.text_values.iter().peekable();
        for i in 0..n as u32 {
            match texts.next_if(|(idx, _)| *idx == i) {
                Some((_, text)) => self.texts.append_value(text),
                None => self.texts.append_null(),
            }
        }
    }

    fn into_batch(mut self, schema: SchemaRef, path: &Path) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.subject_ids)),
            Arc::new(TimestampMicrosecondArray::new(self.times.into(), Some(self.time_valid.into()))),
            Arc::new(self.codes.finish()),
            Arc::new(Float32Array::new(self.values.into(), Some(self.value_valid.into()))),
            Arc::new(self.texts.finish()),
        ];
        RecordBatch::try_new(schema, columns).map_err(|e| MedsError::arrow(path, e))
    }
}

struct Finished {
    path: PathBuf,
    result: Result<()>,
}

/// Writes a MEDS dataset subject by subject. See the module documentation.
pub struct DatasetWriter {
    root: PathBuf,
    options: WriterOptions,
    properties: WriterProperties,
    schema: SchemaRef,
    buffers: BTreeMap<String, ShardBuffer>,
    next_shard: BTreeMap<String, usize>,
    subjects_seen: HashSet<i64>,
    splits: Vec<(i64, String)>,
    code_table: Option<u64>,
    codes_seen: Vec<bool>,
    events: u64,
    in_flight: usize,
    done_tx: Sender<Finished>,
    done_rx: Receiver<Finished>,
    shards: Vec<PathBuf>,
}

/// Whether a parquet file lies anywhere under `dir`.
fn holds_parquet(dir: &Path) -> Result<bool> {
    for entry in std::fs::read_dir(dir).map_err(|e| MedsError::io(dir, e))? {
        let path = entry.map_err(|e| MedsError::io(dir, e))?.path();
        if path.is_dir() {
            if holds_parquet(&path)? {
                return Ok(true);
            }
        } else if path.extension().is_some_and(|e| e == "parquet") {
            return Ok(true);
        }
    }
    Ok(false)
}

impl DatasetWriter {
    /// Starts a dataset at `root`, which must not already hold MEDS shards.
    pub fn create(root: impl Into<PathBuf>, options: WriterOptions) -> Result<Self> {
        let root = root.into();
        let data = root.join(schema::DATA_DIR);
        // Files that are not shards (a README someone keeps there) are left alone; shards would
        // mix two datasets.
        if data.exists() && holds_parquet(&data)? {
            return Err(MedsError::Writer {
                root,
                message: "data/ already holds parquet shards; refusing to mix a new dataset into an existing one"
                    .into(),
            });
        }
        std::fs::create_dir_all(&data).map_err(|e| MedsError::io(&data, e))?;
        // Until `finish`, the dataset is incomplete: readers refuse it (see `Dataset::open`).
        let marker = root.join(schema::WRITING_MARKER);
        outputs::atomic::write(
            &marker,
            outputs::atomic::Access::Shared,
            b"a MEDS writer is writing this dataset; if no run is active, it was interrupted\n",
        )?;
        let properties = shard_properties(options.compression)?;
        let (done_tx, done_rx) = channel();
        Ok(Self {
            root,
            options,
            properties,
            schema: schema::data_schema(),
            buffers: BTreeMap::new(),
            next_shard: BTreeMap::new(),
            subjects_seen: HashSet::new(),
            splits: Vec::new(),
            code_table: None,
            codes_seen: Vec::new(),
            events: 0,
            in_flight: 0,
            done_tx,
            done_rx,
            shards: Vec::new(),
        })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds one subject's whole timeline to `split`. Events are sorted into MEDS order if they are
    /// not already. Every timeline of a dataset must use the same `codes` table, and each subject
    /// may be written once.
    pub fn write_subject(&mut self, split: &str, timeline: &Timeline, codes: &CodeTable) -> Result<()> {
        if split.is_empty() || split.contains(['/', '\\']) || split.starts_with('.') {
            return Err(MedsError::Writer {
                root: self.root.clone(),
                message: format!("invalid split name {split:?}"),
            });
        }
        match self.code_table {
            None => self.code_table = Some(codes.uid()),
            Some(uid) if uid != codes.uid() => {
                return Err(MedsError::Writer {
                    root: self.root.clone(),
                    message: "timelines of one dataset must share one code table".into(),
                });
            }
            Some(_) => {}
        }
        if !self.subjects_seen.insert(timeline.subject_id) {
            return Err(MedsError::Writer {
                root: self.root.clone(),
                message: format!(
                    "subject {} written twice; a subject must be written whole, once",
                    timeline.subject_id
                ),
            });
        }
        if self.codes_seen.len() < codes.len() {
            self.codes_seen.resize(codes.len(), false);
        }
        for &c in &timeline.codes {
            self.codes_seen[c as usize] = true;
        }
        self.splits.push((timeline.subject_id, split.to_owned()));
        self.events += timeline.len() as u64;

        let shard_events = self.options.shard_events.max(1);
        let buffer =
            self.buffers.entry(split.to_owned()).or_insert_with(|| ShardBuffer::new(shard_events.min(1 << 22)));
        if timeline.is_sorted() {
            buffer.push(timeline, codes);
        } else {
            let mut sorted = timeline.clone();
            sorted.sort();
            buffer.push(&sorted, codes);
        }
        if buffer.len() >= shard_events {
            self.flush_split(split)?;
        }
        Ok(())
    }

    fn max_in_flight(&self) -> usize {
        if self.options.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.options.threads
        }
        .max(1)
    }

    fn flush_split(&mut self, split: &str) -> Result<()> {
        let Some(buffer) = self.buffers.remove(split) else { return Ok(()) };
        if buffer.len() == 0 && buffer.subjects == 0 {
            return Ok(());
        }
        while self.in_flight >= self.max_in_flight() {
            self.wait_one()?;
        }
        let index = self.next_shard.entry(split.to_owned()).or_insert(0);
        let relative = PathBuf::from(schema::DATA_DIR).join(split).join(format!("{index}.parquet"));
        *index += 1;
        let path = self.root.join(&relative);
        self.shards.push(relative);
        let schema = self.schema.clone();
        let properties = self.properties.clone();
        let tx = self.done_tx.clone();
        self.in_flight += 1;
        // A plain thread, not the rayon pool: the caller may itself be a rayon worker, and blocking
        // it on a job queued behind it would deadlock a saturated pool.
        std::thread::spawn(move || {
            let result = buffer.into_batch(schema, &path).and_then(|batch| write_shard(&path, &batch, properties));
            // The receiver lives as long as the writer, which waits for every shard it spawned.
            let _ = tx.send(Finished { path, result });
        });
        Ok(())
    }

    fn wait_one(&mut self) -> Result<()> {
        let finished = self.done_rx.recv().map_err(|_| MedsError::Writer {
            root: self.root.clone(),
            message: "a shard encoder stopped without reporting".into(),
        })?;
        self.in_flight -= 1;
        if finished.result.is_ok() {
            tracing::debug!(shard = %finished.path.display(), "shard written");
        }
        finished.result
    }

    /// Writes the remaining shards and the metadata files, and returns what was written. `codes`
    /// must be the table the timelines were built with; its descriptions and parents go into
    /// `metadata/codes.parquet`.
    pub fn finish(mut self, codes: &CodeTable) -> Result<WriteSummary> {
        if self.code_table.is_some_and(|uid| uid != codes.uid()) {
            return Err(MedsError::Writer {
                root: self.root.clone(),
                message: "finish() was given a different code table from the one the timelines used".into(),
            });
        }
        let splits: Vec<String> = self.buffers.keys().cloned().collect();
        let mut first_error = None;
        for split in splits {
            if let Err(e) = self.flush_split(&split) {
                first_error.get_or_insert(e);
            }
        }
        while self.in_flight > 0 {
            if let Err(e) = self.wait_one() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }

        let code_rows: Vec<CodeMetadata> = self
            .codes_seen
            .iter()
            .enumerate()
            .filter(|(_, seen)| **seen)
            .map(|(id, _)| CodeMetadata { code: codes.name(id as u32).to_owned(), info: codes.info(id as u32).clone() })
            .collect();
        write_codes(&self.root, &code_rows)?;
        write_subject_splits(&self.root, &self.splits)?;
        let mut metadata = self.options.metadata.clone();
        metadata.meds_version.get_or_insert_with(|| schema::MEDS_VERSION.to_owned());
        metadata
            .created_at
            .get_or_insert_with(|| chrono::Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
        metadata.write(&self.root)?;
        let marker = self.root.join(schema::WRITING_MARKER);
        std::fs::remove_file(&marker).map_err(|e| MedsError::io(&marker, e))?;
        Ok(WriteSummary {
            subjects: self.splits.len() as u64,
            events: self.events,
            shards: std::mem::take(&mut self.shards),
            codes: code_rows.len(),
        })
    }
}

impl Drop for DatasetWriter {
    /// A writer dropped without [`DatasetWriter::finish`] (an error, an interrupted run) still
    /// waits for its shard encoders, so no thread outlives it writing into the directory. The
    /// dataset stays unfinished: it has no `metadata/dataset.json`.
    fn drop(&mut self) {
        while self.in_flight > 0 {
            if self.wait_one().is_err() && self.in_flight == 0 {
                break;
            }
        }
    }
}

fn write_shard(path: &Path, batch: &RecordBatch, properties: WriterProperties) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer =
            ArrowWriter::try_new(w, batch.schema(), Some(properties)).map_err(|e| MedsError::parquet(path, e))?;
        writer.write(batch).map_err(|e| MedsError::parquet(path, e))?;
        writer.close().map_err(|e| MedsError::parquet(path, e))?;
        Ok(())
    })
}
