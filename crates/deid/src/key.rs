//! The secret key behind pseudonyms and date shifts. It is read from a file or an environment
//! variable and never written to any output.

use std::path::{Path, PathBuf};

/// A de-identification key (at least 32 bytes of secret).
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<secret>)")
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read (or created).
    #[error("the de-identification key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key is too short to be a secret.
    #[error("the de-identification key must hold at least 32 bytes (it has {0})")]
    TooShort(usize),
    /// No key file was given and [`KEY_VARIABLE`] is not set.
    #[error(
        "a de-identification key is needed: --deid-key-file FILE (add --create-key the first time) or {KEY_VARIABLE}"
    )]
    Missing,
}

/// The environment variable a key is read from when no key file is given.
pub const KEY_VARIABLE: &str = "LONGITUDE_DEID_KEY";

impl Key {
    /// A key from raw bytes (whitespace around a text key is trimmed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < 32 {
            return Err(KeyError::TooShort(trimmed.len()));
        }
        Ok(Self(trimmed.to_vec()))
    }

    /// Reads the key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Io { path: path.into(), source })?;
        Self::from_bytes(&bytes)
    }

    /// Creates a new random key file (readable by its owner only) and returns the key. Randomness
    /// comes from the operating system (`/dev/urandom`).
    pub fn generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io { path: path.into(), source };
        let mut bytes = [0u8; 32];
        use std::io::Read;
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(io)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        outputs::atomic::write(path, outputs::atomic::Access::Private, format!("{hex}\n").as_bytes())
            .map_err(|e| io(e.source))?;
        Self::from_bytes(hex.as_bytes())
    }

    /// The key a run uses: the key file when one is given (created first when `create` is set
    /// and it does not exist yet), otherwise the value of [`KEY_VARIABLE`].
    pub fn resolve(file: Option<&Path>, create: bool) -> Result<Self, KeyError> {
        match file {
            Some(path) if create && !path.exists() => Self::generate(path),
            Some(path) => Self::from_file(path),
            None => match std::env::var(KEY_VARIABLE) {
                Ok(key) => Self::from_bytes(key.as_bytes()),
                Err(_) => Err(KeyError::Missing),
            },
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}
