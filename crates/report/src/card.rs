//! The model card: the ONC HTI-1 source attributes for predictive decision-support interventions
//! (45 CFR 170.315(b)(11)(iv)(B)), filled from the measured results where a measurement answers
//! the attribute and from the deploying organisation's statements ([`CardInfo`]) where only
//! people can; and its export as a CHAI Applied Model Card.
//!
//! An attribute nobody has measured or stated says so ("Not measured: …"): a card never claims
//! what was not done.

use serde::Serialize;
use serde_json::{Value, json};

use crate::{MethodResult, Report};

/// What the organisation states about the intervention (the parts no measurement can give).
#[derive(Debug, Clone, Serialize)]
pub struct CardInfo {
    /// Name and contact of the developer.
    pub developer: String,
    /// Funding source.
    pub funding: String,
    /// Intended users.
    pub intended_users: String,
    /// Decision-making role (informs, augments, replaces).
    pub decision_role: String,
    /// Where users are cautioned against using it.
    pub out_of_scope: String,
    /// Update and revalidation schedule.
    pub maintenance: String,
}

impl Default for CardInfo {
    fn default() -> CardInfo {
        CardInfo {
            developer: "The deploying health system's clinical AI team (Longitude maintainers for the software)".into(),
            funding: "Not stated by the deploying organisation".into(),
            intended_users: "Clinicians and care-management teams, through the EHR (FHIR, CDS Hooks)".into(),
            decision_role: "Informs clinical management: a risk estimate for a clinician to consider; it does not replace clinical judgement".into(),
            out_of_scope: "Patients outside the training population (children, for adult tasks); settings whose coding practice differs from the training data's without local validation; any use as the sole basis of a decision".into(),
            maintenance: "Revalidate on local data before go-live and at least quarterly, and after any change to the model, the coding practice or the population".into(),
        }
    }
}

/// One source attribute.
#[derive(Debug, Clone, Serialize)]
pub struct SourceAttribute {
    /// Its place in the rule, e.g. `7(i)`.
    pub id: String,
    /// The rule's group.
    pub group: String,
    /// The attribute.
    pub name: String,
    /// Its value for this intervention.
    pub value: String,
    /// Where the value comes from: `measured`, `stated` or `not measured`.
    pub source: String,
}

/// A model card for the candidate method across the report's tasks.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCard {
    /// The intervention's name.
    pub name: String,
    /// The method the card describes.
    pub method: String,
    /// When generated.
    pub generated: String,
    /// The source attributes.
    pub attributes: Vec<SourceAttribute>,
}

/// The candidate's results in settings whose description starts with `setting`.
fn candidate<'a>(report: &'a Report, setting: &str) -> Vec<(&'a str, &'a MethodResult)> {
    report
        .tasks
        .iter()
        .filter(|t| t.setting.starts_with(setting))
        .filter_map(|t| t.methods.iter().find(|m| m.method == report.candidate).map(|m| (t.task.as_str(), m)))
        .collect()
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.3}"))
}

fn validity(report: &Report, setting: &str) -> String {
    let rows: Vec<String> = candidate(report, setting)
        .iter()
        .map(|(task, m)| {
            let e = &m.evaluation;
            let ci = e.intervals.auroc.map_or(String::new(), |i| format!(" [{:.3}, {:.3}]", i.lower, i.upper));
            let useful = match eval::useful_thresholds(&e.decision_curve) {
                Some((lo, hi)) => format!(
                    "net benefit above treating all and none at thresholds {:.1}%–{:.1}%",
                    100.0 * lo,
                    100.0 * hi
                ),
                None => "net benefit above treating all and none at no threshold".into(),
            };
            format!(
                "{task}: AUROC {}{ci}, AUPRC {}, Brier {}, calibration slope {}, ECE {}, {useful} (n = {}, prevalence {})",
                fmt(e.metrics.auroc),
                fmt(e.metrics.auprc),
                fmt(e.metrics.brier),
                fmt(e.metrics.calibration_slope),
                fmt(e.metrics.ece),
                e.n,
                fmt(e.metrics.prevalence)
            )
        })
        .collect();
    if rows.is_empty() { "Not measured: no held-out predictions for this method".into() } else { rows.join("; ") }
}

