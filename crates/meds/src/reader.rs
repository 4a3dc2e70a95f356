//! Reading MEDS event shards into typed [`Timeline`]s.
//!
//! Shards are read in parallel (one rayon task per shard), each streamed in record batches, so
//! memory is bounded by the batch size times the number of threads plus what the caller keeps.
//! The `code` column is decoded as a parquet dictionary (never materialised as one string per
//! event) and mapped to dense ids through a shared [`CodeTable`], once per dictionary.
//!
//! The reader checks the MEDS invariants as it goes — required columns and types, no nulls in
//! `subject_id` or `code`, each subject's events contiguous and sorted by time (static first), each
//! subject in only one shard — and stops with an error naming the file on the first violation.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use crate::codes::{CodeId, CodeTable};
use crate::error::{MedsError, Result};
use crate::schema;
use crate::timeline::{STATIC_TIME, Timeline};

/// One parquet file of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Absolute (or root-joined) path of the file.
    pub path: PathBuf,
    /// Path relative to the dataset root (`data/train/0.parquet`).
    pub relative: PathBuf,
    /// The first directory under `data/` (MEDS ETLs conventionally name it after the split), if any.
    pub prefix: Option<String>,
}

/// Counts from reading shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Subjects read.
    pub subjects: u64,
    /// Events read.
    pub events: u64,
}

impl std::ops::AddAssign for ReadSummary {
    fn add_assign(&mut self, rhs: Self) {
        self.subjects += rhs.subjects;
        self.events += rhs.events;
    }
}

/// A MEDS dataset on disk: its root and its event shards.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    shards: Vec<Shard>,
}

impl Dataset {
    /// Opens the dataset at `root` by listing `data/**/*.parquet` (files whose names start with `.`,
    /// such as unfinished `.partial` files, are ignored). Metadata files are not required here; see
    /// [`crate::validate`] for the full check.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let data = root.join(schema::DATA_DIR);
        if !data.is_dir() {
            return Err(MedsError::NoShards { root });
        }
        if root.join(schema::WRITING_MARKER).exists() {
            return Err(MedsError::Incomplete { root });
        }
        let mut files = Vec::new();
        list_parquet(&data, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(MedsError::NoShards { root });
        }
        let shards = files
            .into_iter()
            .map(|path| {
                let relative = path.strip_prefix(&root).map(Path::to_path_buf).unwrap_or_else(|_| path.clone());
                let under_data = path.strip_prefix(&data).ok();
                let prefix = under_data.and_then(|p| {
                    let mut parts = p.components();
                    let first = parts.next()?;
                    parts.next()?;
                    Some(first.as_os_str().to_string_lossy().into_owned())
                });
                Shard { path, relative, prefix }
            })
            .collect();
        Ok(Self { root, shards })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The event shards, in path order.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Calls `f` with every subject's timeline, shards in parallel on the current rayon pool (each
    /// shard's subjects in file order). Codes are interned into `codes`. Fails on the first shard
    /// that breaks a MEDS invariant, or if a subject appears in two shards.
    pub fn for_each_subject<F>(&self, codes: &Mutex<CodeTable>, f: F) -> Result<ReadSummary>
    where
        F: Fn(&Shard, Timeline) -> Result<()> + Sync,
    {
        let per_shard: Vec<(ReadSummary, Vec<i64>)> = self
            .shards
            .par_iter()
            .map(|shard| {
                let mut ids = Vec::new();
                let summary = read_shard(&shard.path, codes, |t| {
                    ids.push(t.subject_id);
                    f(shard, t)
                })?;
                Ok((summary, ids))
            })
            .collect::<Result<_>>()?;
        check_disjoint(&self.shards, per_shard.iter().map(|(_, ids)| ids.as_slice()))?;
        let mut total = ReadSummary::default();
        for (summary, _) in per_shard {
            total += summary;
        }
        Ok(total)
    }

