//! Assembling a release: the pretrained bundle plus everything a governance board and a partner
//! need to judge and use it, under one manifest the owner signs.
//!
//! [`assemble`] copies into a new directory the pretrained model's files, every task model
//! `longitude adapt` fitted (`tasks/<task>/<method>.model.json` and the fine-tuned weights beside
//! them — never the predictions, which are patient-level), and the validation report and model
//! cards (`report/`); then writes the manifest, last, with every file's digest and the
//! [`Release`] section: the owner, the time, the code version, and the training data's
//! fingerprint — its `dataset.json`, its size and a hash of each split's subject list, never a
//! subject — and its reference profile for monitoring ([`REFERENCE`]: its last year by month, as
//! code rates and value percentiles, never a patient).
//!
//! Architecture invariant: nothing is copied from a model bundle that does not verify as it
//! stands, and the manifest is written only after every file it pins is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model::bundle::{Bundle, DataFingerprint, MANIFEST, Release, SplitFingerprint};
use sha2::{Digest, Sha256};

use crate::ProvenanceError;

/// The report's files a release carries, under `report/`; the first two are required.
const REPORT_FILES: [&str; 4] = ["report.json", "model_card.json", "chai_model_card.json", "report.html"];

/// Where a release keeps its training data's reference profile.
pub const REFERENCE: &str = "data/reference.json";

/// The months of training data the reference profile holds (the last ones with data).
pub const REFERENCE_MONTHS: u32 = 12;

/// What goes into a release.
#[derive(Debug, Clone)]
pub struct ReleasePlan {
    /// The pretrained model bundle (`longitude pretrain`'s `model` directory).
    pub model: PathBuf,
    /// The adaptation output (`longitude adapt --out`): one folder of task models per task.
    pub adapted: PathBuf,
    /// The report directory (`longitude report --out`): report.json and the model cards.
    pub report: PathBuf,
    /// The MEDS dataset the model was trained and validated on (fingerprinted, not copied).
    pub dataset: PathBuf,
    /// The owning organisation.
    pub owner: String,
    /// The new release directory (must not exist).
    pub out: PathBuf,
}

/// Assembles the release `plan` describes; returns its manifest's SHA-256 (unsigned: sign it
/// with [`crate::sign`]).
pub fn assemble(plan: &ReleasePlan) -> Result<String, ProvenanceError> {
    if plan.owner.trim().is_empty() {
        return Err(ProvenanceError::Release("the owner's name is empty".into()));
    }
    let inputs = [plan.model.clone(), plan.adapted.clone(), plan.report.clone(), plan.dataset.clone()];
    outputs::check_apart(&[&plan.out], &inputs).map_err(|e| ProvenanceError::Release(e.to_string()))?;
    let bundle = Bundle::open(&plan.model)?;
    if bundle.manifest().release.is_some() {
        return Err(ProvenanceError::Release(format!(
            "{} is already a release: give the `model` directory that `longitude pretrain` wrote",
            plan.model.display()
        )));
    }
    let report_json = plan.report.join(REPORT_FILES[0]);
    let card = plan.report.join(REPORT_FILES[1]);
    for required in [&report_json, &card] {
        if !required.is_file() {
            return Err(ProvenanceError::Release(format!(
                "{} is missing: give the directory `longitude report --out` wrote",
                required.display()
            )));
        }
    }
    let training_data = fingerprint(&plan.dataset)?;
    let mut copies: Vec<(PathBuf, String)> =
        bundle.manifest().files.keys().map(|name| (plan.model.join(name), name.clone())).collect();
    let tasks = task_models(&plan.adapted, &mut copies)?;
    if tasks.is_empty() {
        return Err(ProvenanceError::Release(format!(
            "{} holds no task models: give the directory `longitude adapt --out` wrote",
            plan.adapted.display()
        )));
    }
    // Every check above made before the release folder exists: a refused release leaves nothing.
    std::fs::create_dir(&plan.out).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => {
            ProvenanceError::Release(format!("{} is already there: a release is written once", plan.out.display()))
        }
        _ => ProvenanceError::Io { path: plan.out.clone(), source },
    })?;
    for name in REPORT_FILES {
        let from = plan.report.join(name);
        if from.is_file() {
            copies.push((from, format!("report/{name}")));
        }
    }
    let mut files = BTreeMap::new();
    for (from, name) in &copies {
        let to = plan.out.join(name);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ProvenanceError::Io { path: parent.into(), source })?;
        }
        let bytes = std::fs::read(from).map_err(|source| ProvenanceError::Io { path: from.clone(), source })?;
        outputs::atomic::write(&to, outputs::atomic::Access::Shared, &bytes)
            .map_err(|e| ProvenanceError::Io { path: e.path, source: e.source })?;
        files.insert(name.clone(), model::bundle::digest(&to)?);
    }
    // What monitoring compares later data with: the training data's last year, by month.
    let reference = match monitor::reference_of_dataset(&plan.dataset, REFERENCE_MONTHS) {
        Ok(Some(r)) => {
            let to = plan.out.join(REFERENCE);
            outputs::atomic::write_json(&to, &r).map_err(|e| ProvenanceError::Io { path: e.path, source: e.source })?;
            files.insert(REFERENCE.to_string(), model::bundle::digest(&to)?);
            Some(REFERENCE.to_string())
        }
        // A dataset described by its metadata alone has no events to profile.
        Ok(None) | Err(meds::MedsError::NoShards { .. }) => None,
        Err(e) => return Err(ProvenanceError::Release(format!("the training data's reference profile: {e}"))),
    };
    let mut manifest = bundle.manifest().clone();
    manifest.files = files;
    manifest.release = Some(Release {
        owner: plan.owner.trim().to_string(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        code_version: format!("longitude {}", env!("CARGO_PKG_VERSION")),
        training_data,
        tasks,
        report: "report/report.json".into(),
        model_card: "report/model_card.json".into(),
        reference,
    });
    let path = plan.out.join(MANIFEST);
    outputs::atomic::write_json(&path, &manifest)
        .map_err(|e| ProvenanceError::Io { path: e.path, source: e.source })?;
    // What was written must open as a bundle, every digest checked, before it is handed on.
    Bundle::open(&plan.out)?;
    crate::manifest_sha256(&plan.out)
}