fn fairness(report: &Report, setting: &str) -> String {
    let rows: Vec<String> = candidate(report, setting)
        .iter()
        .map(|(task, m)| {
            let parts: Vec<String> = m
                .evaluation
                .fairness
                .iter()
                .map(|a| format!("{} AUROC gap {}, flagged: {}", a.attribute, fmt(a.auroc_gap), a.flagged_summary()))
                .collect();
            format!(
                "{task}: {}",
                if parts.is_empty() { "no subgroup attributes available".into() } else { parts.join("; ") }
            )
        })
        .collect();
    if rows.is_empty() { "Not measured".into() } else { rows.join(" | ") }
}

/// What the "what if" comparisons say about using the model's futures for treatment questions.
fn what_if_limits(report: &Report) -> String {
    let judged: Vec<&crate::WhatIf> = report.what_if.iter().filter(|w| w.oracle.is_some()).collect();
    if judged.is_empty() {
        return String::new();
    }
    let opposite: Vec<String> = judged
        .iter()
        .filter(|w| w.verdict() == "opposite")
        .map(|w| {
            format!(
                "{} {} on {}: model RR {}, true RR {}",
                w.change,
                w.treatment,
                w.task,
                fmt(w.model.relative_risk),
                fmt(w.oracle.as_ref().and_then(|o| o.relative_risk))
            )
        })
        .collect();
    let agrees = judged.iter().filter(|w| w.verdict() == "agrees").count();
    if opposite.is_empty() {
        format!(
            " Treatment-change (\"what if\") questions: the model's direction agreed with the truth on {agrees} of {} \
             compared; its figures are associations learned from records, not treatment effects.",
            judged.len()
        )
    } else {
        format!(
            " Not for treatment decisions: the model's \"what if\" answers point the opposite way to the truth on {} of \
             {} compared ({}).",
            opposite.len(),
            judged.len(),
            opposite.join("; ")
        )
    }
}

