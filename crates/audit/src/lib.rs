//! # audit — the tamper-evident audit log
//!
//! Every prediction, registry change, approval, deployment and refused call will write a record
//! here before its response is released (issue #29). The log is a Merkle tree hashed as
//! Certificate Transparency hashes it ([`merkle`]), and at intervals the operator signs a
//! [`checkpoint::Checkpoint`] of its size and root. Whoever holds a checkpoint can check offline,
//! with hashes only, that a record is in the log (an inclusion proof) and that the log has only
//! grown since (a consistency proof) — without seeing anyone else's records.
//!
//! - [`merkle`]: the tree's hashing and proofs, checked against the published reference vectors;
//! - [`checkpoint`]: signed checkpoints in the C2SP `tlog-checkpoint` format;
//! - [`verify()`](verify::verify): checks records as stored against the checkpoints and names
//!   the first edited, removed, inserted, moved or truncated record and any forked checkpoint;
//! - [`entry`]: what a record says (no PHI), and its FHIR `AuditEvent` form;
//! - [`log`]: the log in the database ([`store`]: SQLite or PostgreSQL), with serialised
//!   appends, checkpoints at an interval, the whole-log check and the offline proofs.

pub mod checkpoint;
pub mod entry;
pub mod log;
pub mod merkle;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use entry::{Action, Entry, Outcome};
pub use log::{AuditLog, ConsistencyProof, InclusionProof, LogError, ProofError, Receipt, SignedCheckpoint};
pub use merkle::Hash;
pub use verify::{Frontier, StoredRecord, Tampering, Verified, Verifier, append, verify};