    /// Reads every timeline into memory, in shard order, with the code table they refer to.
    pub fn read_all(&self) -> Result<(CodeTable, Vec<Timeline>)> {
        let codes = Mutex::new(CodeTable::new());
        let per_shard: Vec<Vec<Timeline>> = self
            .shards
            .par_iter()
            .map(|shard| {
                let mut out = Vec::new();
                read_shard(&shard.path, &codes, |t| {
                    out.push(t);
                    Ok(())
                })?;
                Ok(out)
            })
            .collect::<Result<_>>()?;
        let ids: Vec<Vec<i64>> = per_shard.iter().map(|ts| ts.iter().map(|t| t.subject_id).collect()).collect();
        check_disjoint(&self.shards, ids.iter().map(Vec::as_slice))?;
        let codes = codes.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok((codes, per_shard.into_iter().flatten().collect()))
    }
}

fn list_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| MedsError::io(dir, e))? {
        let entry = entry.map_err(|e| MedsError::io(dir, e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry.file_type().map_err(|e| MedsError::io(&path, e))?;
        if hidden {
            continue;
        }
        if kind.is_dir() {
            list_parquet(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// Fails if any subject id occurs in two shards.
fn check_disjoint<'a>(shards: &[Shard], ids: impl Iterator<Item = &'a [i64]>) -> Result<()> {
    let mut all: Vec<(i64, u32)> = Vec::new();
    for (shard, ids) in ids.enumerate() {
        all.extend(ids.iter().map(|&id| (id, shard as u32)));
    }
    all.sort_unstable();
    for w in all.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 != w[1].1 {
            return Err(MedsError::SubjectInManyShards {
                subject_id: w[0].0,
                first: shards[w[0].1 as usize].relative.clone(),
                second: shards[w[1].1 as usize].relative.clone(),
            });
        }
    }
    Ok(())
}

/// How a shard's columns are laid out, resolved against the MEDS schema.
#[derive(Debug, Clone)]
pub(crate) struct ShardLayout {
    /// Root column indices of the projected columns, in file order.
    pub projection: Vec<usize>,
    /// Deviations from MEDS that the reader tolerates (for example a `double` numeric_value).
    pub deviations: Vec<String>,
    /// Extra (non-MEDS) columns present in the file.
    pub extra_columns: Vec<String>,
}

/// Checks a shard's schema against MEDS and plans how to read it.
pub(crate) fn shard_layout(path: &Path, file: &File) -> Result<(ShardLayout, ArrowReaderMetadata)> {
    let meta = ArrowReaderMetadata::load(file, ArrowReaderOptions::new()).map_err(|e| MedsError::parquet(path, e))?;
    let schema = meta.schema().clone();
    let find = |name: &'static str| schema.index_of(name).ok();
    let wrong = |column: &str, expected: &str, found: &DataType| MedsError::WrongType {
        path: path.into(),
        column: column.into(),
        expected: expected.into(),
        found: found.to_string(),
    };
    let mut deviations = Vec::new();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();

    let subject =
        find(schema::SUBJECT_ID).ok_or(MedsError::MissingColumn { path: path.into(), column: schema::SUBJECT_ID })?;
    if fields[subject].data_type() != &DataType::Int64 {
        return Err(wrong(schema::SUBJECT_ID, "int64", fields[subject].data_type()));
    }
    let time = find(schema::TIME).ok_or(MedsError::MissingColumn { path: path.into(), column: schema::TIME })?;
    match fields[time].data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, None) => {}
        DataType::Timestamp(unit, tz) => deviations.push(format!(
            "`time` is timestamp[{unit:?}{}], MEDS specifies timestamp[us] (converted on read)",
            tz.as_ref().map(|z| format!(", tz={z}")).unwrap_or_default()
        )),
        other => return Err(wrong(schema::TIME, "timestamp[us]", other)),
    }
    let code = find(schema::CODE).ok_or(MedsError::MissingColumn { path: path.into(), column: schema::CODE })?;
    let code_value_type = match fields[code].data_type() {
        DataType::Utf8 => DataType::Utf8,
        DataType::LargeUtf8 => {
            deviations.push("`code` is large_string, MEDS specifies string".into());
            DataType::LargeUtf8
        }
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => (**v).clone(),
        other => return Err(wrong(schema::CODE, "string", other)),
    };
    fields[code] = Field::new(
        schema::CODE,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(code_value_type)),
        fields[code].is_nullable(),
    );
    let value = find(schema::NUMERIC_VALUE);
    if let Some(v) = value {
        match fields[v].data_type() {
            DataType::Float32 | DataType::Null => {}
            DataType::Float64 => {
                deviations.push("`numeric_value` is double, MEDS specifies float32 (narrowed on read)".into())
            }
            other => return Err(wrong(schema::NUMERIC_VALUE, "float32", other)),
        }
    }
    let text = find(schema::TEXT_VALUE);
    if let Some(t) = text {
        match fields[t].data_type() {
            DataType::LargeUtf8 | DataType::Null => {}
            DataType::Utf8 => deviations.push("`text_value` is string, MEDS specifies large_string".into()),
            other => return Err(wrong(schema::TEXT_VALUE, "large_string", other)),
        }
    }
    let core = [Some(subject), Some(time), Some(code), value, text];
    let extra_columns =
        (0..fields.len()).filter(|i| !core.contains(&Some(*i))).map(|i| fields[i].name().clone()).collect();
    let mut projection: Vec<usize> = core.into_iter().flatten().collect();
    projection.sort_unstable();
    let hint = Arc::new(Schema::new(fields));
    let meta = ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(hint))
        .map_err(|e| MedsError::parquet(path, e))?;
    Ok((ShardLayout { projection, deviations, extra_columns }, meta))
}

