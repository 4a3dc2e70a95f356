//! Spilling what the reader produces to disk, partitioned by pseudonym, so that memory stays
//! bounded whatever the input size.
//!
//! Every record of a patient goes to the shard file that holds its pseudonym's range of
//! `subject_id`s, in input order. Reading the shards back in order, and sorting each by
//! `subject_id`, gives every patient in pseudonym order with all of its records together — the
//! order the MEDS dataset is written in — while holding one shard in memory at a time.
//!
//! The files hold source identifiers and raw text (PHI) until de-identification has run: they
//! live in a work directory outside the output, marked as such, and are deleted shard by shard.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use fhir::{Event, IdentifierKind, Identifiers};

const EVENTS: u8 = 0;
const IDENTIFIERS: u8 = 1;

/// Which shard of `shards` a subject id falls in: its place in `[1, 2^63)`, cut into equal ranges,
/// so shard order is pseudonym order.
pub fn shard_of(subject_id: i64, shards: usize) -> usize {
    ((subject_id.max(0) as u128 * shards as u128) >> 63) as usize
}

/// Writes records into `shards` files by the pseudonym of their patient.
pub struct SpillWriter<F> {
    files: Vec<BufWriter<File>>,
    paths: Vec<PathBuf>,
    pseudonym: F,
    /// The shard of each source id met so far (an HMAC per record would cost more).
    cache: HashMap<String, (i64, u32)>,
    /// Input files named by records, by index.
    sources: Vec<PathBuf>,
    source_index: HashMap<PathBuf, u32>,
    records: u64,
}

/// Where a spilled record came from: an index into [`SpillWriter::finish`]'s file list, the
/// position in that file, the resource type, and how many events it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOrigin {
    /// Index of the input file.
    pub file: u32,
    /// Line or entry, 1-based.
    pub position: u64,
    /// Resource type (or the MEDS source label).
    pub resource_type: String,
    /// Events the record gave.
    pub events: u32,
    /// A 64-bit hash of the resource's id, if it had one: duplicates are found by (type, id)
    /// within one patient, where a collision is vanishingly unlikely, and the id itself need not
    /// be held.
    pub id: Option<u64>,
}

impl<F: Fn(&str) -> i64> SpillWriter<F> {
    /// Creates `shards` empty files in `dir`; `pseudonym` maps a source id to its `subject_id`.
    pub fn create(dir: &Path, shards: usize, pseudonym: F) -> std::io::Result<Self> {
        let shards = shards.max(1);
        let mut files = Vec::with_capacity(shards);
        let mut paths = Vec::with_capacity(shards);
        for i in 0..shards {
            let path = dir.join(format!("spill-{i:05}.bin"));
            // Identified data: owner-only, inside an owner-only work directory.
            files.push(BufWriter::with_capacity(256 << 10, outputs::create_private(&path)?));
            paths.push(path);
        }
        Ok(Self {
            files,
            paths,
            pseudonym,
            cache: HashMap::new(),
            sources: Vec::new(),
            source_index: HashMap::new(),
            records: 0,
        })
    }

    fn shard(&mut self, patient: &str) -> usize {
        if let Some(&(_, s)) = self.cache.get(patient) {
            return s as usize;
        }
        let id = (self.pseudonym)(patient);
        let s = shard_of(id, self.files.len());
        self.cache.insert(patient.to_owned(), (id, s as u32));
        s
    }

    /// Appends one resource's events for `patient`, read at `position` of `file`; `id` is the
    /// resource's id, if it has one.
    pub fn events(
        &mut self,
        patient: &str,
        events: &[Event],
        file: &Path,
        position: u64,
        resource_type: &str,
        id: Option<&str>,
    ) -> std::io::Result<()> {
        let s = self.shard(patient);
        let index = match self.source_index.get(file) {
            Some(&i) => i,
            None => {
                let i = self.sources.len() as u32;
                self.sources.push(file.to_path_buf());
                self.source_index.insert(file.to_path_buf(), i);
                i
            }
        };
        let w = &mut self.files[s];
        w.write_all(&[EVENTS])?;
        put_str(w, patient)?;
        w.write_all(&index.to_le_bytes())?;
        w.write_all(&position.to_le_bytes())?;
        put_str(w, resource_type)?;
        match id.map(id_hash) {
            Some(h) => {
                w.write_all(&[1])?;
                w.write_all(&h.to_le_bytes())?;
            }
            None => w.write_all(&[0])?,
        }
        put_u32(w, events.len())?;
        for e in events {
            w.write_all(&e.time.unwrap_or(i64::MIN).to_le_bytes())?;
            put_str(w, &e.code)?;
            match e.numeric_value {
                Some(v) => {
                    w.write_all(&[1])?;
                    w.write_all(&v.to_le_bytes())?;
                }
                None => w.write_all(&[0])?,
            }
            put_opt_str(w, e.text_value.as_deref())?;
        }
        self.records += 1;
        Ok(())
    }

