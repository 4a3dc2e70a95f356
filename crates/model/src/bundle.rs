//! The model bundle: what pretraining hands on to adaptation, the registry and the server.
//!
//! One directory with one owner. [`write`] puts in it the weights ([`WEIGHTS`]), the tokenizer
//! they were trained with ([`TOKENIZER`]) and the pretraining configuration ([`PRETRAIN`]), each
//! whole ([`outputs::atomic`]), then, last, the manifest ([`MANIFEST`]): the format and version,
//! the model's shape, and every file with its size and SHA-256 digest. A directory without a
//! manifest is not a bundle (an interrupted write leaves none).
//!
//! Architecture invariant: [`Bundle::open`] reads nothing it has not checked. It refuses a
//! directory without a manifest, a manifest of another format or version, and files whose size or
//! digest differ from the manifest's (a torn copy, a tokenizer swapped for another), before any
//! weight is read; the weights' own header must then agree with the manifest's shape. The
//! manifest is what a registry signs: its digests pin every byte of the bundle.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokenizer::Tokenizer;

use crate::pretrain::PretrainConfig;
use crate::{Model, ModelConfig, ModelError};

/// The manifest's file name.
pub const MANIFEST: &str = "bundle.json";
/// The weights (safetensors, written by [`crate::weights::save`]).
pub const WEIGHTS: &str = "model.safetensors";
/// The tokenizer the weights were trained with.
pub const TOKENIZER: &str = "tokenizer.json";
/// How the weights were pretrained.
pub const PRETRAIN: &str = "pretrain.json";

/// The manifest's format name.
pub const FORMAT: &str = "longitude-model-bundle";
/// The manifest version this build reads and writes.
pub const VERSION: u32 = 1;

/// The bundle's manifest (`bundle.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written by this build.
    pub version: u32,
    /// The model's shape.
    pub model: ModelConfig,
    /// Tokens in the tokenizer's vocabulary.
    pub vocabulary: usize,
    /// Every file of the bundle, by name (a relative path inside the bundle).
    pub files: BTreeMap<String, FileDigest>,
    /// What makes the bundle a release its owner can sign and a registry can govern: absent in
    /// the bundle `pretrain` writes, present once `longitude bundle assemble` has added the task
    /// models, the validation report and the training data's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

/// What a foundation model is, whatever bundle carries it: the digests of its weights and of its
/// tokenizer. A task model fitted on a foundation model's embedding records it, so that it is
/// never scored with another model's (a release's manifest differs from the pretrained bundle's;
/// these digests do not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// SHA-256 of the weights file.
    pub weights_sha256: String,
    /// SHA-256 of the tokenizer file.
    pub tokenizer_sha256: String,
}

impl Manifest {
    /// The identity of the model this manifest pins (`None` if it lists no weights or
    /// tokenizer, which [`Bundle::open`] refuses).
    pub fn identity(&self) -> Option<ModelIdentity> {
        Some(ModelIdentity {
            weights_sha256: self.files.get(WEIGHTS)?.sha256.clone(),
            tokenizer_sha256: self.files.get(TOKENIZER)?.sha256.clone(),
        })
    }
}

/// A release's provenance: who made it, when, with which code, from which data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The owning organisation.
    pub owner: String,
    /// When the release was assembled (RFC 3339, UTC).
    pub created: String,
    /// The software that assembled it (`longitude <version>`).
    pub code_version: String,
    /// The data the model was trained and validated on, by fingerprint.
    pub training_data: DataFingerprint,
    /// The tasks with task models in the bundle (under `tasks/<task>/`).
    pub tasks: Vec<String>,
    /// The validation report in the bundle (`report/report.json`).
    pub report: String,
    /// The model card in the bundle (`report/model_card.json`).
    pub model_card: String,
    /// The training data's reference profile in the bundle (`data/reference.json`: its last
    /// year by month, as rates and percentiles), what monitoring compares later data with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A MEDS dataset, identified without a single subject in it: its metadata, its size, and a
/// SHA-256 of each split's sorted subject list (whoever holds the data can recompute it; nobody
/// can read a subject from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// The dataset's `metadata/dataset.json`, as read.
    pub dataset: meds::metadata::DatasetMetadata,
    /// SHA-256 of `metadata/dataset.json`'s bytes.
    pub dataset_json_sha256: String,
    /// Subjects in all splits.
    pub subjects: u64,
    /// Per split: its subject count and the SHA-256 of its subject ids, sorted, one per line.
    pub splits: BTreeMap<String, SplitFingerprint>,
}

/// One split of a [`DataFingerprint`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFingerprint {
    /// Subjects in the split.
    pub subjects: u64,
    /// SHA-256 (hex) of the sorted subject ids, each followed by a newline.
    pub subject_list_sha256: String,
}

