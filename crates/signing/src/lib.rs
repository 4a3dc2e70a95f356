//! # signing — Ed25519 keys and C2SP signed notes
//!
//! The one signature format Longitude uses: the [C2SP signed note](https://c2sp.org/signed-note),
//! the format of Go's checksum database and of transparency-log checkpoints. A note is UTF-8
//! text ending in a newline, a blank line, then one line per signature, `— <key name>
//! <base64(key hash ‖ Ed25519 signature)>`. The owner of a model signs its bundle's manifest as a
//! note; the audit log's checkpoints are notes signed by the operator. Anyone holding the
//! verifier key — a one-line string, `<name>+<key hash>+<base64 key>`, safe to publish — checks
//! them offline; Go's `golang.org/x/mod/sumdb/note` and every tlog witness read the same bytes.
//!
//! Keys: [`SignerKey::generate`] writes a new private key to a file only its owner can read
//! (the `PRIVATE+KEY+…` form of the same format); [`SignerKey::read`] reads it from that file.
//! A private key is never logged, printed or written anywhere else, and its `Debug` shows only
//! the key's name.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of an Ed25519 key in a signed note.
const ED25519: u8 = 0x01;
/// What a private key's text starts with.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// The signature lines' lead: an em dash and a space.
const SIGNATURE_LEAD: &str = "\u{2014} ";
/// At most this many signatures are read from one note.
const MAX_SIGNATURES: usize = 100;

/// Why a key or a note could not be used. Names keys and files, never key material.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file could not be read or written.
    #[error("the key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key's text is not a key of this format.
    #[error("not a signed-note {kind} key: {why}")]
    MalformedKey {
        /// `signer` or `verifier`.
        kind: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A key name the format does not allow.
    #[error("a key name must be non-empty and hold no space, newline or '+'")]
    BadName,
    /// A text that cannot be signed.
    #[error("a note's text must be UTF-8 without control characters other than newlines, and end in a newline")]
    BadText,
    /// A note that is not a signed note.
    #[error("not a signed note: {0}")]
    MalformedNote(&'static str),
    /// A signature by a trusted key that does not verify: the text or the signature was changed.
    #[error("the signature by {name} does not verify: the note was changed after it was signed")]
    BadSignature {
        /// The key's name.
        name: String,
    },
    /// No signature by any trusted key.
    #[error("the note carries no signature by a trusted key (signed by: {signers})")]
    Untrusted {
        /// The names the note's signatures give, or `nobody`.
        signers: String,
    },
}

/// The 4-byte key hash of the signed-note format: the first bytes of SHA-256 of the name, a
/// newline, the type byte and the public key.
fn key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn check_name(name: &str) -> Result<(), SigningError> {
    if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace() || c.is_control()) {
        return Err(SigningError::BadName);
    }
    Ok(())
}

/// `<name>+<8 hex digits>+<base64>`, split and checked against each other.
fn split_key<'a>(text: &'a str, kind: &'static str) -> Result<(&'a str, [u8; 4], Vec<u8>), SigningError> {
    let bad = |why| SigningError::MalformedKey { kind, why };
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("it must read <name>+<key hash>+<key>"));
    };
    check_name(name).map_err(|_| bad("the name is empty or holds a space or '+'"))?;
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(bad("the key hash must be 8 lowercase hex digits"));
    }
    let hash = u32::from_str_radix(hash, 16).map_err(|_| bad("the key hash must be 8 hex digits"))?.to_be_bytes();
    let key = BASE64.decode(key).map_err(|_| bad("the key is not base64"))?;
    if key.len() != 33 || key[0] != ED25519 {
        return Err(bad("only Ed25519 keys (type 0x01, 32 bytes) are read"));
    }
    Ok((name, hash, key[1..].to_vec()))
}

/// A private signing key and its name. Cloned only to hand to another writer in the same
/// process (each server replica's audit log); its `Debug` never shows the secret.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}, <secret>)", self.name)
    }
}