/// Builds the card for `report.candidate`.
pub fn model_card(report: &Report, info: &CardInfo) -> ModelCard {
    let tasks: Vec<String> = report.tasks.iter().map(|t| t.task.clone()).collect();
    let measured = "measured";
    let stated = "stated";
    let none = "not measured";
    let external = report.external.as_deref();
    let rows: Vec<(&str, &str, &str, String, &str)> = vec![
        ("1(i)", "Details and output", "Name and contact information for the intervention developer", info.developer.clone(), stated),
        ("1(ii)", "Details and output", "Funding source of the intervention's development", info.funding.clone(), stated),
        ("1(iii)", "Details and output", "Description of value that the intervention produces as an output", format!("A probability (0–1) that the task's outcome occurs within its horizon, for: {}", tasks.join(", ")), measured),
        ("1(iv)", "Details and output", "Whether the output is a prediction, classification, recommendation, evaluation, analysis, or other", "Prediction (a calibrated risk estimate)".into(), stated),
        ("2(i)", "Purpose", "Intended use", "Identify patients at elevated risk of the task's outcome early enough to act (see each task's definition in the report)".into(), stated),
        ("2(ii)", "Purpose", "Intended patient population(s)", "Patients meeting each task's ACES inclusion criteria (trigger, prior-history exclusions, follow-up), as labelled in the report".into(), measured),
        ("2(iii)", "Purpose", "Intended user(s)", info.intended_users.clone(), stated),
        ("2(iv)", "Purpose", "Intended decision-making role", info.decision_role.clone(), stated),
        ("3(i)", "Cautioned out-of-scope use", "Tasks, situations, or populations where users are cautioned against applying it", info.out_of_scope.clone(), stated),
        ("3(ii)", "Cautioned out-of-scope use", "Known risks, inappropriate settings, inappropriate uses, or known limitations", format!("Subgroup disparities flagged in validation: {}. Rare outcomes give wide intervals.{}", fairness(report, "internal"), what_if_limits(report)), measured),
        ("4(i)", "Development details and input features", "Exclusion and inclusion criteria that influenced the training data set", format!("Training subjects: the train split of {}; labels by the tasks' ACES configurations (censoring excludes subjects without follow-up to the horizon)", report.dataset), measured),
        ("4(ii)", "Development details and input features", "Use of demographic and social variables as input features", "Age at prediction time and the static codes present in the data (sex, race, ethnicity) are inputs; language, sexual orientation, gender identity and social determinants are not recorded in the data and not used".into(), measured),
        ("4(iii)", "Development details and input features", "Demographic representativeness of the training data", "See the subgroup tables of the report: group sizes by sex, age band, race and ethnicity".into(), measured),
        ("4(iv)", "Development details and input features", "Relevance of training data to the intended deployed setting", format!("Trained on {}; validate locally before deployment elsewhere", report.dataset), stated),
        ("5(i)", "Fairness process", "Approach taken to ensure the output is fair", "Subgroup discrimination and calibration, and TPR/FPR/PPV/flag-rate ratios against the largest group at the operating threshold, flagged outside [0.8, 1.25], reviewed before approval".into(), measured),
        ("5(ii)", "Fairness process", "Approaches to manage, reduce, or eliminate bias", "Flagged disparities block approval until reviewed; a receiving site measures discrimination, calibration and the same subgroup ratios on its own data (`longitude evaluate --task-model`) before use, and may recalibrate it to its own outcome rates on its own labels (`--recalibrate-out`: slope and intercept of the log-odds, ranking unchanged); no protected attribute is used to set thresholds".into(), stated),
        ("6(i)", "External validation", "Data source, setting or environment of external validation", external.map_or("Not measured: no external dataset has been evaluated".into(), str::to_string), if external.is_some() { measured } else { none }),
        ("6(ii)", "External validation", "Party that conducted the external testing", external.map_or("Not measured".into(), |_| "The evaluating organisation (longitude evaluate on its own data)".into()), if external.is_some() { stated } else { none }),
        ("6(iii)", "External validation", "Demographic representativeness of external data", external.map_or("Not measured".into(), |_| "See the external section's subgroup tables".into()), if external.is_some() { measured } else { none }),
        ("6(iv)", "External validation", "External validation process", "longitude evaluate with the model bundle on the partner's MEDS data, on its premises; same metrics, intervals and fairness audit".into(), stated),
        ("7(i)", "Quantitative performance", "Validity in test data from the same source as training", { let t = validity(report, "temporal"); let i = validity(report, "internal"); if candidate(report, "temporal").is_empty() { i } else { format!("{i} | temporal validation: {t}") } }, measured),
        ("7(ii)", "Quantitative performance", "Fairness in test data from the same source as training", fairness(report, "internal"), measured),
        ("7(iii)", "Quantitative performance", "Validity in external data", external.map_or("Not measured".into(), |_| validity(report, "external")), if external.is_some() { measured } else { none }),
        ("7(iv)", "Quantitative performance", "Fairness in external data", external.map_or("Not measured".into(), |_| fairness(report, "external")), if external.is_some() { measured } else { none }),
        ("7(v)", "Quantitative performance", "References to evaluations of the intervention's effect on outcomes", "None: no prospective or outcome study has been done".into(), none),
        ("8(i)", "Ongoing maintenance", "Update and continued validation or fairness assessment schedule", info.maintenance.clone(), stated),
        ("8(ii)", "Ongoing maintenance", "Process and frequency of monitoring validity over time", "Real-world monitoring of calibration and discrimination as outcomes accrue (Longitude's monitoring stage)".into(), stated),
        ("8(iii)", "Ongoing maintenance", "Validity in local data", "Not measured: requires deployment-site data (the site runs `longitude evaluate --task-model` on its own MEDS data)".into(), none),
        ("8(iv)", "Ongoing maintenance", "Process and frequency of monitoring fairness over time", "The subgroup audit is re-run with each monitoring period".into(), stated),
        ("8(v)", "Ongoing maintenance", "Fairness in local data", "Not measured: requires deployment-site data (the same command audits the site's subgroups)".into(), none),
    ];
    ModelCard {
        name: report.title.clone(),
        method: report.candidate.clone(),
        generated: report.generated.clone(),
        attributes: rows
            .into_iter()
            .map(|(id, group, name, value, source)| SourceAttribute {
                id: id.into(),
                group: group.into(),
                name: name.into(),
                value,
                source: source.into(),
            })
            .collect(),
    }
}