/// Maps one parquet dictionary of codes to global ids, remembering the last dictionary seen so that
/// batches sharing a dictionary are mapped once. It holds the dictionary it mapped, so that its
/// memory cannot be freed and reused by a different dictionary while the mapping is cached.
#[derive(Default)]
struct CodeMapper {
    /// The dictionary last mapped, kept alive so its buffer address stays unique while cached.
    last: Option<ArrayRef>,
    /// Its value-buffer address and length: batches of one row group share the buffer even when
    /// they are handed out in different `Arc`s.
    key: Option<(usize, usize)>,
    ids: Vec<CodeId>,
}

impl CodeMapper {
    fn map(&mut self, values: &ArrayRef, codes: &Mutex<CodeTable>) -> &[CodeId] {
        let (ptr, strings): (usize, Vec<&str>) = if let Some(s) = values.as_string_opt::<i32>() {
            (s.values().as_ptr() as usize, s.iter().map(|v| v.unwrap_or_default()).collect())
        } else if let Some(s) = values.as_string_opt::<i64>() {
            (s.values().as_ptr() as usize, s.iter().map(|v| v.unwrap_or_default()).collect())
        } else {
            (0, Vec::new())
        };
        let key = (ptr, strings.len());
        if self.key != Some(key) || self.last.is_none() {
            let mut table = codes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.ids = strings.iter().map(|s| table.intern(s)).collect();
            self.key = Some(key);
            self.last = Some(values.clone());
        }
        &self.ids
    }
}

/// Reads one shard, calling `f` with each subject's timeline in file order.
pub fn read_shard(
    path: &Path,
    codes: &Mutex<CodeTable>,
    mut f: impl FnMut(Timeline) -> Result<()>,
) -> Result<ReadSummary> {
    let file = File::open(path).map_err(|e| MedsError::io(path, e))?;
    let (layout, meta) = shard_layout(path, &file)?;
    let mask = ProjectionMask::roots(meta.parquet_schema(), layout.projection.iter().copied());
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()
        .map_err(|e| MedsError::parquet(path, e))?;

    let mut state = ShardState {
        path,
        current: None,
        seen: HashSet::new(),
        row: 0,
        summary: ReadSummary::default(),
        mapper: CodeMapper::default(),
        times: Vec::new(),
        code_ids: Vec::new(),
        values: Vec::new(),
    };
    for batch in reader {
        let batch = batch.map_err(|e| MedsError::arrow(path, e))?;
        state.consume(&batch, codes, &mut f)?;
    }
    if let Some(t) = state.current.take() {
        state.summary.subjects += 1;
        f(t)?;
    }
    Ok(state.summary)
}