impl SignerKey {
    /// A new key named `name` (e.g. the organisation's domain), written to `path` (created, owner
    /// read-only; an existing file is refused so that no key is overwritten). Randomness comes from
    /// the operating system (`/dev/urandom`).
    pub fn generate(name: &str, path: &Path) -> Result<SignerKey, SigningError> {
        check_name(name)?;
        let io = |source| SigningError::Io { path: path.to_path_buf(), source };
        // A mistyped directory is an error, not a new folder.
        if path.parent().is_some_and(|dir| !dir.as_os_str().is_empty() && !dir.is_dir()) {
            return Err(io(std::io::Error::new(std::io::ErrorKind::NotFound, "its directory does not exist")));
        }
        if path.exists() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a key file is already there: a key is never overwritten",
            )));
        }
        let mut seed = [0u8; 32];
        use std::io::Read;
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).map_err(io)?;
        let signer = SignerKey { name: name.to_string(), key: SigningKey::from_bytes(&seed) };
        let text = format!("{}\n", signer.private_text());
        outputs::atomic::write(path, outputs::atomic::Access::Private, text.as_bytes()).map_err(|e| io(e.source))?;
        Ok(signer)
    }

    /// The key in the file at `path` (as [`SignerKey::generate`] writes it).
    pub fn read(path: &Path) -> Result<SignerKey, SigningError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningError::Io { path: path.into(), source })?;
        SignerKey::parse(&text)
    }

    /// A key from its text, `PRIVATE+KEY+<name>+<key hash>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<SignerKey, SigningError> {
        let bad = |why| SigningError::MalformedKey { kind: "signer", why };
        let rest = text.trim().strip_prefix(PRIVATE_PREFIX).ok_or(bad("it must start with PRIVATE+KEY+"))?;
        let (name, hash, seed) = split_key(rest, "signer")?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad("the seed must be 32 bytes"))?;
        let key = SigningKey::from_bytes(&seed);
        if key_hash(name, key.verifying_key().as_bytes()) != hash {
            return Err(bad("the key hash does not match the name and key"));
        }
        Ok(SignerKey { name: name.to_string(), key })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key that checks this key's signatures.
    pub fn verifier(&self) -> VerifierKey {
        let public = self.key.verifying_key();
        VerifierKey { name: self.name.clone(), hash: key_hash(&self.name, public.as_bytes()), key: public }
    }

    fn private_text(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.as_bytes());
        let hash = u32::from_be_bytes(key_hash(&self.name, self.key.verifying_key().as_bytes()));
        format!("{PRIVATE_PREFIX}{}+{hash:08x}+{}", self.name, BASE64.encode(key))
    }

    /// `text` signed: the text, a blank line and this key's signature line. The text must be
    /// UTF-8 without control characters other than newlines, and end in a newline.
    pub fn sign(&self, text: &str) -> Result<String, SigningError> {
        if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(SigningError::BadText);
        }
        let signature: Signature = self.key.sign(text.as_bytes());
        let mut blob = key_hash(&self.name, self.key.verifying_key().as_bytes()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIGNATURE_LEAD}{} {}\n", self.name, BASE64.encode(blob)))
    }
}

/// A public key that checks signatures: its name, key hash and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    hash: [u8; 4],
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// The one-line text of the key, `<name>+<key hash>+<base64(0x01 ‖ key)>`: safe to publish.
impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, u32::from_be_bytes(self.hash), BASE64.encode(key))
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = SigningError;

    fn from_str(text: &str) -> Result<Self, SigningError> {
        let bad = |why| SigningError::MalformedKey { kind: "verifier", why };
        let (name, hash, key) = split_key(text, "verifier")?;
        let key: [u8; 32] = key.try_into().map_err(|_| bad("the key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("the key is not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("the key is of small order"));
        }
        if key_hash(name, key.as_bytes()) != hash {
            return Err(bad("the key hash does not match the name and key"));
        }
        Ok(VerifierKey { name: name.to_string(), hash, key })
    }
}

impl VerifierKey {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A key given as the path of a file holding it or as its one-line text.
    pub fn read_or_parse(given: &str) -> Result<VerifierKey, SigningError> {
        let path = Path::new(given);
        if path.is_file() {
            return VerifierKey::read(path);
        }
        // Not a file, and not a key's text either (which always holds '+'): a mistyped path.
        if !given.contains('+') {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such key file");
            return Err(SigningError::Io { path: path.to_path_buf(), source });
        }
        given.parse()
    }

    /// The key in the file at `path` (its one-line text).
    pub fn read(path: &Path) -> Result<VerifierKey, SigningError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningError::Io { path: path.into(), source })?;
        text.parse()
    }
}

/// A note opened: its text and the trusted keys whose signatures verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The signed text.
    pub text: String,
    /// The names of the trusted keys that signed it.
    pub signed_by: Vec<String>,
}

