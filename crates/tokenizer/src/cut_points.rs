//! Clinical cut points: the thresholds guidelines draw diagnoses and actions at, added to a lab's
//! quantile edges so that no value bin straddles one.
//!
//! Deciles put edges where the train values happen to fall: eGFR's sit at 41, 52, 61, 70 on the
//! synthetic population, so "below 60" — stage 3 chronic kidney disease — is half of the 52–61 bin
//! and invisible to the model. A threshold the clinic acts on is worth an edge of its own. The
//! built-in table ([`CLINICAL`]) keys guideline thresholds by LOINC code; a site can pass its own
//! table instead (`longitude tokenize --cut-points FILE`, a JSON object of code → thresholds).
//! Cut points outside a code's train range add nothing (a bin would be empty) and are dropped.
//!
//! Not the default. Measured on the synthetic population (docs/benchmarks/validation.md,
//! "Clinical cut points"), the linear probe gains little, and zero-shot risk of a threshold loses
//! signal: with 5.5 an edge, "next potassium ≥ 5.5" rests on the model's probabilities for the
//! rare bins above it, where with deciles it rests on the well-learned top decile and the share
//! of that decile's train values above 5.5.

use std::collections::BTreeMap;

/// Guideline thresholds per LOINC code, in the units the code is reported in.
///
/// - HbA1c (4548-4, %): 5.7 and 6.5, the ADA's prediabetes and diabetes thresholds.
/// - Glucose (2345-7, mg/dL): 100 and 126 fasting (ADA), 200 random; (14749-6, mmol/L) 5.6, 7.0,
///   11.1, the same in SI units.
/// - eGFR (62238-1, 33914-3, 48642-3, 48643-1, 98979-8; mL/min/1.73 m²): 15, 30, 45, 60, 90, the
///   KDIGO G stages.
/// - Urine albumin/creatinine (14959-1, mg/g): 30 and 300, the KDIGO A stages.
/// - Potassium (2823-3, 6298-4; mmol/L): 3.5 (hypokalaemia), 5.0, 5.5 and 6.0 (the mild,
///   moderate and severe hyperkalaemia grades).
/// - Sodium (2951-2, mmol/L): 125, 130 and 135 (hyponatraemia grades), 145 (hypernatraemia).
/// - Haemoglobin (718-7, g/dL): 7 (the restrictive transfusion threshold), 10, 12 and 13 (WHO
///   anaemia in women and men).
/// - Platelets (777-3, 10³/µL): 50, 150 and 450.
/// - Total cholesterol (2093-3, mg/dL): 200 and 240; LDL (13457-7, 18262-6, 2089-1): 70, 100,
///   130, 160 and 190 (ACC/AHA); HDL (2085-9): 40 and 60.
/// - NT-proBNP (33762-6, pg/mL): 125 and 300, the ESC's non-acute and acute heart-failure rule-out
///   thresholds.
/// - Blood pressure (8480-6 systolic: 120, 130, 140, 180; 8462-4 diastolic: 80, 90, 120), the
///   ACC/AHA categories and crisis.
/// - Heart rate (8867-4, /min): 60 and 100.
/// - BMI (39156-5, kg/m²): 18.5, 25, 30, 35 and 40, the WHO classes.
pub const CLINICAL: &[(&str, &[f32])] = &[
    ("LOINC/4548-4", &[5.7, 6.5]),
    ("LOINC/2345-7", &[100.0, 126.0, 200.0]),
    ("LOINC/14749-6", &[5.6, 7.0, 11.1]),
    ("LOINC/62238-1", EGFR),
    ("LOINC/33914-3", EGFR),
    ("LOINC/48642-3", EGFR),
    ("LOINC/48643-1", EGFR),
    ("LOINC/98979-8", EGFR),
    ("LOINC/14959-1", &[30.0, 300.0]),
    ("LOINC/2823-3", POTASSIUM),
    ("LOINC/6298-4", POTASSIUM),
    ("LOINC/2951-2", &[125.0, 130.0, 135.0, 145.0]),
    ("LOINC/718-7", &[7.0, 10.0, 12.0, 13.0]),
    ("LOINC/777-3", &[50.0, 150.0, 450.0]),
    ("LOINC/2093-3", &[200.0, 240.0]),
    ("LOINC/13457-7", LDL),
    ("LOINC/18262-6", LDL),
    ("LOINC/2089-1", LDL),
    ("LOINC/2085-9", &[40.0, 60.0]),
    ("LOINC/33762-6", &[125.0, 300.0]),
    ("LOINC/8480-6", &[120.0, 130.0, 140.0, 180.0]),
    ("LOINC/8462-4", &[80.0, 90.0, 120.0]),
    ("LOINC/8867-4", &[60.0, 100.0]),
    ("LOINC/39156-5", &[18.5, 25.0, 30.0, 35.0, 40.0]),
];

