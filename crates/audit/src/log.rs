//! The log as kept in the database ([`store`]): appending a record, signing checkpoints,
//! checking the whole log, and the proofs a partner checks offline.
//!
//! Every append is one transaction that first locks the single head row, so writers in several
//! threads, processes or server replicas on one database are serialised by the database itself
//! and extend one chain: no fork, no gap. The head keeps the tree's right edge
//! ([`Frontier`]), so an append costs `O(log n)` hashes whatever the log's length. A record is
//! on disk when [`AuditLog::append`] returns: a caller releases its response only after that,
//! so a writer killed mid-append loses nothing it released — the transaction either committed
//! or left no trace.

use std::time::Duration;

use signing::{SignerKey, VerifierKey};
use sqlx::Row;
use store::{Database, sqlx};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::entry::Entry;
use crate::merkle::{self, Hash};
use crate::verify::{Frontier, StoredRecord, Tampering, Verified, Verifier};

/// Why the log could not be written, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The database failed.
    #[error("the audit log's database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value is not what the log writes (a hash that is not hex, a head whose right
    /// edge does not fit its size): the database was changed outside the log.
    #[error("the audit log's {what} is corrupt: the database was changed outside the log")]
    Corrupt {
        /// What.
        what: &'static str,
    },
    /// A record could not be encoded.
    #[error("the audit record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// A checkpoint could not be signed or opened.
    #[error("checkpoint of size {size}: {source}")]
    Checkpoint {
        /// Its size.
        size: u64,
        /// Why.
        source: CheckpointError,
    },
    /// The records do not match what was appended and signed.
    #[error(transparent)]
    Tampered(#[from] Tampering),
    /// The head row disagrees with the records (e.g. records removed from the tail).
    #[error(
        "the log's head says {head} records but {records} are stored: records were removed or added outside the log"
    )]
    HeadMismatch {
        /// Records found.
        records: u64,
        /// The head's size.
        head: u64,
    },
    /// A proof was asked for something the log does not have.
    #[error("{0}")]
    NoSuch(String),
}

/// What the caller of [`AuditLog::append`] gives back with its response: where the record sits
/// in the log and its leaf hash, enough to ask for an inclusion proof later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The record's position, from 0.
    pub index: u64,
    /// Its RFC 6962 leaf hash, hex.
    pub leaf: String,
}

/// A stored checkpoint: the signed note and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// Records covered.
    pub size: u64,
    /// The C2SP signed note.
    pub note: String,
}

/// The audit log of one operator in one database.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Database,
    origin: String,
    auto: Option<(SignerKey, u64)>,
}

/// Records read per query when the whole log is walked.
const PAGE: i64 = 5_000;

impl AuditLog {
    /// The log named `origin` (the first line of its checkpoints, e.g.
    /// `audit.hospital.example/longitude`) kept in `db`.
    pub fn new(db: Database, origin: impl Into<String>) -> AuditLog {
        AuditLog { db, origin: origin.into(), auto: None }
    }

    /// Signs a checkpoint with `key` in the same transaction as every append that brings the
    /// size to a multiple of `every`.
    pub fn checkpoint_every(mut self, key: SignerKey, every: u64) -> AuditLog {
        self.auto = Some((key, every.max(1)));
        self
    }

