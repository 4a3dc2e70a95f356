//! A random-access timeline store beside a MEDS dataset.
//!
//! Parquet is the contract, but decoding a row group to find one subject costs milliseconds; model
//! training needs any subject's timeline in microseconds. Like `meds_reader`, we keep a derived
//! binary store beside the dataset (by default `ROOT/.longitude-index/timelines.lts`), built from the
//! parquet shards, never edited by hand, and rebuilt when the shards change (a fingerprint of their
//! paths, sizes and modification times is checked on open).
//!
//! Layout (little-endian), one block per subject, then the codes, then the index, then a trailer:
//!
//! ```text
//! block    n_events u32 | n_text u32 | times i64×n | codes u32×n | values f32×n
//!          | (event u32, len u32)×n_text | text bytes
//! codes    n u32 | (len u32, utf-8 bytes)×n
//! index    (subject_id i64, offset u64, bytes u32, events u32)×n_subjects, sorted by subject_id
//! trailer  codes_offset u64 | index_offset u64 | n_subjects u64 | n_events u64 | fingerprint u64
//!          | version u32 | magic "LGTLSTOR"
//! ```
//!
//! A lookup is a binary search in the in-memory index, one positioned read and a copy into the
//! caller's [`Timeline`]; the warm path allocates nothing.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::atomic::write_atomic;
use crate::codes::CodeTable;
use crate::error::{MedsError, Result};
use crate::reader::{Dataset, read_shard};
use crate::timeline::Timeline;

const MAGIC: &[u8; 8] = b"LGTLSTOR";
const VERSION: u32 = 1;
const TRAILER_LEN: u64 = 8 * 5 + 4 + 8;
const INDEX_ENTRY_LEN: usize = 24;

/// A shard's encoded blocks and its `(subject_id, block bytes, events)` entries, in file order.
type EncodedShard = (Vec<u8>, Vec<(i64, u32, u32)>);

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    subject_id: i64,
    offset: u64,
    bytes: u32,
    events: u32,
}

/// Counts from building a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSummary {
    /// Subjects indexed.
    pub subjects: u64,
    /// Events stored.
    pub events: u64,
    /// Size of the store file in bytes.
    pub bytes: u64,
}

/// An open timeline store. See the module documentation.
#[derive(Debug)]
pub struct TimelineStore {
    path: PathBuf,
    file: File,
    codes: CodeTable,
    index: Vec<IndexEntry>,
    events: u64,
}

/// A stable 64-bit FNV-1a hash (std's hasher may change between Rust releases).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A fingerprint of the dataset's shards: their paths, sizes and modification times.
fn fingerprint(dataset: &Dataset) -> Result<u64> {
    let mut h = fnv1a(0xcbf2_9ce4_8422_2325, &VERSION.to_le_bytes());
    for shard in dataset.shards() {
        let meta = std::fs::metadata(&shard.path).map_err(|e| MedsError::io(&shard.path, e))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        h = fnv1a(h, shard.relative.to_string_lossy().as_bytes());
        h = fnv1a(h, &meta.len().to_le_bytes());
        h = fnv1a(h, &modified.to_le_bytes());
    }
    Ok(h)
}

