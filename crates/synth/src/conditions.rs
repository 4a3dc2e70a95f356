//! The conditions the simulator models and the drug classes that treat them.

use serde::{Deserialize, Serialize};

use crate::vocab::{Code, dx, rx};

/// A modelled condition. Chronic conditions have one true onset; acute ones (MI, stroke, sepsis,
/// GI bleed) record their first occurrence as onset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// HbA1c ≥ 5.7%.
    Prediabetes,
    /// HbA1c ≥ 6.5%.
    Diabetes,
    /// Underlying systolic pressure ≥ 140 mmHg.
    Hypertension,
    /// Underlying LDL ≥ 160 mg/dL.
    Hyperlipidemia,
    /// eGFR < 60.
    Ckd3,
    /// eGFR < 30.
    Ckd4,
    /// eGFR < 15.
    Ckd5,
    /// Coronary artery disease.
    CoronaryDisease,
    /// Acute myocardial infarction.
    MyocardialInfarction,
    /// Atrial fibrillation.
    AtrialFibrillation,
    /// Ischemic stroke.
    Stroke,
    /// Heart failure.
    HeartFailure,
    /// COPD.
    Copd,
    /// Colorectal cancer.
    ColorectalCancer,
    /// Sepsis.
    Sepsis,
    /// Gastrointestinal bleeding.
    GiBleed,
}

impl Condition {
    /// Every condition, in order.
    pub const ALL: [Condition; 16] = [
        Condition::Prediabetes,
        Condition::Diabetes,
        Condition::Hypertension,
        Condition::Hyperlipidemia,
        Condition::Ckd3,
        Condition::Ckd4,
        Condition::Ckd5,
        Condition::CoronaryDisease,
        Condition::MyocardialInfarction,
        Condition::AtrialFibrillation,
        Condition::Stroke,
        Condition::HeartFailure,
        Condition::Copd,
        Condition::ColorectalCancer,
        Condition::Sepsis,
        Condition::GiBleed,
    ];

    /// The number of conditions.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index (for per-condition arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in ground-truth files.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Prediabetes => "prediabetes",
            Condition::Diabetes => "diabetes",
            Condition::Hypertension => "hypertension",
            Condition::Hyperlipidemia => "hyperlipidemia",
            Condition::Ckd3 => "ckd3",
            Condition::Ckd4 => "ckd4",
            Condition::Ckd5 => "ckd5",
            Condition::CoronaryDisease => "coronary_disease",
            Condition::MyocardialInfarction => "myocardial_infarction",
            Condition::AtrialFibrillation => "atrial_fibrillation",
            Condition::Stroke => "stroke",
            Condition::HeartFailure => "heart_failure",
            Condition::Copd => "copd",
            Condition::ColorectalCancer => "colorectal_cancer",
            Condition::Sepsis => "sepsis",
            Condition::GiBleed => "gi_bleed",
        }
    }

    /// The usual ICD-10-CM code.
    pub fn code(self) -> Code {
        match self {
            Condition::Prediabetes => dx::PREDIABETES,
            Condition::Diabetes => dx::T2D,
            Condition::Hypertension => dx::HYPERTENSION,
            Condition::Hyperlipidemia => dx::HYPERLIPIDEMIA,
            Condition::Ckd3 => dx::CKD3,
            Condition::Ckd4 => dx::CKD4,
            Condition::Ckd5 => dx::CKD5,
            Condition::CoronaryDisease => dx::CAD,
            Condition::MyocardialInfarction => dx::MI,
            Condition::AtrialFibrillation => dx::AFIB,
            Condition::Stroke => dx::STROKE,
            Condition::HeartFailure => dx::HEART_FAILURE,
            Condition::Copd => dx::COPD,
            Condition::ColorectalCancer => dx::COLON_CANCER,
            Condition::Sepsis => dx::SEPSIS,
            Condition::GiBleed => dx::GI_BLEED,
        }
    }

    /// A code a coder might pick by mistake for this condition (a neighbouring stage or a
    /// milder related code).
    pub fn confusable(self) -> Code {
        match self {
            Condition::Prediabetes => dx::T2D,
            Condition::Diabetes => dx::PREDIABETES,
            Condition::Hypertension => dx::HEART_FAILURE,
            Condition::Hyperlipidemia => dx::CAD,
            Condition::Ckd3 => dx::CKD4,
            Condition::Ckd4 => dx::CKD3,
            Condition::Ckd5 => dx::CKD4,
            Condition::CoronaryDisease => dx::MI,
            Condition::MyocardialInfarction => dx::CAD,
            Condition::AtrialFibrillation => dx::HYPERTENSION,
            Condition::Stroke => dx::AFIB,
            Condition::HeartFailure => dx::HYPERTENSION,
            Condition::Copd => dx::PNEUMONIA,
            Condition::ColorectalCancer => dx::ANEMIA,
            Condition::Sepsis => dx::PNEUMONIA,
            Condition::GiBleed => dx::ANEMIA,
        }
    }

    /// Whether the condition, once present, stays (as opposed to an acute episode).
    pub fn chronic(self) -> bool {
        !matches!(self, Condition::MyocardialInfarction | Condition::Stroke | Condition::Sepsis | Condition::GiBleed)
    }
}

