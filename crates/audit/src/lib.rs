//! # audit — the tamper-evident audit log
//!
//! Every prediction, registry change, approval, deployment and refused call will write a record
//! here before its response is released (issue #29). The log is a Merkle tree hashed as
//! Certificate Transparency hashes it ([`merkle`]), and at intervals the operator signs a
//! [`checkpoint::Checkpoint`] of its size and root. Whoever holds a checkpoint can check offline,
//! with hashes only, that a record is in the log (an inclusion proof) and that the log has only
//! grown since (a consistency proof) — without seeing anyone else's records.
//!
//! Built so far: the tree's hashing and proofs, checked against the published reference
//! vectors; signed checkpoints; and [`verify()`], which checks records as stored against the
//! checkpoints and names the first edited, removed, inserted, moved or truncated record and any
//! forked checkpoint. The records' store (SQLite and PostgreSQL), `longitude audit verify |
//! prove | export` and the writers come next.

pub mod checkpoint;
pub mod merkle;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::Hash;
pub use verify::{Frontier, StoredRecord, Tampering, Verified, append, verify};
