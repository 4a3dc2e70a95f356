//! Checking a log as stored against its signed checkpoints: the work of `longitude audit
//! verify`, independent of where the records are kept.
//!
//! Each stored record carries its position, its canonical bytes, its leaf hash and the root of
//! the tree it completed ([`StoredRecord`]). [`verify`] recomputes everything from the bytes
//! alone and reports the first record that does not hold: a gap in the positions (a record
//! removed), a repeated position (one inserted), bytes that no longer give the stored leaf hash
//! (edited), a stored root the recomputed tree does not have (inserted, removed or reordered
//! before it), and — because whoever can edit the records can rewrite the stored hashes too —
//! every signed checkpoint whose root the recomputed tree does not reach at its size, or whose
//! size is beyond the records (truncated), or which is inconsistent with an earlier one (forked).

use crate::checkpoint::Checkpoint;
use crate::merkle::{Hash, leaf_hash, node_hash};

/// One record as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its position in the log, from 0.
    pub index: u64,
    /// The canonical bytes that were hashed.
    pub bytes: Vec<u8>,
    /// The leaf hash stored with it.
    pub leaf: Hash,
    /// The root of the tree of records `0..=index`, stored when it was appended.
    pub root: Hash,
}

/// What is wrong with a log, the first problem found of each kind that stops the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tampering {
    /// A position is missing: the record there was removed (or the records were reordered).
    #[error("record {expected} is missing (the next stored record is {found}): a record was removed or moved")]
    Missing {
        /// The position expected.
        expected: u64,
        /// The position found instead.
        found: u64,
    },
    /// A position is held twice, or out of order.
    #[error("record {found} appears where record {expected} should be: a record was inserted or moved")]
    OutOfPlace {
        /// The position expected.
        expected: u64,
        /// The position found.
        found: u64,
    },
    /// A record's bytes no longer give its leaf hash.
    #[error("record {index} was edited: its contents no longer hash to the leaf recorded for it")]
    Edited {
        /// The record.
        index: u64,
    },
    /// The tree recomputed up to a record differs from the root stored with it.
    #[error(
        "the log up to record {index} is not the one appended: a record at or before it was inserted, removed, swapped or edited"
    )]
    Diverged {
        /// The record.
        index: u64,
    },
    /// A signed checkpoint's root is not the recomputed tree's at its size.
    #[error(
        "the signed checkpoint of size {size} does not match the records: something among the first {size} records was changed (and its stored hashes rewritten)"
    )]
    CheckpointMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// Records a signed checkpoint covers are gone.
    #[error("the log holds {records} records but a signed checkpoint covers {size}: the log was truncated")]
    Truncated {
        /// Records found.
        records: u64,
        /// The largest checkpoint's size.
        size: u64,
    },
    /// Two signed checkpoints of one size with different roots: the operator signed a fork.
    #[error("two signed checkpoints of size {size} differ: the log was forked")]
    Forked {
        /// The size.
        size: u64,
    },
}