    /// Appends a patient's direct identifiers.
    pub fn identifiers(&mut self, patient: &str, identifiers: &Identifiers) -> std::io::Result<()> {
        let s = self.shard(patient);
        let w = &mut self.files[s];
        w.write_all(&[IDENTIFIERS])?;
        put_str(w, patient)?;
        put_opt_str(w, identifiers.zip.as_deref())?;
        put_u32(w, identifiers.values.len())?;
        for (kind, value) in &identifiers.values {
            w.write_all(&[kind_byte(*kind)])?;
            put_str(w, value)?;
        }
        put_u32(w, identifiers.systems.len())?;
        for (system, value) in &identifiers.systems {
            put_str(w, system)?;
            put_str(w, value)?;
        }
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and closes every shard file; returns their paths in pseudonym order, and the input
    /// files that [`RecordOrigin::file`] indexes.
    pub fn finish(self) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
        for w in self.files {
            w.into_inner().map_err(|e| e.into_error())?;
        }
        Ok((self.paths, self.sources))
    }
}

/// One source patient gathered from a shard: all its events in input order, and its identifiers.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Events in input order.
    pub events: Vec<Event>,
    /// Direct identifiers, if a Patient resource (or a MEDS subject) was read.
    pub identifiers: Option<Identifiers>,
    /// Where each of its event records came from, in input order.
    pub origins: Vec<RecordOrigin>,
}

/// Reads one shard file back, patient by patient (source id → records).
pub fn read_shard(path: &Path) -> std::io::Result<HashMap<String, Gathered>> {
    let mut r = BufReader::with_capacity(256 << 10, File::open(path)?);
    let mut out: HashMap<String, Gathered> = HashMap::new();
    loop {
        let mut tag = [0u8];
        if r.read(&mut tag)? == 0 {
            break;
        }
        let patient = get_str(&mut r)?;
        let g = out.entry(patient).or_default();
        match tag[0] {
            EVENTS => {
                let file = u32::from_le_bytes(get::<4>(&mut r)?);
                let position = u64::from_le_bytes(get::<8>(&mut r)?);
                let resource_type = get_str(&mut r)?;
                let id = match get::<1>(&mut r)?[0] {
                    0 => None,
                    _ => Some(u64::from_le_bytes(get::<8>(&mut r)?)),
                };
                let n = get_u32(&mut r)?;
                g.origins.push(RecordOrigin { file, position, resource_type, events: n as u32, id });
                g.events.reserve(n);
                for _ in 0..n {
                    let time = i64::from_le_bytes(get::<8>(&mut r)?);
                    let code = get_str(&mut r)?;
                    let numeric_value = match get::<1>(&mut r)?[0] {
                        0 => None,
                        _ => Some(f32::from_le_bytes(get::<4>(&mut r)?)),
                    };
                    let text_value = get_opt_str(&mut r)?;
                    g.events.push(Event { time: (time != i64::MIN).then_some(time), code, numeric_value, text_value });
                }
            }
            IDENTIFIERS => {
                let zip = get_opt_str(&mut r)?;
                let n = get_u32(&mut r)?;
                let mut ids = Identifiers { values: Vec::with_capacity(n), zip, systems: Vec::new() };
                for _ in 0..n {
                    let kind = byte_kind(get::<1>(&mut r)?[0])?;
                    ids.values.push((kind, get_str(&mut r)?));
                }
                for _ in 0..get_u32(&mut r)? {
                    let system = get_str(&mut r)?;
                    ids.systems.push((system, get_str(&mut r)?));
                }
                g.identifiers.get_or_insert_with(Identifiers::default).merge(ids);
            }
            _ => return Err(corrupt()),
        }
    }
    Ok(out)
}

/// The hash a resource id is held as.
pub fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

fn corrupt() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt spill file")
}

fn kind_byte(kind: IdentifierKind) -> u8 {
    match kind {
        IdentifierKind::Name => 0,
        IdentifierKind::Phone => 1,
        IdentifierKind::Email => 2,
        IdentifierKind::Id => 3,
        IdentifierKind::Address => 4,
        IdentifierKind::City => 5,
        IdentifierKind::Zip => 6,
    }
}