    /// The log's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Appends `entry` and returns its receipt once the record is committed.
    pub async fn append(&self, entry: &Entry) -> Result<Receipt, LogError> {
        let body = entry.canonical()?;
        let mut attempt = 0;
        loop {
            match self.try_append(&body).await {
                Err(LogError::Database(e)) if store::is_transient(&e) && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(2 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_append(&self, body: &str) -> Result<Receipt, LogError> {
        let mut tx = self.db.pool().begin().await?;
        let receipt = self.append_body(&mut tx, body).await?;
        tx.commit().await?;
        Ok(receipt)
    }

    /// Appends `entry` inside the caller's transaction `tx`, so that the record commits with the
    /// change it records (a registry transition) or not at all. The receipt holds only once `tx`
    /// commits. Takes the log's lock: do it after the caller's own writes, as the last step.
    pub async fn append_within(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        entry: &Entry,
    ) -> Result<Receipt, LogError> {
        self.append_body(tx, &entry.canonical()?).await
    }

    async fn append_body(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, body: &str) -> Result<Receipt, LogError> {
        // Lock the head before reading it: writers queue here, in the database.
        sqlx::query("UPDATE audit_head SET size = size WHERE id = 1").execute(&mut **tx).await?;
        let mut frontier = read_head(tx).await?;
        let record = crate::verify::append(&mut frontier, body.as_bytes().to_vec());
        let index = as_i64(record.index)?;
        sqlx::query("INSERT INTO audit_records (idx, body, leaf, root) VALUES ($1, $2, $3, $4)")
            .bind(index)
            .bind(body)
            .bind(hex(&record.leaf))
            .bind(hex(&record.root))
            .execute(&mut **tx)
            .await?;
        let peaks: String = frontier.peaks().map(hex).collect();
        sqlx::query("UPDATE audit_head SET size = $1, peaks = $2 WHERE id = 1")
            .bind(as_i64(frontier.size())?)
            .bind(peaks)
            .execute(&mut **tx)
            .await?;
        if let Some((key, every)) = &self.auto
            && frontier.size().is_multiple_of(*every)
        {
            self.insert_checkpoint(tx, &frontier, key).await?;
        }
        Ok(Receipt { index: record.index, leaf: hex(&record.leaf) })
    }

    /// Signs a checkpoint of the log as it stands with `key`, unless one of that size exists;
    /// returns the checkpoint of the current size.
    ///
    /// It never signs a tree inconsistent with an earlier checkpoint: the root stored with the
    /// record at the last checkpoint's size must still be that checkpoint's root, and the head
    /// must still extend it (`audit verify` checks every record).
    pub async fn checkpoint(&self, key: &SignerKey) -> Result<SignedCheckpoint, LogError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE audit_head SET size = size WHERE id = 1").execute(&mut *tx).await?;
        let frontier = read_head(&mut tx).await?;
        let existing = sqlx::query("SELECT note FROM audit_checkpoints WHERE size = $1")
            .bind(as_i64(frontier.size())?)
            .fetch_optional(&mut *tx)
            .await?;
        let signed = match existing {
            Some(row) => SignedCheckpoint { size: frontier.size(), note: row.try_get("note")? },
            None => self.insert_checkpoint(&mut tx, &frontier, key).await?,
        };
        tx.commit().await?;
        Ok(signed)
    }

    async fn insert_checkpoint(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        frontier: &Frontier,
        key: &SignerKey,
    ) -> Result<SignedCheckpoint, LogError> {
        let size = frontier.size();
        let last = sqlx::query("SELECT size, root FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(last) = last {
            let last_size: i64 = last.try_get("size")?;
            let last_root = unhex(&last.try_get::<String, _>("root")?)?;
            let stored = match last_size {
                0 => Some(merkle::empty_root()),
                n => sqlx::query("SELECT root FROM audit_records WHERE idx = $1")
                    .bind(n - 1)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get::<String, _>("root"))
                    .transpose()?
                    .map(|h| unhex(&h))
                    .transpose()?,
            };
            if stored != Some(last_root) || (last_size as u64) > size {
                return Err(Tampering::CheckpointMismatch { size: last_size as u64 }.into());
            }
        }
        let checkpoint = Checkpoint { origin: self.origin.clone(), size, root: frontier.root() };
        let note = checkpoint.sign(key).map_err(|source| LogError::Checkpoint { size, source })?;
        sqlx::query("INSERT INTO audit_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)")
            .bind(as_i64(size)?)
            .bind(hex(&checkpoint.root))
            .bind(&note)
            .bind(crate::entry::now())
            .execute(&mut **tx)
            .await?;
        Ok(SignedCheckpoint { size, note })
    }

    /// Records in the log, by its head.
    pub async fn size(&self) -> Result<u64, LogError> {
        let row = sqlx::query("SELECT size FROM audit_head WHERE id = 1").fetch_one(self.db.pool()).await?;
        as_u64(row.try_get("size")?)
    }

    /// Every stored checkpoint, smallest first.
    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, LogError> {
        let rows =
            sqlx::query("SELECT size, note FROM audit_checkpoints ORDER BY size").fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|r| Ok(SignedCheckpoint { size: as_u64(r.try_get("size")?)?, note: r.try_get("note")? }))
            .collect()
    }

    /// The record at `index`, as stored (`None` when the log has none there).
    pub async fn record(&self, index: u64) -> Result<Option<StoredRecord>, LogError> {
        let Ok(idx) = i64::try_from(index) else { return Ok(None) };
        let row = sqlx::query("SELECT idx, body, leaf, root FROM audit_records WHERE idx = $1")
            .bind(idx)
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| {
            Ok(StoredRecord {
                index,
                bytes: row.try_get::<String, _>("body")?.into_bytes(),
                leaf: unhex(&row.try_get::<String, _>("leaf")?)?,
                root: unhex(&row.try_get::<String, _>("root")?)?,
            })
        })
        .transpose()
    }