struct ShardState<'p> {
    path: &'p Path,
    current: Option<Timeline>,
    seen: HashSet<i64>,
    row: u64,
    summary: ReadSummary,
    mapper: CodeMapper,
    times: Vec<i64>,
    code_ids: Vec<CodeId>,
    values: Vec<f32>,
}

impl ShardState<'_> {
    fn consume(
        &mut self,
        batch: &RecordBatch,
        codes: &Mutex<CodeTable>,
        f: &mut impl FnMut(Timeline) -> Result<()>,
    ) -> Result<()> {
        let path = self.path;
        let n = batch.num_rows();
        let column = |name: &str| batch.column_by_name(name);
        let subject = column(schema::SUBJECT_ID)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or(MedsError::MissingColumn { path: path.into(), column: schema::SUBJECT_ID })?;
        if subject.null_count() > 0 {
            return Err(MedsError::NullInRequired {
                path: path.into(),
                column: schema::SUBJECT_ID,
                count: subject.null_count(),
            });
        }
        let sids = subject.values();

        // time → microseconds, nulls (static events) → STATIC_TIME.
        let time = column(schema::TIME).ok_or(MedsError::MissingColumn { path: path.into(), column: schema::TIME })?;
        decode_times(time, &mut self.times);

        let code = column(schema::CODE).ok_or(MedsError::MissingColumn { path: path.into(), column: schema::CODE })?;
        let dict = code.as_dictionary_opt::<Int32Type>().ok_or_else(|| MedsError::WrongType {
            path: path.into(),
            column: schema::CODE.into(),
            expected: "string".into(),
            found: code.data_type().to_string(),
        })?;
        if dict.null_count() > 0 {
            return Err(MedsError::NullInRequired {
                path: path.into(),
                column: schema::CODE,
                count: dict.null_count(),
            });
        }
        let ids = self.mapper.map(dict.values(), codes);
        self.code_ids.clear();
        self.code_ids.extend(dict.keys().values().iter().map(|&k| ids.get(k as usize).copied().unwrap_or(CodeId::MAX)));

        decode_values(column(schema::NUMERIC_VALUE), n, &mut self.values);
        let texts = column(schema::TEXT_VALUE).filter(|t| t.null_count() < t.len());

        let mut start = 0;
        while start < n {
            let sid = sids[start];
            let end = start + sids[start..].iter().position(|&x| x != sid).unwrap_or(n - start);
            if self.current.as_ref().is_none_or(|t| t.subject_id != sid) {
                if let Some(done) = self.current.take() {
                    self.summary.subjects += 1;
                    f(done)?;
                }
                if !self.seen.insert(sid) {
                    return Err(MedsError::NotContiguous {
                        path: path.into(),
                        subject_id: sid,
                        row: self.row + start as u64,
                    });
                }
                self.current = Some(Timeline::with_capacity(sid, end - start));
            }
            let Some(t) = self.current.as_mut() else { break };
            let offset = t.len();
            let times = &self.times[start..end];
            let last = t.times.last().copied().unwrap_or(STATIC_TIME);
            if times[0] < last || !times.is_sorted() {
                let bad =
                    if times[0] < last { 0 } else { times.windows(2).position(|w| w[1] < w[0]).map_or(0, |i| i + 1) };
                return Err(MedsError::Unsorted {
                    path: path.into(),
                    subject_id: sid,
                    row: self.row + (start + bad) as u64,
                });
            }
            t.times.extend_from_slice(times);
            t.codes.extend_from_slice(&self.code_ids[start..end]);
            t.numeric_values.extend_from_slice(&self.values[start..end]);
            if let Some(texts) = texts {
                push_texts(t, texts, start, end, offset);
            }
            start = end;
        }
        self.row += n as u64;
        self.summary.events += n as u64;
        Ok(())
    }
}