/// Opens `note`: its text, once at least one signature by a key in `trusted` verifies. Any
/// signature by a trusted key that does not verify fails the note (it was changed); signatures
/// by other keys are ignored.
pub fn open(note: &str, trusted: &[VerifierKey]) -> Result<Opened, SigningError> {
    let malformed = SigningError::MalformedNote;
    let split = note.rfind("\n\n").ok_or(malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("the text holds control characters"));
    }
    if !signatures.ends_with('\n') {
        return Err(malformed("the signatures must end in a newline"));
    }
    let mut signed_by = Vec::new();
    let mut seen = Vec::new();
    for (i, line) in signatures.lines().enumerate() {
        if i == MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let rest = line.strip_prefix(SIGNATURE_LEAD).ok_or(malformed("a signature line must start with '— '"))?;
        let (name, blob) = rest.split_once(' ').ok_or(malformed("a signature line must read '— <name> <base64>'"))?;
        check_name(name).map_err(|_| malformed("a signature's key name is malformed"))?;
        let blob = BASE64.decode(blob).map_err(|_| malformed("a signature is not base64"))?;
        if blob.len() < 5 {
            return Err(malformed("a signature is too short"));
        }
        seen.push(name.to_string());
        let Some(key) = trusted.iter().find(|k| k.name == name && k.hash[..] == blob[..4]) else { continue };
        let signature =
            Signature::from_slice(&blob[4..]).map_err(|_| SigningError::BadSignature { name: name.to_string() })?;
        key.key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| SigningError::BadSignature { name: name.to_string() })?;
        if !signed_by.iter().any(|n| n == name) {
            signed_by.push(name.to_string());
        }
    }
    if signed_by.is_empty() {
        let signers = if seen.is_empty() { "nobody".to_string() } else { seen.join(", ") };
        return Err(SigningError::Untrusted { signers });
    }
    Ok(Opened { text: text.to_string(), signed_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of golang.org/x/mod/sumdb/note (its documentation and tests): a key pair, a
    // text, and the note that signing gives. Ed25519 is deterministic, so ours must be the same
    // bytes — then every Go verifier and tlog witness reads our notes.
    const GO_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIGNATURE: &str =
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

    #[test]
    fn signing_gives_the_go_reference_note_byte_for_byte() {
        let signer = SignerKey::parse(GO_SIGNER).expect("the reference signer key");
        assert_eq!(signer.verifier().to_string(), GO_VERIFIER);
        assert_eq!(signer.private_text(), GO_SIGNER);
        let note = signer.sign(GO_TEXT).expect("sign");
        assert_eq!(note, format!("{GO_TEXT}\n\u{2014} PeterNeumann {GO_SIGNATURE}\n"));
        let verifier: VerifierKey = GO_VERIFIER.parse().expect("the reference verifier key");
        let opened = open(&note, std::slice::from_ref(&verifier)).expect("opens");
        assert_eq!((opened.text.as_str(), opened.signed_by), (GO_TEXT, vec!["PeterNeumann".to_string()]));
    }

    #[test]
    fn a_changed_note_or_another_key_is_refused_and_says_which() {
        let verifier: VerifierKey = GO_VERIFIER.parse().expect("key");
        let note = format!("{GO_TEXT}\n\u{2014} PeterNeumann {GO_SIGNATURE}\n");
        let changed = note.replace("cryptography", "cryptographY");
        assert!(matches!(open(&changed, std::slice::from_ref(&verifier)), Err(SigningError::BadSignature { .. })));
        let dir = tempfile::tempdir().expect("dir");
        let other = SignerKey::generate("example.org", &dir.path().join("owner.key")).expect("generate");
        let err = open(&note, &[other.verifier()]).expect_err("not signed by that key");
        assert_eq!(err.to_string(), "the note carries no signature by a trusted key (signed by: PeterNeumann)");
        // Same name, another key: the key hash differs, so the signature is not taken as its.
        let impostor = SignerKey::generate("PeterNeumann", &dir.path().join("impostor.key")).expect("generate");
        assert!(matches!(open(&note, &[impostor.verifier()]), Err(SigningError::Untrusted { .. })));
        for broken in [GO_TEXT, "text\n\n\u{2014} PeterNeumann !!!\n", "text\n\n- PeterNeumann abc=\n"] {
            assert!(
                matches!(open(broken, std::slice::from_ref(&verifier)), Err(SigningError::MalformedNote(_))),
                "{broken}"
            );
        }
    }

    #[test]
    fn a_generated_key_is_owner_only_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("owner.key");
        let key = SignerKey::generate("hospital.example", &path).expect("generate");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner-only");
        let back = SignerKey::read(&path).expect("read");
        assert_eq!(back.verifier(), key.verifier());
        assert_eq!(format!("{back:?}"), "SignerKey(hospital.example, <secret>)");
        assert!(SignerKey::generate("hospital.example", &path).is_err(), "an existing key is kept");
        let astray = dir.path().join("no-such-dir/owner.key");
        assert!(SignerKey::generate("hospital.example", &astray).is_err(), "a mistyped directory");
        assert!(!dir.path().join("no-such-dir").exists(), "no folder is made for it");
        let missing = dir.path().join("missing.pub");
        let err = VerifierKey::read_or_parse(missing.to_str().expect("utf-8")).expect_err("no such file");
        assert!(err.to_string().contains("no such key file"), "{err}");
        let note = key.sign("model bundle\n").expect("sign");
        let verifier: VerifierKey = key.verifier().to_string().parse().expect("the published form parses");
        assert_eq!(open(&note, &[verifier]).expect("opens").text, "model bundle\n");
        for name in ["", "a b", "a+b", "a\nb"] {
            assert!(matches!(SignerKey::generate(name, &dir.path().join("x")), Err(SigningError::BadName)), "{name:?}");
        }
        assert!(key.sign("no newline").is_err());
        assert!(key.sign("tab\there\n").is_err());
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(bad.parse::<VerifierKey>().is_err(), "{bad}");
        }
        assert!(SignerKey::parse(GO_VERIFIER).is_err(), "a public key is not a private one");
    }
}