    /// Walks every record in position order, `PAGE` at a time, calling `each` on it.
    pub async fn walk<F>(&self, mut each: F) -> Result<(), LogError>
    where
        F: FnMut(StoredRecord) -> Result<(), LogError>,
    {
        // From the smallest possible position: a row planted at a negative one is seen too.
        let mut after = i64::MIN;
        loop {
            let rows =
                sqlx::query("SELECT idx, body, leaf, root FROM audit_records WHERE idx > $1 ORDER BY idx LIMIT $2")
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(self.db.pool())
                    .await?;
            for row in &rows {
                let idx: i64 = row.try_get("idx")?;
                after = idx;
                let record = StoredRecord {
                    index: u64::try_from(idx).unwrap_or(u64::MAX),
                    bytes: row.try_get::<String, _>("body")?.into_bytes(),
                    leaf: unhex(&row.try_get::<String, _>("leaf")?)?,
                    root: unhex(&row.try_get::<String, _>("root")?)?,
                };
                each(record)?;
            }
            if (rows.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    /// Checks every record against every stored checkpoint and every `witnessed` one (signed
    /// notes kept outside the operator's control), all of which must be signed by one of
    /// `trusted`; then the head against the records. See [`crate::verify`].
    pub async fn verify(&self, trusted: &[VerifierKey], witnessed: &[String]) -> Result<Verified, LogError> {
        let stored = self.checkpoints().await?;
        let mut opened = Vec::new();
        for note in stored.iter().map(|c| c.note.as_str()).chain(witnessed.iter().map(String::as_str)) {
            let size = note.lines().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            opened.push(
                Checkpoint::open(note, trusted, &self.origin)
                    .map_err(|source| LogError::Checkpoint { size, source })?,
            );
        }
        let mut verifier = Verifier::new(&opened)?;
        self.walk(|record| Ok(verifier.push(&record)?)).await?;
        let records = verifier.frontier().size();
        let head_root = verifier.frontier().root();
        let verified = verifier.finish()?;
        let mut tx = self.db.pool().begin().await?;
        let head = read_head(&mut tx).await?;
        tx.commit().await?;
        if head.size() != records || head.root() != head_root {
            return Err(LogError::HeadMismatch { records, head: head.size() });
        }
        Ok(verified)
    }

    /// The leaf hashes of records `0..size`.
    async fn leaves(&self, size: u64) -> Result<Vec<Hash>, LogError> {
        let rows = sqlx::query("SELECT idx, leaf FROM audit_records WHERE idx >= 0 AND idx < $1 ORDER BY idx")
            .bind(as_i64(size)?)
            .fetch_all(self.db.pool())
            .await?;
        let leaves: Vec<Hash> =
            rows.iter().map(|r| unhex(&r.try_get::<String, _>("leaf")?)).collect::<Result<_, LogError>>()?;
        if leaves.len() as u64 != size {
            return Err(LogError::HeadMismatch { records: leaves.len() as u64, head: size });
        }
        Ok(leaves)
    }

    /// The checkpoint of `size`, or the latest one.
    async fn signed(&self, size: Option<u64>) -> Result<SignedCheckpoint, LogError> {
        let all = self.checkpoints().await?;
        let found = match size {
            Some(size) => all.into_iter().find(|c| c.size == size),
            None => all.into_iter().next_back(),
        };
        found.ok_or_else(|| match size {
            Some(size) => LogError::NoSuch(format!("no checkpoint of size {size} was signed")),
            None => LogError::NoSuch("no checkpoint has been signed yet: run `longitude audit checkpoint`".into()),
        })
    }

    /// A proof that record `index` is in the tree of the checkpoint of `size` (the latest if
    /// `None`), with the record itself for its owner to read.
    pub async fn prove_inclusion(&self, index: u64, size: Option<u64>) -> Result<InclusionProof, LogError> {
        let checkpoint = self.signed(size).await?;
        if index >= checkpoint.size {
            return Err(LogError::NoSuch(format!(
                "record {index} is not covered by the checkpoint of size {}: wait for the next checkpoint",
                checkpoint.size
            )));
        }
        let leaves = self.leaves(checkpoint.size).await?;
        let proof = merkle::inclusion_proof(&leaves, index as usize).ok_or(LogError::Corrupt { what: "tree" })?;
        let row = sqlx::query("SELECT body FROM audit_records WHERE idx = $1")
            .bind(as_i64(index)?)
            .fetch_one(self.db.pool())
            .await?;
        Ok(InclusionProof {
            index,
            record: row.try_get("body")?,
            leaf: hex(&leaves[index as usize]),
            path: proof.iter().map(hex).collect(),
            checkpoint: checkpoint.note,
        })
    }

    /// A proof that the tree of the checkpoint of size `first` is a prefix of the one of
    /// `second` (the latest if `None`).
    pub async fn prove_consistency(&self, first: u64, second: Option<u64>) -> Result<ConsistencyProof, LogError> {
        let old = self.signed(Some(first)).await?;
        let new = self.signed(second).await?;
        if new.size < old.size {
            return Err(LogError::NoSuch(format!("the checkpoint of size {} is older than {first}", new.size)));
        }
        let leaves = self.leaves(new.size).await?;
        let proof = merkle::consistency_proof(&leaves, old.size as usize).ok_or(LogError::Corrupt { what: "tree" })?;
        Ok(ConsistencyProof { path: proof.iter().map(hex).collect(), first: old.note, second: new.note })
    }
}

/// A proof of one record's inclusion under a signed checkpoint, checkable offline with the
/// operator's public key alone ([`InclusionProof::check`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InclusionProof {
    /// The record's position.
    pub index: u64,
    /// The record as logged (its canonical JSON).
    pub record: String,
    /// Its leaf hash, hex: the receipt's.
    pub leaf: String,
    /// The audit path, hex, leaf to root.
    pub path: Vec<String>,
    /// The signed checkpoint the path leads to.
    pub checkpoint: String,
}

/// A proof that an older signed checkpoint's tree is a prefix of a newer one's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsistencyProof {
    /// The consistency path, hex.
    pub path: Vec<String>,
    /// The older signed checkpoint.
    pub first: String,
    /// The newer signed checkpoint.
    pub second: String,
}

/// Why a proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// A checkpoint's signature or form.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A hash is not 32 bytes of hex.
    #[error("the proof holds a hash that is not 64 hex digits")]
    Malformed,
    /// The record does not hash to the leaf.
    #[error("the record does not hash to the proof's leaf: it is not the record that was logged")]
    Record,
    /// The path does not lead to the checkpoint's root.
    #[error("the path does not lead from the leaf to the signed root: the record is not in this log at {index}")]
    NotIncluded {
        /// The record's position.
        index: u64,
    },
    /// The newer tree does not extend the older.
    #[error("the checkpoint of size {second} does not extend the one of size {first}: the log was rewritten")]
    Inconsistent {
        /// The older size.
        first: u64,
        /// The newer size.
        second: u64,
    },
}