fn decode_times(time: &ArrayRef, out: &mut Vec<i64>) {
    out.clear();
    let scale = |unit: &TimeUnit| -> (i64, i64) {
        match unit {
            TimeUnit::Second => (1_000_000, 1),
            TimeUnit::Millisecond => (1_000, 1),
            TimeUnit::Microsecond => (1, 1),
            TimeUnit::Nanosecond => (1, 1_000),
        }
    };
    let DataType::Timestamp(unit, _) = time.data_type() else {
        out.resize(time.len(), STATIC_TIME);
        return;
    };
    let (mul, div) = scale(unit);
    // Every timestamp unit is stored as i64, so one reinterpretation covers all four.
    let data = time.to_data();
    let raw = data.buffers().first().map(|b| b.typed_data::<i64>()).unwrap_or(&[]);
    let raw = &raw[data.offset()..data.offset() + data.len()];
    if mul == 1 && div == 1 {
        out.extend_from_slice(raw);
    } else {
        out.extend(raw.iter().map(|&x| x.saturating_mul(mul) / div));
    }
    if let Some(nulls) = time.logical_nulls() {
        for_each_null(&nulls, |i| out[i] = STATIC_TIME);
    }
}

/// Calls `f` with the index of every null, skipping all-valid 64-row words without looking inside.
fn for_each_null(nulls: &arrow_buffer::NullBuffer, mut f: impl FnMut(usize)) {
    if nulls.null_count() == 0 {
        return;
    }
    let chunks = nulls.inner().bit_chunks();
    let mut base = 0;
    for word in chunks.iter() {
        let mut missing = !word;
        while missing != 0 {
            f(base + missing.trailing_zeros() as usize);
            missing &= missing - 1;
        }
        base += 64;
    }
    let rem = chunks.remainder_len();
    let mut missing = !chunks.remainder_bits() & ((1u64 << rem) - 1);
    while missing != 0 {
        f(base + missing.trailing_zeros() as usize);
        missing &= missing - 1;
    }
}

/// Decodes `numeric_value` (float32, float64, all-null or absent) into `out`, `NaN` for nulls.
fn decode_values(values: Option<&ArrayRef>, n: usize, out: &mut Vec<f32>) {
    out.clear();
    match values {
        Some(v) if v.data_type() == &DataType::Float32 => {
            out.extend_from_slice(v.as_primitive::<Float32Type>().values())
        }
        Some(v) if v.data_type() == &DataType::Float64 => {
            out.extend(v.as_primitive::<Float64Type>().values().iter().map(|&x| x as f32))
        }
        _ => {
            out.resize(n, f32::NAN);
            return;
        }
    }
    if let Some(nulls) = values.and_then(|v| v.logical_nulls()) {
        for_each_null(&nulls, |i| out[i] = f32::NAN);
    }
}

fn push_texts(t: &mut Timeline, texts: &ArrayRef, start: usize, end: usize, offset: usize) {
    let valid: Vec<usize> = match texts.nulls() {
        // Most events carry no text: walk only the set bits of the validity bitmap.
        Some(nulls) => nulls.inner().slice(start, end - start).set_indices().map(|i| i + start).collect(),
        None => (start..end).collect(),
    };
    let mut push = |i: usize, s: &str| t.text_values.push(((offset + i - start) as u32, s.to_owned()));
    if let Some(a) = texts.as_string_opt::<i64>() {
        valid.into_iter().for_each(|i| push(i, a.value(i)));
    } else if let Some(a) = texts.as_string_opt::<i32>() {
        valid.into_iter().for_each(|i| push(i, a.value(i)));
    }
}