/// One file of a bundle, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

/// Writes a bundle into `dir` (created if missing): the weights file `weights` (as
/// [`crate::weights::save`] wrote it, e.g. a checkpoint's), `tokenizer` and `pretrain`, then the
/// manifest. Returns the manifest.
pub fn write(
    dir: &Path,
    weights: &Path,
    tokenizer: &Tokenizer,
    pretrain: &PretrainConfig,
) -> Result<Manifest, ModelError> {
    let write_error = |e: outputs::atomic::WriteError| ModelError::Io { path: e.path, source: e.source };
    let bytes = std::fs::read(weights).map_err(|e| ModelError::io(weights, e))?;
    outputs::atomic::write(&dir.join(WEIGHTS), outputs::atomic::Access::Shared, &bytes).map_err(write_error)?;
    drop(bytes);
    tokenizer.save(&dir.join(TOKENIZER)).map_err(|e| ModelError::format(&dir.join(TOKENIZER), e))?;
    let text = serde_json::to_string_pretty(pretrain).map_err(|e| ModelError::format(&dir.join(PRETRAIN), e))?;
    outputs::atomic::write(&dir.join(PRETRAIN), outputs::atomic::Access::Shared, text.as_bytes())
        .map_err(write_error)?;
    let mut files = BTreeMap::new();
    for name in [WEIGHTS, TOKENIZER, PRETRAIN] {
        files.insert(name.to_owned(), digest(&dir.join(name))?);
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        model: pretrain.model.clone(),
        vocabulary: tokenizer.len(),
        files,
        release: None,
    };
    outputs::atomic::write_json(&dir.join(MANIFEST), &manifest).map_err(write_error)?;
    Ok(manifest)
}

/// A bundle whose files match its manifest, with its tokenizer read.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    tokenizer: Tokenizer,
}

impl Bundle {
    /// Opens the bundle in `dir`, checking every file against the manifest (see the module
    /// documentation), and reads its tokenizer.
    pub fn open(dir: &Path) -> Result<Bundle, ModelError> {
        let path = dir.join(MANIFEST);
        let bad = |message: String| ModelError::Format { path: path.clone(), message };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                bad(format!(
                    "not a model bundle (no {MANIFEST}): give the `model` directory that `longitude pretrain` \
                     wrote; a bundle from an older build is made again by re-running pretrain"
                ))
            } else {
                ModelError::io(&path, e)
            }
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a model bundle manifest: {e}")))?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(bad(format!(
                "format {} version {}; this build reads {FORMAT} version {VERSION}",
                manifest.format, manifest.version
            )));
        }
        for name in [WEIGHTS, TOKENIZER, PRETRAIN] {
            if !manifest.files.contains_key(name) {
                return Err(bad(format!("the manifest does not list {name}")));
            }
        }
        for (name, expected) in &manifest.files {
            // A name that leaves the bundle would have it vouch for (and read) someone else's file.
            let inside = Path::new(name).components().all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(bad(format!("the manifest names {name:?}, which is not a path inside the bundle")));
            }
            let file = dir.join(name);
            let found = digest(&file)?;
            if &found != expected {
                return Err(ModelError::Format {
                    path: file,
                    message: format!(
                        "does not match the bundle's manifest ({} bytes, expected {}): the bundle was altered or \
                         copied incompletely",
                        found.bytes, expected.bytes
                    ),
                });
            }
        }
        let tokenizer =
            Tokenizer::load(&dir.join(TOKENIZER)).map_err(|e| ModelError::format(&dir.join(TOKENIZER), e))?;
        if tokenizer.len() != manifest.vocabulary || manifest.model.vocab_size != tokenizer.len() {
            return Err(bad(format!(
                "the tokenizer has {} tokens, the manifest says {} and the model {}",
                tokenizer.len(),
                manifest.vocabulary,
                manifest.model.vocab_size
            )));
        }
        Ok(Bundle { dir: dir.to_path_buf(), manifest, tokenizer })
    }

    /// The model on `device`; its weights' header must agree with the manifest's shape.
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<Model<B>, ModelError> {
        let path = self.weights();
        let (model, config) = crate::weights::load::<B>(&path, device)?;
        if config != self.manifest.model {
            return Err(ModelError::Format {
                path,
                message: "the weights' shape differs from the bundle manifest's".into(),
            });
        }
        Ok(model)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The weights file.
    pub fn weights(&self) -> PathBuf {
        self.dir.join(WEIGHTS)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.manifest.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

/// The size and SHA-256 of a file, read in blocks.
pub fn digest(path: &Path) -> Result<FileDigest, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(FileDigest { bytes, sha256 })
}