fn encode_block(t: &Timeline, out: &mut Vec<u8>) {
    let n = t.len();
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(t.text_values.len() as u32).to_le_bytes());
    out.reserve(n * 16);
    for x in &t.times {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for x in &t.codes {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for x in &t.numeric_values {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for (i, s) in &t.text_values {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for (_, s) in &t.text_values {
        out.extend_from_slice(s.as_bytes());
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes a block into `out` (reusing its allocations). `None` if the block is malformed.
fn decode_block(subject_id: i64, b: &[u8], out: &mut Timeline) -> Option<()> {
    let n = u32_at(b, 0)? as usize;
    let n_text = u32_at(b, 4)? as usize;
    let mut at = 8;
    let times = b.get(at..at + 8 * n)?;
    at += 8 * n;
    let codes = b.get(at..at + 4 * n)?;
    at += 4 * n;
    let values = b.get(at..at + 4 * n)?;
    at += 4 * n;
    out.subject_id = subject_id;
    out.times.clear();
    out.times
        .extend(times.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])));
    out.codes.clear();
    out.codes.extend(codes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    out.numeric_values.clear();
    out.numeric_values.extend(values.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    out.text_values.clear();
    let mut text_at = at + 8 * n_text;
    for k in 0..n_text {
        let idx = u32_at(b, at + 8 * k)?;
        let len = u32_at(b, at + 8 * k + 4)? as usize;
        let s = std::str::from_utf8(b.get(text_at..text_at + len)?).ok()?;
        out.text_values.push((idx, s.to_owned()));
        text_at += len;
    }
    Some(())
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

impl TimelineStore {
    /// Where the store of the dataset at `root` lives unless told otherwise.
    pub fn default_path(root: &Path) -> PathBuf {
        root.join(".longitude-index").join("timelines.lts")
    }

    /// Where the store of the dataset at `root` goes when no path is given: beside the dataset
    /// ([`TimelineStore::default_path`]) when that directory can be written, otherwise (a
    /// read-only dataset, shared storage) in the user's cache, keyed by the dataset's path.
    pub fn path_for(root: &Path) -> PathBuf {
        let beside = Self::default_path(root);
        if beside.parent().is_some_and(writable) {
            return beside;
        }
        let absolute = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        // FNV-1a of the path: stable across runs and builds, unlike the standard hasher.
        let key = absolute
            .to_string_lossy()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("longitude").join("stores").join(format!("{key:016x}.lts"))
    }

    /// Builds the store for `dataset` at `path` (atomically), reading shards in parallel in groups
    /// of the rayon pool's size so that memory stays bounded.
    pub fn build(dataset: &Dataset, path: &Path) -> Result<StoreSummary> {
        let fingerprint = fingerprint(dataset)?;
        let codes = Mutex::new(CodeTable::new());
        let group = rayon::current_num_threads().max(1);
        let bytes = write_atomic(path, |w| {
            let mut index: Vec<(IndexEntry, u32)> = Vec::new();
            let mut offset = 0u64;
            let mut events = 0u64;
            for (g, shards) in dataset.shards().chunks(group).enumerate() {
                let encoded: Vec<EncodedShard> = shards
                    .par_iter()
                    .map(|shard| {
                        let mut buf = Vec::new();
                        let mut entries = Vec::new();
                        read_shard(&shard.path, &codes, |t| {
                            let start = buf.len();
                            encode_block(&t, &mut buf);
                            entries.push((t.subject_id, (buf.len() - start) as u32, t.len() as u32));
                            Ok(())
                        })?;
                        Ok((buf, entries))
                    })
                    .collect::<Result<_>>()?;
                for (k, (buf, entries)) in encoded.into_iter().enumerate() {
                    let shard_index = (g * group + k) as u32;
                    for (subject_id, bytes, n) in entries {
                        index.push((IndexEntry { subject_id, offset, bytes, events: n }, shard_index));
                        offset += u64::from(bytes);
                        events += u64::from(n);
                    }
                    w.write_all(&buf).map_err(|e| MedsError::io(path, e))?;
                }
            }
            index.sort_unstable_by_key(|(e, _)| e.subject_id);
            if let Some(w) = index.windows(2).find(|w| w[0].0.subject_id == w[1].0.subject_id) {
                return Err(MedsError::SubjectInManyShards {
                    subject_id: w[0].0.subject_id,
                    first: dataset.shards()[w[0].1 as usize].relative.clone(),
                    second: dataset.shards()[w[1].1 as usize].relative.clone(),
                });
            }

            let codes = codes.lock().unwrap_or_else(|p| p.into_inner());
            let mut tail = Vec::new();
            let codes_offset = offset;
            tail.extend_from_slice(&(codes.len() as u32).to_le_bytes());
            for name in codes.names() {
                tail.extend_from_slice(&(name.len() as u32).to_le_bytes());
                tail.extend_from_slice(name.as_bytes());
            }
            let index_offset = codes_offset + tail.len() as u64;
            for (e, _) in &index {
                tail.extend_from_slice(&e.subject_id.to_le_bytes());
                tail.extend_from_slice(&e.offset.to_le_bytes());
                tail.extend_from_slice(&e.bytes.to_le_bytes());
                tail.extend_from_slice(&e.events.to_le_bytes());
            }
            for x in [codes_offset, index_offset, index.len() as u64, events, fingerprint] {
                tail.extend_from_slice(&x.to_le_bytes());
            }
            tail.extend_from_slice(&VERSION.to_le_bytes());
            tail.extend_from_slice(MAGIC);
            w.write_all(&tail).map_err(|e| MedsError::io(path, e))?;
            Ok(StoreSummary { subjects: index.len() as u64, events, bytes: offset + tail.len() as u64 })
        })?;
        Ok(bytes)
    }

    /// Opens the store at `path`, failing with [`MedsError::Store`] if it is missing, corrupt, or
    /// was built from different shards than `dataset` has now.
    pub fn open(dataset: &Dataset, path: &Path) -> Result<Self> {
        let corrupt = |message: &str| MedsError::Store { path: path.into(), message: message.into() };
        let file = File::open(path).map_err(|e| MedsError::Store {
            path: path.into(),
            message: if e.kind() == std::io::ErrorKind::NotFound { "not built yet".into() } else { e.to_string() },
        })?;
        let len = file.metadata().map_err(|e| MedsError::io(path, e))?.len();
        if len < TRAILER_LEN {
            return Err(corrupt("file too short"));
        }
        let mut trailer = vec![0u8; TRAILER_LEN as usize];
        read_at(&file, &mut trailer, len - TRAILER_LEN).map_err(|e| MedsError::io(path, e))?;
        if &trailer[44..52] != MAGIC || u32_at(&trailer, 40) != Some(VERSION) {
            return Err(corrupt("not a Longitude timeline store of this version"));
        }
        let field = |i: usize| u64_at(&trailer, 8 * i).unwrap_or(u64::MAX);
        let (codes_offset, index_offset, n_subjects, events, stored_fingerprint) =
            (field(0), field(1), field(2), field(3), field(4));
        if stored_fingerprint != fingerprint(dataset)? {
            return Err(corrupt("stale: the dataset's shards changed since it was built (rebuild it)"));
        }
        let index_len = n_subjects.checked_mul(INDEX_ENTRY_LEN as u64).ok_or_else(|| corrupt("bad index size"))?;
        if codes_offset > index_offset || index_offset.checked_add(index_len) != Some(len - TRAILER_LEN) {
            return Err(corrupt("section offsets do not add up"));
        }
        let mut tail = vec![0u8; (len - TRAILER_LEN - codes_offset) as usize];
        read_at(&file, &mut tail, codes_offset).map_err(|e| MedsError::io(path, e))?;
        let mut codes = CodeTable::new();
        let n_codes = u32_at(&tail, 0).ok_or_else(|| corrupt("truncated codes"))?;
        let mut at = 4;
        for _ in 0..n_codes {
            let l = u32_at(&tail, at).ok_or_else(|| corrupt("truncated codes"))? as usize;
            let name = tail.get(at + 4..at + 4 + l).and_then(|b| std::str::from_utf8(b).ok());
            codes.intern(name.ok_or_else(|| corrupt("bad code name"))?);
            at += 4 + l;
        }
        let index_bytes = tail.get((index_offset - codes_offset) as usize..).ok_or_else(|| corrupt("bad index"))?;
        let index: Vec<IndexEntry> = index_bytes
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(|c| IndexEntry {
                subject_id: u64_at(c, 0).unwrap_or_default() as i64,
                offset: u64_at(c, 8).unwrap_or_default(),
                bytes: u32_at(c, 16).unwrap_or_default(),
                events: u32_at(c, 20).unwrap_or_default(),
            })
            .collect();
        if index.iter().any(|e| e.offset + u64::from(e.bytes) > codes_offset) {
            return Err(corrupt("index points outside the blocks"));
        }
        Ok(Self { path: path.into(), file, codes, index, events })
    }

    /// Opens the store at `path`, (re)building it first if it is missing or stale.
    pub fn open_or_build(dataset: &Dataset, path: &Path) -> Result<Self> {
        match Self::open(dataset, path) {
            Ok(store) => Ok(store),
            Err(MedsError::Store { message, .. }) => {
                tracing::info!(reason = %message, "building timeline store");
                Self::build(dataset, path)?;
                Self::open(dataset, path)
            }
            Err(e) => Err(e),
        }
    }

    /// The code table the stored timelines refer to.
    pub fn codes(&self) -> &CodeTable {
        &self.codes
    }

    /// The number of subjects.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the store has no subjects.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The number of events.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// All subject ids, in increasing order.
    pub fn subject_ids(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.index.iter().map(|e| e.subject_id)
    }

    /// The number of events of `subject_id`, if present.
    pub fn subject_len(&self, subject_id: i64) -> Option<usize> {
        self.find(subject_id).map(|e| e.events as usize)
    }

    fn find(&self, subject_id: i64) -> Option<&IndexEntry> {
        self.index.binary_search_by_key(&subject_id, |e| e.subject_id).ok().map(|i| &self.index[i])
    }

    /// Loads `subject_id`'s timeline into `out`, reusing `buf` and `out`'s allocations. Returns
    /// `false` if the subject is not in the dataset.
    pub fn load_into(&self, subject_id: i64, buf: &mut Vec<u8>, out: &mut Timeline) -> Result<bool> {
        let Some(entry) = self.find(subject_id) else { return Ok(false) };
        buf.resize(entry.bytes as usize, 0);
        read_at(&self.file, buf, entry.offset).map_err(|e| MedsError::io(&self.path, e))?;
        decode_block(subject_id, buf, out).ok_or_else(|| MedsError::Store {
            path: self.path.clone(),
            message: format!("block of subject {subject_id} is corrupt"),
        })?;
        Ok(true)
    }

    /// `subject_id`'s timeline, or `None` if the subject is not in the dataset.
    pub fn get(&self, subject_id: i64) -> Result<Option<Timeline>> {
        let mut out = Timeline::default();
        Ok(self.load_into(subject_id, &mut Vec::new(), &mut out)?.then_some(out))
    }
}

/// Whether a file can be created in `dir` (made first if missing).
fn writable(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let created = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    created
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn the_store_goes_beside_a_writable_dataset_and_to_the_cache_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(TimelineStore::path_for(dir.path()), TimelineStore::default_path(dir.path()));
        // A directory that cannot hold the store (here: a path through a regular file, which
        // fails even for root, unlike permission bits).
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let fallback = TimelineStore::path_for(&file.join("dataset"));
        assert!(fallback.to_string_lossy().contains("longitude/stores/"), "{}", fallback.display());
        assert_eq!(fallback, TimelineStore::path_for(&file.join("dataset")), "stable for the same dataset");
        let index = TimelineStore::default_path(dir.path()).parent().map(Path::to_path_buf).expect("parent");
        assert_eq!(std::fs::read_dir(index).expect("list").count(), 0, "no probe file is left behind");
    }
}