/// Adds every task model under `adapted` (and the weights files beside them) to `copies`;
/// returns the tasks found, sorted.
fn task_models(adapted: &Path, copies: &mut Vec<(PathBuf, String)>) -> Result<Vec<String>, ProvenanceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProvenanceError::Io { path, source }
    };
    let mut tasks = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(adapted).map_err(io(adapted))?.collect::<Result<_, _>>().map_err(io(adapted))?;
    entries.sort_by_key(|e| e.file_name());
    for task in entries.into_iter().filter(|e| e.path().is_dir()) {
        let Some(task_name) = task.file_name().to_str().map(str::to_string) else { continue };
        let mut files: Vec<_> = std::fs::read_dir(task.path())
            .map_err(io(&task.path()))?
            .collect::<Result<_, _>>()
            .map_err(io(&task.path()))?;
        files.sort_by_key(|e| e.file_name());
        let mut any = false;
        for file in files {
            let Some(name) = file.file_name().to_str().map(str::to_string) else { continue };
            if name.ends_with(".model.json") || name.ends_with(".safetensors") {
                any |= name.ends_with(".model.json");
                copies.push((file.path(), format!("tasks/{task_name}/{name}")));
            }
        }
        if any {
            tasks.push(task_name);
        }
    }
    Ok(tasks)
}

/// The fingerprint of the MEDS dataset at `root`.
pub fn fingerprint(root: &Path) -> Result<DataFingerprint, ProvenanceError> {
    let meds_error =
        |e: meds::MedsError| ProvenanceError::Release(format!("the training data at {}: {e}", root.display()));
    let dataset = meds::metadata::DatasetMetadata::read(root).map_err(meds_error)?;
    let dataset_path = root.join("metadata/dataset.json");
    let bytes = std::fs::read(&dataset_path).map_err(|source| ProvenanceError::Io { path: dataset_path, source })?;
    let mut by_split: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (subject, split) in meds::metadata::read_subject_splits(root).map_err(meds_error)? {
        by_split.entry(split).or_default().push(subject);
    }
    let mut subjects = 0;
    let splits = by_split
        .into_iter()
        .map(|(split, mut ids)| {
            ids.sort_unstable();
            let mut hasher = Sha256::new();
            for id in &ids {
                hasher.update(format!("{id}\n").as_bytes());
            }
            subjects += ids.len() as u64;
            let fingerprint =
                SplitFingerprint { subjects: ids.len() as u64, subject_list_sha256: crate::hex(&hasher.finalize()) };
            (split, fingerprint)
        })
        .collect();
    Ok(DataFingerprint { dataset, dataset_json_sha256: crate::hex(&Sha256::digest(&bytes)), subjects, splits })
}