/// A drug class the simulator prescribes, with the effect it has on the hidden state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drug {
    /// Metformin: HbA1c −0.9.
    Metformin,
    /// SGLT2 inhibitor: HbA1c −0.6, eGFR decline −40%, heart-failure hazard ×0.7.
    Sglt2,
    /// GLP-1 receptor agonist: HbA1c −1.0, weight loss, MI hazard ×0.85.
    Glp1,
    /// Basal insulin: HbA1c −1.5.
    Insulin,
    /// ACE inhibitor or ARB: SBP −10, excess eGFR decline −35%, potassium +0.2.
    AceArb,
    /// Calcium-channel blocker: SBP −9.
    Amlodipine,
    /// Thiazide: SBP −8, potassium −0.2, sodium −1.5.
    Thiazide,
    /// Statin: LDL −35%, MI and coronary hazards ×0.7.
    Statin,
    /// Anticoagulant: stroke hazard in AF ×0.35, bleeding hazard +2%/year.
    Anticoagulant,
    /// Beta blocker: heart rate −10.
    BetaBlocker,
    /// Loop diuretic: potassium −0.3, sodium −2, fewer heart-failure admissions.
    LoopDiuretic,
    /// Long-acting bronchodilator: COPD exacerbations ×0.7.
    Bronchodilator,
}

impl Drug {
    /// Every drug class, in order.
    pub const ALL: [Drug; 12] = [
        Drug::Metformin,
        Drug::Sglt2,
        Drug::Glp1,
        Drug::Insulin,
        Drug::AceArb,
        Drug::Amlodipine,
        Drug::Thiazide,
        Drug::Statin,
        Drug::Anticoagulant,
        Drug::BetaBlocker,
        Drug::LoopDiuretic,
        Drug::Bronchodilator,
    ];

    /// The number of drug classes.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in ground-truth files.
    pub fn name(self) -> &'static str {
        match self {
            Drug::Metformin => "metformin",
            Drug::Sglt2 => "sglt2_inhibitor",
            Drug::Glp1 => "glp1_agonist",
            Drug::Insulin => "insulin",
            Drug::AceArb => "ace_inhibitor_or_arb",
            Drug::Amlodipine => "calcium_channel_blocker",
            Drug::Thiazide => "thiazide",
            Drug::Statin => "statin",
            Drug::Anticoagulant => "anticoagulant",
            Drug::BetaBlocker => "beta_blocker",
            Drug::LoopDiuretic => "loop_diuretic",
            Drug::Bronchodilator => "bronchodilator",
        }
    }

    /// The RxNorm ingredient prescribed (`alternative` picks the class's second agent where it
    /// has one: losartan for ACE/ARB, warfarin for anticoagulation).
    pub fn code(self, alternative: bool) -> Code {
        match self {
            Drug::Metformin => rx::METFORMIN,
            Drug::Sglt2 => rx::EMPAGLIFLOZIN,
            Drug::Glp1 => rx::SEMAGLUTIDE,
            Drug::Insulin => rx::INSULIN_GLARGINE,
            Drug::AceArb if alternative => rx::LOSARTAN,
            Drug::AceArb => rx::LISINOPRIL,
            Drug::Amlodipine => rx::AMLODIPINE,
            Drug::Thiazide => rx::HCTZ,
            Drug::Statin => rx::ATORVASTATIN,
            Drug::Anticoagulant if alternative => rx::WARFARIN,
            Drug::Anticoagulant => rx::APIXABAN,
            Drug::BetaBlocker => rx::METOPROLOL,
            Drug::LoopDiuretic => rx::FUROSEMIDE,
            Drug::Bronchodilator => rx::TIOTROPIUM,
        }
    }
}