impl InclusionProof {
    /// Checks the proof against `trusted` operator keys for the log `origin`; returns the
    /// checkpoint it was checked against.
    pub fn check(&self, trusted: &[VerifierKey], origin: &str) -> Result<Checkpoint, ProofError> {
        let checkpoint = Checkpoint::open(&self.checkpoint, trusted, origin)?;
        let leaf = unhex(&self.leaf).map_err(|_| ProofError::Malformed)?;
        if merkle::leaf_hash(self.record.as_bytes()) != leaf {
            return Err(ProofError::Record);
        }
        let path: Vec<Hash> =
            self.path.iter().map(|h| unhex(h)).collect::<Result<_, _>>().map_err(|_| ProofError::Malformed)?;
        if !merkle::verify_inclusion(self.index, checkpoint.size, &leaf, &path, &checkpoint.root) {
            return Err(ProofError::NotIncluded { index: self.index });
        }
        Ok(checkpoint)
    }
}

impl ConsistencyProof {
    /// Checks the proof against `trusted` operator keys for the log `origin`; returns the two
    /// checkpoints.
    pub fn check(&self, trusted: &[VerifierKey], origin: &str) -> Result<(Checkpoint, Checkpoint), ProofError> {
        let first = Checkpoint::open(&self.first, trusted, origin)?;
        let second = Checkpoint::open(&self.second, trusted, origin)?;
        let path: Vec<Hash> =
            self.path.iter().map(|h| unhex(h)).collect::<Result<_, _>>().map_err(|_| ProofError::Malformed)?;
        if !merkle::verify_consistency(first.size, second.size, &path, &first.root, &second.root) {
            return Err(ProofError::Inconsistent { first: first.size, second: second.size });
        }
        Ok((first, second))
    }
}

