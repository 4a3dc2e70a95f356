//! Checkpoints: the log's size and root hash, signed by the operator, in the C2SP
//! [`tlog-checkpoint`](https://c2sp.org/tlog-checkpoint) format — the body `<origin>\n<size>\n
//! <base64 root>\n` as a signed note ([`signing`]). A partner keeps the last checkpoint it saw;
//! a consistency proof from it to a newer one shows that nothing it was shown has changed since.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use signing::{SignerKey, SigningError, VerifierKey};

use crate::merkle::Hash;

/// Why a checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The note's signature.
    #[error(transparent)]
    Signature(#[from] SigningError),
    /// The body is not a checkpoint.
    #[error("not a tlog checkpoint: {0}")]
    Malformed(&'static str),
}

/// A signed statement of the log's size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (e.g. `audit.hospital.example/longitude`): a checkpoint of one log is never
    /// taken for another's.
    pub origin: String,
    /// Records in the log.
    pub size: u64,
    /// The root hash of the tree of those records.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint's body, the text that is signed.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// The checkpoint as a note signed by `key`.
    pub fn sign(&self, key: &SignerKey) -> Result<String, CheckpointError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(CheckpointError::Malformed("the origin must be one non-empty line"));
        }
        Ok(key.sign(&self.body())?)
    }

    /// The checkpoint in `note`, once a signature by one of `trusted` verifies, for the log named
    /// `origin`. Extension lines after the root are allowed and ignored, as the format says.
    pub fn open(note: &str, trusted: &[VerifierKey], origin: &str) -> Result<Checkpoint, CheckpointError> {
        let opened = signing::open(note, trusted)?;
        let checkpoint = Checkpoint::parse(&opened.text)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::Malformed("it is a checkpoint of another log"));
        }
        Ok(checkpoint)
    }

    /// The checkpoint in a body (unsigned).
    pub fn parse(body: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = CheckpointError::Malformed;
        let mut lines = body.lines();
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(bad("no origin line"))?;
        let size = lines.next().ok_or(bad("no size line"))?;
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
            return Err(bad("the size must be a decimal number without leading zeros"));
        }
        let size = size.parse().map_err(|_| bad("the size is too large"))?;
        let root =
            BASE64.decode(lines.next().ok_or(bad("no root hash line"))?).map_err(|_| bad("the root is not base64"))?;
        let root = root.try_into().map_err(|_| bad("the root hash must be 32 bytes"))?;
        Ok(Checkpoint { origin: origin.to_string(), size, root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_signs_opens_and_refuses_a_change_another_log_or_key() {
        let dir = tempfile::tempdir().expect("dir");
        let operator = SignerKey::generate("audit.hospital.example", &dir.path().join("op.key")).expect("key");
        let checkpoint = Checkpoint { origin: "audit.hospital.example/longitude".into(), size: 8, root: [7; 32] };
        let note = checkpoint.sign(&operator).expect("sign");
        assert!(
            note.starts_with("audit.hospital.example/longitude\n8\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n"),
            "{note}"
        );
        let trusted = [operator.verifier()];
        assert_eq!(Checkpoint::open(&note, &trusted, &checkpoint.origin).expect("opens"), checkpoint);
        assert!(Checkpoint::open(&note.replacen("\n8\n", "\n9\n", 1), &trusted, &checkpoint.origin).is_err());
        assert!(Checkpoint::open(&note, &trusted, "another.log").is_err());
        let other = SignerKey::generate("audit.hospital.example", &dir.path().join("other.key")).expect("key");
        assert!(Checkpoint::open(&note, &[other.verifier()], &checkpoint.origin).is_err());
        for body in ["o\n08\nAA==\n", "o\n-1\nAA==\n", "o\n1\nAA==\n", "\n1\n", "o\n"] {
            assert!(Checkpoint::parse(body).is_err(), "{body:?}");
        }
        // Extension lines after the root are the format's, and are ignored.
        let extended = format!("{}extension line\n", checkpoint.body());
        assert_eq!(Checkpoint::parse(&extended).expect("parses"), checkpoint);
    }
}
