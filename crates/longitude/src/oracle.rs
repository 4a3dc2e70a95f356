//! The generator's oracle for the built-in tasks: the ground truth it is answered from, which
//! simulated outcome each task's label stands for, and which simulated drug class a treatment
//! code starts.

use std::path::Path;

use anyhow::{Context, Result};

/// The generator's configuration (`longitude synth`'s OUT/truth/config.json) and its code table:
/// what the oracle replays patients from.
pub(crate) fn load(truth: &Path) -> Result<(synth::SynthConfig, meds::CodeTable)> {
    let path = truth.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: synth::SynthConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((config, synth::vocab::code_table()))
}

/// The simulator's outcome behind each built-in task, and its horizon: the label's own codes
/// recorded in the horizon (so the oracle is the ceiling for the label as coded, rule-out and
/// miscoded entries included); for tasks settled inside one hospital stay or lab draw, that
/// course's own outcome; for 30-day readmission, the discharge's scheduled readmission and the
/// re-drawn other admissions ([`synth::oracle::Outcome::Readmission`]).
pub(crate) fn outcome_of(task: &str) -> Option<(synth::oracle::Outcome, i64)> {
    use synth::oracle::ONE_YEAR;
    use synth::oracle::Outcome::{InHospitalDeath, PotassiumAtLeast, Readmission, Recorded, StayLongerThan};
    const THIRTY_DAYS: i64 = 30 * 86_400_000_000;
    Some(match task {
        "inhospital_mortality" => (InHospitalDeath, ONE_YEAR),
        "long_los_7d" => (StayLongerThan { days: 7 }, ONE_YEAR),
        "hyperkalemia_next_lab" => (PotassiumAtLeast { tenths: 55 }, ONE_YEAR),
        "readmission_30d" => (Readmission, THIRTY_DAYS),
        "new_t2d_1y" => (Recorded(&["ICD10CM/E11"]), ONE_YEAR),
        "new_ckd3_1y" => (Recorded(&["ICD10CM/N18.3", "ICD10CM/N18.4", "ICD10CM/N18.5", "ICD10CM/N18.6"]), ONE_YEAR),
        "new_heart_failure_1y" => (Recorded(&["ICD10CM/I50"]), ONE_YEAR),
        "stroke_in_af_1y" => (Recorded(&["ICD10CM/I63"]), ONE_YEAR),
        "mi_1y" => (Recorded(&["ICD10CM/I21", "ICD10CM/I22"]), ONE_YEAR),
        "colorectal_cancer_1y" => (Recorded(&["ICD10CM/C18", "ICD10CM/C19", "ICD10CM/C20"]), ONE_YEAR),
        "mortality_1y" => (Recorded(&["MEDS_DEATH"]), ONE_YEAR),
        _ => return None,
    })
}

/// Why a task without an [`outcome_of`] has no oracle answer.
pub(crate) const NO_ORACLE: &str = "the simulator's oracle answers the built-in suite's tasks: this task is not one \
     of them, so which simulated outcome its label stands for is unknown";

/// The simulated drug class whose agent `code` is (`RXNORM/1364430`, apixaban: anticoagulation),
/// and the codes of every agent of that class.
pub(crate) fn drug_of(code: &str) -> Option<(synth::Drug, Vec<&'static str>)> {
    synth::Drug::ALL.into_iter().find_map(|d| {
        let agents = [d.code(false).0, d.code(true).0];
        agents.contains(&code).then(|| {
            let mut codes = agents.to_vec();
            codes.dedup();
            (d, codes)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drug_class_is_found_by_either_agent() {
        let (drug, agents) = drug_of("RXNORM/11289").expect("warfarin");
        assert_eq!(drug, synth::Drug::Anticoagulant);
        assert_eq!(agents, vec!["RXNORM/1364430", "RXNORM/11289"]);
        assert_eq!(drug_of("RXNORM/83367").map(|(d, a)| (d, a.len())), Some((synth::Drug::Statin, 1)));
        assert!(drug_of("ICD10CM/I48").is_none());
    }
}