async fn read_head(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Frontier, LogError> {
    let row = sqlx::query("SELECT size, peaks FROM audit_head WHERE id = 1").fetch_one(&mut **tx).await?;
    let size = as_u64(row.try_get("size")?)?;
    let peaks: String = row.try_get("peaks")?;
    let corrupt = LogError::Corrupt { what: "head" };
    if !peaks.len().is_multiple_of(64) {
        return Err(corrupt);
    }
    let peaks: Vec<Hash> = (0..peaks.len()).step_by(64).map(|i| unhex(&peaks[i..i + 64])).collect::<Result<_, _>>()?;
    Frontier::from_peaks(size, &peaks).ok_or(corrupt)
}

/// Lower-case hex of a hash.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash from 64 hex digits.
pub fn unhex(text: &str) -> Result<Hash, LogError> {
    let corrupt = LogError::Corrupt { what: "hash" };
    if text.len() != 64 || !text.is_ascii() {
        return Err(corrupt);
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| LogError::Corrupt { what: "hash" })?;
    }
    Ok(hash)
}

fn as_i64(n: u64) -> Result<i64, LogError> {
    i64::try_from(n).map_err(|_| LogError::Corrupt { what: "size" })
}

fn as_u64(n: i64) -> Result<u64, LogError> {
    u64::try_from(n).map_err(|_| LogError::Corrupt { what: "size" })
}