/// The card as a CHAI Applied Model Card (its sections: model details, uses and directions,
/// warnings, trust ingredients, key metrics, resources), each value carried over from the
/// HTI-1 attributes it corresponds to.
pub fn chai(card: &ModelCard) -> Value {
    let get = |id: &str| card.attributes.iter().find(|a| a.id == id).map_or(String::new(), |a| a.value.clone());
    json!({
        "format": "CHAI Applied Model Card",
        "model_details": {
            "name": card.name,
            "method": card.method,
            "developer": get("1(i)"),
            "release_date": card.generated,
            "summary": get("1(iii)"),
        },
        "uses_and_directions": {
            "intended_use_and_workflow": get("2(i)"),
            "primary_intended_users": get("2(iii)"),
            "how_to_use": get("2(iv)"),
            "targeted_patient_population": get("2(ii)"),
            "cautioned_out_of_scope_settings_and_use_cases": get("3(i)"),
        },
        "warnings": {
            "known_risks_and_limitations": get("3(ii)"),
            "known_biases_or_ethical_considerations": get("7(ii)"),
        },
        "trust_ingredients": {
            "ai_system_facts": {
                "outcomes_and_outputs": get("1(iv)"),
                "foundation_models_used": card.method,
                "input_data_source": get("4(i)"),
                "development_data_characterization": get("4(iii)"),
                "bias_mitigation_approaches": get("5(ii)"),
                "ongoing_maintenance": get("8(i)"),
            },
            "transparency_information": { "funding_source": get("1(ii)") },
        },
        "key_metrics": {
            "usefulness_usability_efficacy": get("7(i)"),
            "fairness_equity": get("7(ii)"),
            "safety_reliability": get("3(ii)"),
        },
        "resources": {
            "evaluation_references": get("7(v)"),
            "external_validation": get("6(i)"),
        },
        "hti1_source_attributes": card.attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WhatIf;
    use artifacts::Effect;

    fn effect(rr: f64, lo: f64, hi: f64) -> Effect {
        Effect {
            prediction_times: 400,
            subjects: 380,
            risk_as_recorded: 0.01,
            risk_changed: 0.01 * rr,
            difference: 0.01 * rr - 0.01,
            difference_interval: None,
            relative_risk: Some(rr),
            relative_risk_interval: Some(eval::Interval { lower: lo, upper: hi }),
        }
    }

    fn what_if(model: Effect, oracle: Option<Effect>) -> WhatIf {
        WhatIf {
            task: "stroke_in_af_1y".into(),
            treatment: "RXNORM/1364430".into(),
            change: "withhold".into(),
            compared: 400,
            model,
            oracle,
            correlation: Some(-0.04),
        }
    }

    fn report(what_if: Vec<WhatIf>) -> Report {
        crate::test_report(Vec::new(), what_if)
    }

    #[test]
    fn the_verdict_compares_the_sides_of_one_the_intervals_lie_on() {
        let truth = Some(effect(2.57, 2.47, 2.68));
        assert_eq!(what_if(effect(0.65, 0.48, 0.87), truth.clone()).verdict(), "opposite");
        assert_eq!(what_if(effect(1.8, 1.2, 2.5), truth.clone()).verdict(), "agrees");
        assert_eq!(what_if(effect(1.1, 0.8, 1.5), truth).verdict(), "unresolved");
        assert_eq!(what_if(effect(0.65, 0.48, 0.87), None).verdict(), "no truth");
    }

    #[test]
    fn the_card_warns_when_what_if_answers_point_the_wrong_way() {
        let limits = |w: Vec<WhatIf>| {
            let card = model_card(&report(w), &CardInfo::default());
            card.attributes.iter().find(|a| a.id == "3(ii)").expect("3(ii)").value.clone()
        };
        let wrong = limits(vec![what_if(effect(0.65, 0.48, 0.87), Some(effect(2.57, 2.47, 2.68)))]);
        assert!(
            wrong.contains("Not for treatment decisions") && wrong.contains("model RR 0.650, true RR 2.570"),
            "{wrong}"
        );
        let right = limits(vec![what_if(effect(1.8, 1.2, 2.5), Some(effect(2.57, 2.47, 2.68)))]);
        assert!(right.contains("agreed with the truth on 1 of 1"), "{right}");
        // Without a truth nothing is claimed either way.
        assert!(!limits(vec![what_if(effect(0.65, 0.48, 0.87), None)]).contains("what if"));
    }
}
