//! A label directory (`longitude label`'s output): `<task>.parquet` per task in the MEDS label
//! schema, and `label_report.json` ([`LabelReports`]), which accounts for every trigger and names
//! each task's definition so that later steps (zero-shot, what-if) read futures with the same
//! task.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use outputs::artifact::Artifact;
use serde::{Deserialize, Serialize};

use crate::config::suite_name;
use crate::error::{Result, TaskError};
use crate::labeler::{LabelReport, Task};

/// The report's file name in a label directory.
pub const REPORT_FILE: &str = "label_report.json";

/// What labelling did for every task of a label directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelReports {
    /// One report per task, in the order labelled.
    pub tasks: Vec<LabelReport>,
}

impl Artifact for LabelReports {
    const FORMAT: &'static str = "longitude-label-report";
    const VERSION: u32 = 1;
}

impl LabelReports {
    /// The report of the label directory `dir`.
    pub fn read(dir: &Path) -> Result<LabelReports> {
        Ok(outputs::artifact::read(&Self::path(dir))?)
    }

    /// Writes the report into the label directory `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        Ok(outputs::artifact::write(&Self::path(dir), self)?)
    }

    /// The report's path in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(REPORT_FILE)
    }

    /// Each task's definition by name: built-in suite tasks by name, others loaded again from
    /// the configuration file the report names (with `predicates`, the predicates file the labels
    /// were made with).
    pub fn definitions(&self, predicates: Option<&Path>) -> Result<HashMap<String, Task>> {
        let mut out = HashMap::new();
        for report in &self.tasks {
            let task = match suite_name(&report.source) {
                Some(name) => match crate::suite::task(name) {
                    Some(t) => t?,
                    None => {
                        return Err(TaskError::UnknownBuiltin { task: report.task.clone(), builtin: name.to_string() });
                    }
                },
                None => Task::load(Path::new(&report.source), predicates)?,
            };
            out.insert(report.task.clone(), task);
        }
        Ok(out)
    }
}

/// Labels `dataset` with every one of `tasks` into the label directory `out` (which the caller
/// has claimed): `<task>.parquet` each, then `label_report.json`. `on_task` sees each task's
/// report and the seconds it took, as soon as its labels are written.
pub fn label_all(
    tasks: &[Task],
    dataset: &meds::Dataset,
    out: &Path,
    on_task: &mut dyn FnMut(&Task, &LabelReport, f64),
) -> Result<LabelReports> {
    let mut reports = LabelReports { tasks: Vec::with_capacity(tasks.len()) };
    for task in tasks {
        let started = std::time::Instant::now();
        let (labels, report) = task.label(dataset)?;
        meds::labels::write_boolean_labels(&out.join(format!("{}.parquet", task.name())), &labels)?;
        on_task(task, &report, started.elapsed().as_secs_f64());
        reports.tasks.push(report);
    }
    reports.write(out)?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_come_back_from_the_report_for_built_in_tasks_and_files() {
        let dir = tempfile::tempdir().expect("dir");
        let builtin = crate::suite::task("mi_1y").expect("in the suite").expect("parses");
        let yaml = testkit::repo_root().join("tests/data/aces/aces-sample-configs/inhospital_mortality.yaml");
        let file_task = Task::load(&yaml, None).expect("loads");
        let dataset = meds::Dataset::open(testkit::repo_root().join("tests/data/meds/aces-meds-sample")).expect("open");
        let mut reports = LabelReports { tasks: Vec::new() };
        for task in [&builtin, &file_task] {
            let (_, report) = task.label(&dataset).expect("labels");
            reports.tasks.push(report);
        }
        reports.write(dir.path()).expect("write");
        let back = LabelReports::read(dir.path()).expect("read");
        assert_eq!(back, reports);
        let definitions = back.definitions(None).expect("definitions");
        assert_eq!(definitions.len(), 2);
        assert_eq!(definitions["mi_1y"].source, builtin.source);
        assert_eq!(definitions["inhospital_mortality"].source, yaml);

        let mut unknown = back.clone();
        unknown.tasks[0].source = "<built-in suite>/no_such_task.yaml".into();
        let err = unknown.definitions(None).expect_err("unknown built-in").to_string();
        assert!(err.contains("no_such_task"), "{err}");
    }
}
