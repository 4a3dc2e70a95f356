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
//! vectors, and signed checkpoints. The records' store (SQLite and PostgreSQL), `longitude audit
//! verify | prove | export` and the writers come next.

pub mod checkpoint;
pub mod merkle;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::Hash;