fn byte_kind(b: u8) -> std::io::Result<IdentifierKind> {
    Ok(match b {
        0 => IdentifierKind::Name,
        1 => IdentifierKind::Phone,
        2 => IdentifierKind::Email,
        3 => IdentifierKind::Id,
        4 => IdentifierKind::Address,
        5 => IdentifierKind::City,
        6 => IdentifierKind::Zip,
        _ => return Err(corrupt()),
    })
}

fn put_u32(w: &mut impl Write, n: usize) -> std::io::Result<()> {
    let n = u32::try_from(n).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "record too large"))?;
    w.write_all(&n.to_le_bytes())
}

fn put_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    put_u32(w, s.len())?;
    w.write_all(s.as_bytes())
}

fn put_opt_str(w: &mut impl Write, s: Option<&str>) -> std::io::Result<()> {
    match s {
        Some(s) => {
            w.write_all(&[1])?;
            put_str(w, s)
        }
        None => w.write_all(&[0]),
    }
}

fn get<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn get_u32(r: &mut impl Read) -> std::io::Result<usize> {
    Ok(u32::from_le_bytes(get::<4>(r)?) as usize)
}

fn get_str(r: &mut impl Read) -> std::io::Result<String> {
    let n = get_u32(r)?;
    let mut b = vec![0u8; n];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map_err(|_| corrupt())
}

fn get_opt_str(r: &mut impl Read) -> std::io::Result<Option<String>> {
    Ok(match get::<1>(r)?[0] {
        0 => None,
        _ => Some(get_str(r)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cut_the_pseudonym_range_in_order() {
        assert_eq!(shard_of(1, 8), 0);
        assert_eq!(shard_of(i64::MAX, 8), 7);
        assert_eq!(shard_of(i64::MAX / 2, 2), 0);
        assert_eq!(shard_of(i64::MAX / 2 + 2, 2), 1);
        assert_eq!(shard_of(12345, 1), 0);
    }

    #[test]
    fn records_come_back_per_patient_in_input_order() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut w = SpillWriter::create(dir.path(), 3, |p: &str| if p == "a" { 5 } else { i64::MAX - 5 })?;
        let ev = |t: Option<i64>, c: &str, v: Option<f32>, x: Option<&str>| Event {
            time: t,
            code: c.into(),
            numeric_value: v,
            text_value: x.map(str::to_owned),
        };
        let first = vec![ev(None, "GENDER/F", None, None), ev(Some(-5), "LOINC/1", Some(1.5), None)];
        let second = vec![ev(Some(7), "NOTE", None, Some("Zoë née Ångström, 東京"))];
        let (f1, f2) = (Path::new("Observation.ndjson"), Path::new("Patient.ndjson"));
        w.events("a", &first, f1, 3, "Observation", Some("o1"))?;
        w.events("b", &second, f2, 1, "DocumentReference", None)?;
        w.events("a", &second, f1, 9, "DocumentReference", Some("d9"))?;
        let ids = Identifiers {
            values: vec![(IdentifierKind::Name, "Zoë".into())],
            zip: Some("55901".into()),
            systems: vec![("urn:mrn".into(), "M-1".into())],
        };
        w.identifiers("a", &ids)?;
        assert_eq!(w.records(), 4);
        let (paths, sources) = w.finish()?;
        assert_eq!(sources, vec![f1.to_path_buf(), f2.to_path_buf()]);
        let a = read_shard(&paths[0])?;
        assert_eq!(a.len(), 1);
        let got = &a["a"];
        assert_eq!(got.events, [first, second.clone()].concat());
        assert_eq!(got.identifiers.as_ref(), Some(&ids));
        let origins: Vec<(u32, u64, &str, u32, Option<u64>)> =
            got.origins.iter().map(|o| (o.file, o.position, o.resource_type.as_str(), o.events, o.id)).collect();
        let (o1, d9) = (Some(id_hash("o1")), Some(id_hash("d9")));
        assert_eq!(origins, vec![(0, 3, "Observation", 2, o1), (0, 9, "DocumentReference", 1, d9)]);
        assert!(read_shard(&paths[1])?.is_empty());
        assert_eq!(read_shard(&paths[2])?["b"].events, second);
        std::fs::write(&paths[1], [9u8, 1, 0])?;
        assert!(read_shard(&paths[1]).is_err(), "a corrupt spill is an error, not a silent drop");
        Ok(())
    }
}