/// What a clean check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// The root of all of them.
    pub root: Hash,
    /// Signed checkpoints matched.
    pub checkpoints: usize,
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first, from
/// which the root at every size is had in `O(log n)` without keeping the leaves.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    /// `(height, hash)` of each perfect subtree, largest first.
    peaks: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Adds a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.peaks.last() {
            if height != node.0 {
                break;
            }
            self.peaks.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The frontier of a tree of `size` leaves whose perfect subtrees on the right edge have the
    /// roots `peaks`, largest first (as [`Frontier::peaks`] gives them); `None` if their number
    /// is not the one `size` implies (one per set bit).
    pub fn from_peaks(size: u64, peaks: &[Hash]) -> Option<Frontier> {
        if peaks.len() != size.count_ones() as usize {
            return None;
        }
        let heights = (0..u64::BITS).rev().filter(|bit| size >> bit & 1 == 1);
        Some(Frontier { peaks: heights.zip(peaks.iter().copied()).collect(), size })
    }

    /// The roots of the perfect subtrees on the right edge, largest first: with the size, all a
    /// writer must keep to extend the tree.
    pub fn peaks(&self) -> impl Iterator<Item = &Hash> {
        self.peaks.iter().map(|(_, hash)| hash)
    }

    /// Leaves added.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of the leaves added (RFC 6962: the smaller subtrees fold in from
    /// the right).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = peaks.next() else { return crate::merkle::empty_root() };
        for (_, left) in peaks {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Checks `records` (in the store's order) against `checkpoints` (already opened, so their
/// signatures hold): see the module documentation. Returns the first problem found.
pub fn verify<I>(records: I, checkpoints: &[Checkpoint]) -> Result<Verified, Tampering>
where
    I: IntoIterator<Item = StoredRecord>,
{
    let mut verifier = Verifier::new(checkpoints)?;
    for record in records {
        verifier.push(&record)?;
    }
    verifier.finish()
}

/// [`verify`] one record at a time, for a store that pages its records in rather than holding
/// them all.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Checkpoints by size, smallest first; `next` is the first not yet reached.
    checkpoints: Vec<Checkpoint>,
    next: usize,
    frontier: Frontier,
}

impl Verifier {
    /// A check against `checkpoints`; fails at once if two of one size differ (a fork).
    pub fn new(checkpoints: &[Checkpoint]) -> Result<Verifier, Tampering> {
        let mut checkpoints = checkpoints.to_vec();
        checkpoints.sort_by_key(|c| c.size);
        for pair in checkpoints.windows(2) {
            if pair[0].size == pair[1].size && pair[0].root != pair[1].root {
                return Err(Tampering::Forked { size: pair[0].size });
            }
        }
        let mut verifier = Verifier { checkpoints, next: 0, frontier: Frontier::default() };
        // A checkpoint of size 0 covers nothing and must be the empty tree.
        verifier.reach_checkpoints(crate::merkle::empty_root())?;
        Ok(verifier)
    }

    /// Checks the next record in the store's order.
    pub fn push(&mut self, record: &StoredRecord) -> Result<(), Tampering> {
        let expected = self.frontier.size();
        if record.index > expected {
            return Err(Tampering::Missing { expected, found: record.index });
        }
        if record.index < expected {
            return Err(Tampering::OutOfPlace { expected, found: record.index });
        }
        if leaf_hash(&record.bytes) != record.leaf {
            return Err(Tampering::Edited { index: record.index });
        }
        self.frontier.push(record.leaf);
        if self.frontier.root() != record.root {
            return Err(Tampering::Diverged { index: record.index });
        }
        self.reach_checkpoints(record.root)
    }

    /// Matches every checkpoint of the current size against `root`.
    fn reach_checkpoints(&mut self, root: Hash) -> Result<(), Tampering> {
        while let Some(c) = self.checkpoints.get(self.next).filter(|c| c.size == self.frontier.size()) {
            if c.root != root {
                return Err(Tampering::CheckpointMismatch { size: c.size });
            }
            self.next += 1;
        }
        Ok(())
    }

    /// The tree checked so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Ends the check: fails if a checkpoint covers more records than were pushed (truncation).
    pub fn finish(self) -> Result<Verified, Tampering> {
        if let Some(c) = self.checkpoints.last().filter(|c| c.size > self.frontier.size()) {
            return Err(Tampering::Truncated { records: self.frontier.size(), size: c.size });
        }
        Ok(Verified { records: self.frontier.size(), root: self.frontier.root(), checkpoints: self.next })
    }
}

/// Appends `bytes` to the log whose right edge is `frontier` (kept by the writer): the record
/// to store, with its position, leaf hash and the root it completes.
pub fn append(frontier: &mut Frontier, bytes: Vec<u8>) -> StoredRecord {
    let index = frontier.size();
    let leaf = leaf_hash(&bytes);
    frontier.push(leaf);
    StoredRecord { index, bytes, leaf, root: frontier.root() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::root;

    fn log(n: u64) -> (Vec<StoredRecord>, Frontier) {
        let mut frontier = Frontier::default();
        let records = (0..n).map(|i| append(&mut frontier, format!("{{\"call\":{i}}}").into_bytes())).collect();
        (records, frontier)
    }

    fn checkpoint(records: &[StoredRecord], size: u64) -> Checkpoint {
        let leaves: Vec<Hash> = records[..size as usize].iter().map(|r| r.leaf).collect();
        Checkpoint { origin: "test".into(), size, root: root(&leaves) }
    }

    /// Rewrites every stored position and hash, as someone who edited a record would.
    fn rehash(records: &mut [StoredRecord]) {
        let mut frontier = Frontier::default();
        for (i, r) in records.iter_mut().enumerate() {
            r.index = i as u64;
            r.leaf = leaf_hash(&r.bytes);
            frontier.push(r.leaf);
            r.root = frontier.root();
        }
    }

    #[test]
    fn the_frontier_gives_the_merkle_root_at_every_size() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), root(&[]));
        for n in 1..=leaves.len() {
            frontier.push(leaves[n - 1]);
            assert_eq!(frontier.root(), root(&leaves[..n]), "size {n}");
        }
    }

    #[test]
    fn a_frontier_is_kept_as_its_size_and_peaks() {
        let (_, frontier) = log(45);
        let peaks: Vec<Hash> = frontier.peaks().copied().collect();
        assert_eq!(peaks.len(), 4, "45 = 32 + 8 + 4 + 1: four perfect subtrees");
        let restored = Frontier::from_peaks(45, &peaks).expect("restores");
        assert_eq!((restored.size(), restored.root()), (45, frontier.root()));
        assert!(Frontier::from_peaks(44, &peaks).is_none());
    }

    #[test]
    fn a_clean_log_verifies_and_each_kind_of_tampering_is_named() {
        let (records, _) = log(20);
        let checkpoints = [checkpoint(&records, 8), checkpoint(&records, 16)];
        let clean = verify(records.clone(), &checkpoints).expect("clean");
        assert_eq!((clean.records, clean.checkpoints), (20, 2));

        let mut edited = records.clone();
        edited[5].bytes = b"{\"call\":55}".to_vec();
        assert_eq!(verify(edited, &checkpoints), Err(Tampering::Edited { index: 5 }));

        let mut removed = records.clone();
        removed.remove(7);
        assert_eq!(verify(removed, &checkpoints), Err(Tampering::Missing { expected: 7, found: 8 }));

        let mut swapped = records.clone();
        swapped.swap(3, 4);
        assert_eq!(verify(swapped, &checkpoints), Err(Tampering::Missing { expected: 3, found: 4 }));
        let mut swapped_renumbered = records.clone();
        swapped_renumbered.swap(3, 4);
        (swapped_renumbered[3].index, swapped_renumbered[4].index) = (3, 4);
        assert_eq!(verify(swapped_renumbered, &checkpoints), Err(Tampering::Diverged { index: 3 }));

        let mut inserted = records.clone();
        let mut extra = inserted[9].clone();
        extra.bytes = b"{\"call\":\"forged\"}".to_vec();
        extra.leaf = leaf_hash(&extra.bytes);
        inserted.insert(10, extra);
        assert_eq!(verify(inserted, &checkpoints), Err(Tampering::OutOfPlace { expected: 10, found: 9 }));

        // Edited with every stored hash rewritten to match: only the signed checkpoint knows.
        let mut rewritten = records.clone();
        rewritten[2].bytes = b"{\"call\":\"rewritten\"}".to_vec();
        rehash(&mut rewritten);
        assert_eq!(verify(rewritten, &checkpoints), Err(Tampering::CheckpointMismatch { size: 8 }));

        let truncated = records[..12].to_vec();
        assert_eq!(verify(truncated, &checkpoints), Err(Tampering::Truncated { records: 12, size: 16 }));
        // Truncated after the last checkpoint is not detectable from checkpoints: it verifies.
        assert!(verify(records[..17].to_vec(), &checkpoints).is_ok());

        let mut fork = checkpoint(&records, 16);
        fork.root[0] ^= 1;
        assert_eq!(
            verify(records.clone(), &[checkpoints[0].clone(), fork.clone()]),
            Err(Tampering::CheckpointMismatch { size: 16 })
        );
        assert_eq!(verify(records, &[checkpoints[1].clone(), fork]), Err(Tampering::Forked { size: 16 }));
    }
}