const EGFR: &[f32] = &[15.0, 30.0, 45.0, 60.0, 90.0];
const POTASSIUM: &[f32] = &[3.5, 5.0, 5.5, 6.0];
const LDL: &[f32] = &[70.0, 100.0, 130.0, 160.0, 190.0];

/// The built-in table as a tokenizer config's `cut_points`.
pub fn clinical() -> BTreeMap<String, Vec<f32>> {
    CLINICAL.iter().map(|(code, cuts)| ((*code).to_owned(), cuts.to_vec())).collect()
}

/// The cut points a user names: `none`, `clinical` (the built-in table), or the path of a JSON
/// object of code → increasing thresholds.
pub fn named(name: &str) -> Result<BTreeMap<String, Vec<f32>>, crate::TokenizerError> {
    match name {
        "none" => Ok(BTreeMap::new()),
        "clinical" => Ok(clinical()),
        path => {
            let path = std::path::Path::new(path);
            let text = std::fs::read_to_string(path)
                .map_err(|source| crate::TokenizerError::Io { path: path.to_path_buf(), source })?;
            serde_json::from_str(&text).map_err(|_| crate::TokenizerError::Format {
                path: path.to_path_buf(),
                message: "not a JSON object of code → list of thresholds".into(),
            })
        }
    }
}

/// `edges` (a code's increasing quantile edges over sorted train values `lo..=hi`) with `cuts`
/// added: those inside `(lo, hi]`, so no bin is empty, then sorted and deduplicated.
pub(crate) fn merge(edges: &mut Vec<f32>, cuts: &[f32], lo: f32, hi: f32) {
    edges.extend(cuts.iter().copied().filter(|&c| c > lo && c <= hi));
    edges.sort_unstable_by(f32::total_cmp);
    edges.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_inside_the_range_become_edges_and_the_rest_are_dropped() {
        let mut edges = vec![41.0, 52.0, 61.0, 70.0];
        merge(&mut edges, EGFR, 20.0, 88.0);
        // 15 is below the lowest value, 90 above the highest; 60 splits the 52–61 bin.
        assert_eq!(edges, vec![30.0, 41.0, 45.0, 52.0, 60.0, 61.0, 70.0]);
        let mut edges = vec![4.0, 5.0];
        merge(&mut edges, POTASSIUM, 3.0, 6.2);
        assert_eq!(edges, vec![3.5, 4.0, 5.0, 5.5, 6.0], "a cut on an edge is not doubled");
    }

    #[test]
    fn the_table_is_ordered_and_finite() {
        for (code, cuts) in CLINICAL {
            assert!(code.starts_with("LOINC/"), "{code}");
            assert!(cuts.iter().all(|c| c.is_finite()), "{code}");
            assert!(cuts.windows(2).all(|w| w[0] < w[1]), "{code}: increasing");
        }
        let codes: std::collections::BTreeSet<&str> = CLINICAL.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), CLINICAL.len(), "one row per code");
    }
}
