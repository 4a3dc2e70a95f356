//! Answers as FHIR R4: a `RiskAssessment` per patient and task, gathered in a `collection`
//! Bundle.
//!
//! `prediction.probabilityDecimal` is a fraction from 0 to 1 (FHIR's `ras-2` reads it as a
//! percentage, at most 100, which a fraction satisfies); the resource's note says so, so that no
//! reader takes 0.12 for 0.12 %. `qualitativeRisk` uses HL7's `risk-probability` codes (`low`,
//! `moderate`, `high`), banded by the task's validated operating point and prevalence.

use serde_json::{Value, json};

use crate::risk::{BasisItem, Prediction};

/// The code system of the methods that score (`counts_gbm`, `fm_probe`, …).
pub const METHOD_SYSTEM: &str = "https://longitude.health/fhir/CodeSystem/method";
/// The identifier system of model versions (`name@version`).
pub const MODEL_SYSTEM: &str = "https://longitude.health/fhir/NamingSystem/model-version";
/// The identifier system of the tasks a version answers.
pub const TASK_SYSTEM: &str = "https://longitude.health/fhir/CodeSystem/task";

/// One prediction as a `RiskAssessment` by the model version `model` (`name@version`) using
/// `method`.
pub fn risk_assessment(p: &Prediction, model: &str, method: &str) -> Value {
    let mut outcome = json!({ "coding": [{ "system": TASK_SYSTEM, "code": p.task }] });
    if !p.description.is_empty() {
        outcome["text"] = json!(p.description);
    }
    let mut prediction = json!({
        "outcome": outcome,
        "probabilityDecimal": p.probability,
        "qualitativeRisk": {
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/risk-probability",
                "code": p.band,
            }]
        },
    });
    if let Some(basis) = p.basis.as_ref().filter(|b| !b.is_empty()) {
        prediction["rationale"] = json!(format!("What moved this risk most: {}.", crate::fhir_out::basis_text(basis)));
    }
    if let Some(horizon) = &p.horizon {
        prediction["whenPeriod"] = json!({ "start": p.as_of, "end": horizon });
    }
    json!({
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": { "reference": p.patient },
        "occurrenceDateTime": p.as_of,
        "method": {
            "coding": [{ "system": METHOD_SYSTEM, "code": method }],
            "text": format!("{method} of model {model}"),
        },
        "performer": {
            "type": "Device",
            "identifier": { "system": MODEL_SYSTEM, "value": model },
            "display": format!("Longitude model {model}"),
        },
        "prediction": [prediction],
        "note": [{
            "text": format!(
                "probabilityDecimal is a fraction from 0 to 1 ({:.1} %), as of the latest dated event of the record sent; \
                 read from {} events.",
                p.probability * 100.0,
                p.events
            )
        }],
    })
}

/// A basis in words: `FEATURE = VALUE (+0.42)`, largest first.
pub fn basis_text(basis: &[BasisItem]) -> String {
    basis
        .iter()
        .map(|b| {
            let value = b.value.map_or_else(|| "none recorded".to_string(), |v| format!("{v}"));
            format!("{} = {value} ({:+.2} log-odds)", b.feature, b.log_odds)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The predictions as a `collection` Bundle of `RiskAssessment`s.
pub fn bundle(predictions: &[Prediction], model: &str, method: &str) -> Value {
    let entries: Vec<Value> =
        predictions.iter().map(|p| json!({ "resource": risk_assessment(p, model, method) })).collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}
