//! # provenance — the owner's signature on a model bundle
//!
//! A model bundle's manifest (`bundle.json`, [`model::bundle::Manifest`]) pins every file of the
//! bundle by size and SHA-256. The owning organisation signs a statement of the manifest's own
//! SHA-256 with its key ([`sign`]), as a C2SP signed note in `bundle.sig` beside it. [`verify`]
//! checks, in order, that the signature is by a key the caller trusts, that the manifest is the
//! one that was signed, and that every file matches the manifest: a partner can prove that the
//! model it received is the one the owner signed, byte for byte, and an error names what failed
//! (the key, the manifest, or the file).
//!
//! Architecture invariant: nothing is signed that does not verify as it stands — [`sign`] opens
//! the bundle (every digest checked) before it signs.

pub mod release;

use std::path::{Path, PathBuf};

use model::ModelError;
use model::bundle::{Bundle, MANIFEST};
use sha2::{Digest, Sha256};
use signing::{SignerKey, SigningError, VerifierKey};

/// The signature's file name in a bundle.
pub const SIGNATURE: &str = "bundle.sig";
/// The first line of the signed statement: what is vouched for.
const STATEMENT: &str = "longitude model bundle";

/// Why a bundle could not be signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// The bundle itself: no manifest, or a file that does not match it (named).
    #[error(transparent)]
    Bundle(#[from] ModelError),
    /// There is no model bundle there.
    #[error("no model bundle at {0} (no {MANIFEST}): give the `model` directory that `longitude pretrain` wrote")]
    NotABundle(PathBuf),
    /// The bundle carries no signature.
    #[error("{0} is not signed (no {SIGNATURE}): ask its owner for the signed bundle")]
    Unsigned(PathBuf),
    /// The signature file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The signature: by no trusted key, or changed.
    #[error("{path}: {source}")]
    Signature {
        /// The signature file.
        path: PathBuf,
        /// The cause (names the key).
        #[source]
        source: SigningError,
    },
    /// A release could not be assembled (named: what is missing or already there).
    #[error("cannot assemble the release: {0}")]
    Release(String),
    /// The signed statement is not one this build reads.
    #[error("{0}: not a signed statement of a Longitude model bundle")]
    Statement(PathBuf),
    /// The manifest is not the one that was signed.
    #[error(
        "{path} is not the manifest its owner signed (SHA-256 {found}, signed {signed}): the bundle was altered after signing"
    )]
    ManifestChanged {
        /// The manifest.
        path: PathBuf,
        /// Its digest now.
        found: String,
        /// The digest signed.
        signed: String,
    },
}

/// A bundle whose signature and files checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The bundle.
    pub bundle: Bundle,
    /// The trusted keys that signed it.
    pub signed_by: Vec<String>,
    /// The manifest's SHA-256 (hex): the bundle's identity.
    pub manifest_sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 (hex) of the bundle's manifest: its identity, which the signature vouches for.
pub fn manifest_sha256(dir: &Path) -> Result<String, ProvenanceError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|source| ProvenanceError::Io { path, source })?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn statement(digest: &str) -> String {
    format!("{STATEMENT}\n{MANIFEST} sha256 {digest}\n")
}

/// Signs the bundle in `dir` with the owner's `key`: checks every file against the manifest,
/// then writes `bundle.sig` (replacing an earlier signature). Returns the manifest's SHA-256.
pub fn sign(dir: &Path, key: &SignerKey) -> Result<String, ProvenanceError> {
    Bundle::open(dir)?;
    let digest = manifest_sha256(dir)?;
    let path = dir.join(SIGNATURE);
    let note =
        key.sign(&statement(&digest)).map_err(|source| ProvenanceError::Signature { path: path.clone(), source })?;
    outputs::atomic::write(&path, outputs::atomic::Access::Shared, note.as_bytes())
        .map_err(|e| ProvenanceError::Io { path, source: e.source })?;
    Ok(digest)
}

/// Verifies the bundle in `dir` against the keys in `trusted`: signed by one of them, the
/// manifest the one signed, every file the manifest's. The bundle is returned opened.
pub fn verify(dir: &Path, trusted: &[VerifierKey]) -> Result<Verified, ProvenanceError> {
    if !dir.join(MANIFEST).is_file() {
        return Err(ProvenanceError::NotABundle(dir.into()));
    }
    let path = dir.join(SIGNATURE);
    let note = match std::fs::read_to_string(&path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ProvenanceError::Unsigned(dir.into())),
        Err(source) => return Err(ProvenanceError::Io { path, source }),
    };
    let opened =
        signing::open(&note, trusted).map_err(|source| ProvenanceError::Signature { path: path.clone(), source })?;
    let signed = opened
        .text
        .strip_prefix(&format!("{STATEMENT}\n{MANIFEST} sha256 "))
        .and_then(|rest| rest.strip_suffix('\n'))
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ProvenanceError::Statement(path.clone()))?;
    let found = manifest_sha256(dir)?;
    if found != signed {
        return Err(ProvenanceError::ManifestChanged { path: dir.join(MANIFEST), found, signed: signed.to_string() });
    }
    let bundle = Bundle::open(dir)?;
    Ok(Verified { bundle, signed_by: opened.signed_by, manifest_sha256: found })
}
