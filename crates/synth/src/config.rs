//! What the simulator is asked to produce: population size, sites, seed, and the documented
//! knobs of practice drift and data mess. Every number here is described in `docs/synth.md`.

use serde::{Deserialize, Serialize};

use crate::conditions::Drug;

/// A lab's glucose reporting unit (and so its LOINC code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlucoseUnit {
    /// mg/dL, LOINC 2345-7.
    MgPerDl,
    /// mmol/L, LOINC 14749-6.
    MmolPerL,
}

/// How one site's population and practice differ from the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteProfile {
    /// A short name (`north`, `river`, …).
    pub name: String,
    /// Relative number of patients.
    pub weight: f64,
    /// Shift of the birth-year distribution (positive: younger population).
    pub age_shift_years: f64,
    /// Race mix: weights for White, Black, Asian, American Indian/Alaska Native, Other.
    pub race_weights: [f64; 5],
    /// Probability of Hispanic or Latino ethnicity.
    pub hispanic: f64,
    /// Multiplier on the probability of smoking.
    pub smoking: f64,
    /// Shift of mean BMI (kg/m²).
    pub bmi_shift: f64,
    /// Probability that a registered patient attends a yearly wellness visit.
    pub wellness_attendance: f64,
    /// Probability that an eligible patient is screened with an HbA1c at a wellness visit.
    pub a1c_screening: f64,
    /// Glucose reporting unit.
    pub glucose_unit: GlucoseUnit,
}

/// Changes in practice over the calendar, so temporal validation and monitoring find something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftConfig {
    /// SGLT2 inhibitors are rare as second-line diabetes drugs before this year...
    pub sglt2_uptake_start_year: i32,
    /// ...and reach `sglt2_uptake_max` of second-line starts this many years later (linear).
    pub sglt2_uptake_ramp_years: f64,
    /// The share of second-line starts that are SGLT2 inhibitors once uptake is complete.
    pub sglt2_uptake_max: f64,
    /// From this year HbA1c screening is more intense everywhere...
    pub screening_intensifies_year: i32,
    /// ...by this factor on the screening probability.
    pub screening_intensity_factor: f64,
    /// The site (index) whose creatinine assay changes...
    pub assay_change_site: usize,
    /// ...in this year...
    pub assay_change_year: i32,
    /// ...reading this much higher (fraction: 0.08 = +8%), which also lowers its reported eGFR.
    pub assay_bias: f64,
    /// The site (index) that switches its usual type 2 diabetes code from E11.9 to E11.65...
    pub coding_change_site: usize,
    /// ...in this year...
    pub coding_change_year: i32,
    /// ...for this share of diabetes diagnoses.
    pub coding_change_share: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            sglt2_uptake_start_year: 2016,
            sglt2_uptake_ramp_years: 6.0,
            sglt2_uptake_max: 0.7,
            screening_intensifies_year: 2018,
            screening_intensity_factor: 1.5,
            assay_change_site: 1,
            assay_change_year: 2019,
            assay_bias: 0.08,
            coding_change_site: 0,
            coding_change_year: 2017,
            coding_change_share: 0.6,
        }
    }
}

/// How messy the recorded data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessConfig {
    /// Probability that a scheduled follow-up visit is missed.
    pub missed_visit: f64,
    /// Probability that a lab or vital row is recorded twice.
    pub duplicate_row: f64,
    /// Probability that a diagnosis is coded as a related but wrong code.
    pub miscode: f64,
    /// Yearly probability of a spurious rule-out diagnosis (coded once, never confirmed).
    pub rule_out_per_year: f64,
    /// Multiplier on every lab's analytic noise (1 = typical coefficients of variation).
    pub lab_noise: f64,
}

impl Default for MessConfig {
    fn default() -> Self {
        Self { missed_visit: 0.12, duplicate_row: 0.01, miscode: 0.01, rule_out_per_year: 0.01, lab_noise: 1.0 }
    }
}

/// Everything the simulator needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// How many patients.
    pub patients: usize,
    /// The sites, patients split among them by weight.
    pub sites: Vec<SiteProfile>,
    /// The seed: same seed and config, same output, whatever the thread count.
    pub seed: u64,
    /// First calendar year of recorded care (registration starts no earlier).
    pub record_start_year: i32,
    /// Last calendar year simulated (through 31 December).
    pub end_year: i32,
    /// Practice drift.
    pub drift: DriftConfig,
    /// Data mess.
    pub mess: MessConfig,
    /// Drug classes never prescribed: the counterfactual world for treatment-effect questions
    /// (everything else, including the random streams, stays the same).
    #[serde(default)]
    pub withhold: Vec<Drug>,
}

impl SynthConfig {
    /// The default configuration for `patients` patients at `sites` sites.
    pub fn new(patients: usize, sites: usize, seed: u64) -> Self {
        Self {
            patients,
            sites: (0..sites.max(1)).map(default_site).collect(),
            seed,
            record_start_year: 2010,
            end_year: 2025,
            drift: DriftConfig::default(),
            mess: MessConfig::default(),
            withhold: Vec::new(),
        }
    }
}

impl SynthConfig {
    /// The configuration in the JSON file at `path` (a [`SynthConfig`] as `serde` writes it),
    /// for `patients` patients and `seed`; its sites unless it has another number than `sites`,
    /// in which case the built-in profiles are used.
    pub fn from_file(
        path: &std::path::Path,
        patients: usize,
        sites: usize,
        seed: u64,
    ) -> Result<Self, crate::SynthError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::SynthError::io(path, e))?;
        let mut config: SynthConfig = serde_json::from_str(&text)
            .map_err(|e| crate::SynthError::Config(format!("{} is not a synth configuration: {e}", path.display())))?;
        config.patients = patients;
        config.seed = seed;
        if config.sites.len() != sites {
            config.sites = (0..sites.max(1)).map(default_site).collect();
        }
        Ok(config)
    }
}

/// The built-in site profiles: two contrasting sites, then variations on them.
pub fn default_site(index: usize) -> SiteProfile {
    let variant = index / 2;
    let tweak = variant as f64 * 0.05;
    if index.is_multiple_of(2) {
        SiteProfile {
            name: if variant == 0 { "north".into() } else { format!("north{variant}") },
            weight: 1.0,
            age_shift_years: -3.0,
            race_weights: [0.78, 0.09, 0.06, 0.01, 0.06],
            hispanic: 0.08,
            smoking: 0.9,
            bmi_shift: -0.3,
            wellness_attendance: 0.72 - tweak,
            a1c_screening: 0.55,
            glucose_unit: GlucoseUnit::MgPerDl,
        }
    } else {
        SiteProfile {
            name: if variant == 0 { "river".into() } else { format!("river{variant}") },
            weight: 0.8,
            age_shift_years: 6.0,
            race_weights: [0.45, 0.28, 0.10, 0.02, 0.15],
            hispanic: 0.30,
            smoking: 1.25,
            bmi_shift: 1.2,
            wellness_attendance: 0.58 - tweak,
            a1c_screening: 0.40,
            glucose_unit: GlucoseUnit::MmolPerL,
        }
    }
}
