//! The built-in task suite, in the spirit of EHRSHOT and MEDS-DEV: chronic-disease onset, acute
//! events, operational outcomes, a lab-value task and mortality, written in ACES against the
//! codes Longitude's generator and FHIR ingest produce (ICD-10-CM, LOINC, CPT, `ENCOUNTER/IMP`,
//! `ENCOUNTER_END/IMP`, `MEDS_DEATH`). The YAML files live in `crates/tasks/suite/` and are
//! compiled in; `longitude label --suite` writes them all.

use crate::config::{TaskConfig, suite_path};
use crate::error::Result;
use crate::labeler::Task;

/// `(name, YAML)` for every built-in task.
pub const SUITE: &[(&str, &str)] = &[
    ("new_t2d_1y", include_str!("../suite/new_t2d_1y.yaml")),
    ("new_ckd3_1y", include_str!("../suite/new_ckd3_1y.yaml")),
    ("new_heart_failure_1y", include_str!("../suite/new_heart_failure_1y.yaml")),
    ("stroke_in_af_1y", include_str!("../suite/stroke_in_af_1y.yaml")),
    ("mi_1y", include_str!("../suite/mi_1y.yaml")),
    ("colorectal_cancer_1y", include_str!("../suite/colorectal_cancer_1y.yaml")),
    ("readmission_30d", include_str!("../suite/readmission_30d.yaml")),
    ("inhospital_mortality", include_str!("../suite/inhospital_mortality.yaml")),
    ("long_los_7d", include_str!("../suite/long_los_7d.yaml")),
    ("hyperkalemia_next_lab", include_str!("../suite/hyperkalemia_next_lab.yaml")),
    ("mortality_1y", include_str!("../suite/mortality_1y.yaml")),
];

/// The built-in tasks that predict the onset of a chronic disease (the validation report holds
/// the foundation model to the oracle on these).
pub const CHRONIC: &[&str] = &["new_t2d_1y", "new_ckd3_1y", "new_heart_failure_1y"];

/// Names of the built-in tasks.
pub fn names() -> impl Iterator<Item = &'static str> {
    SUITE.iter().map(|(n, _)| *n)
}

/// Parses and compiles one built-in task.
pub fn task(name: &str) -> Option<Result<Task>> {
    let (_, yaml) = SUITE.iter().find(|(n, _)| *n == name)?;
    let path = suite_path(name);
    Some(TaskConfig::parse(name, &path, yaml, None).and_then(|c| Task::new(c, path)))
}

/// Parses and compiles every built-in task.
pub fn all() -> Result<Vec<Task>> {
    names().map(|n| task(n).unwrap_or_else(|| unreachable_name(n))).collect()
}

/// The tasks of a labelling run: each ACES file in `files` (with the MEDS-DEV style
/// `predicates` file, if any), then, with `suite`, the built-in tasks named in `only` (all of
/// them when it is empty). Refuses an empty selection, a name in `only` the suite does not
/// have, and two tasks of one name (each writes `<name>.parquet`: one would overwrite the other).
pub fn select(
    files: &[std::path::PathBuf],
    predicates: Option<&std::path::Path>,
    suite: bool,
    only: &[String],
) -> Result<Vec<Task>> {
    use crate::error::TaskError;
    let mut tasks = files.iter().map(|path| Task::load(path, predicates)).collect::<Result<Vec<_>>>()?;
    if suite {
        if let Some(name) = only.iter().find(|o| !names().any(|n| n == o.as_str())) {
            return Err(TaskError::NotInSuite { name: name.clone(), suite: names().collect::<Vec<_>>().join(", ") });
        }
        for name in names().filter(|n| only.is_empty() || only.iter().any(|o| o == n)) {
            tasks.push(task(name).unwrap_or_else(|| unreachable_name(name))?);
        }
    }
    if tasks.is_empty() {
        return Err(TaskError::NoTask);
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(t) = tasks.iter().find(|t| !seen.insert(t.name())) {
        return Err(TaskError::DuplicateName(t.name().to_string()));
    }
    Ok(tasks)
}

fn unreachable_name(name: &str) -> Result<Task> {
    Err(crate::error::TaskError::Config { path: suite_path(name), message: "not in the suite".into() })
}
