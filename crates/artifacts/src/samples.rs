//! How a method's examples were sampled, and how a sample stands for its population.

use serde::{Deserialize, Serialize};

/// How a sample of prediction times stands for the held-out population it was drawn from: per
/// label class, how many there were and how many were drawn. A prediction of a class stands for
/// `population / sampled` of its population's ([`SampleDesign::weight`]), which is what
/// `eval::evaluate_weighted` needs to report the population's calibration and PPV from a sample
/// enriched for a rare outcome. (AUROC needs no weights: sampling on the label keeps each
/// class's ranking.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleDesign {
    /// Positive prediction times in the population.
    pub population_positives: usize,
    /// Negative prediction times in the population.
    pub population_negatives: usize,
    /// Positives drawn.
    pub sampled_positives: usize,
    /// Negatives drawn.
    pub sampled_negatives: usize,
}

impl SampleDesign {
    /// The design weight of a drawn prediction with label `value` (1 when its class was kept whole).
    pub fn weight(&self, value: bool) -> f64 {
        let (population, sampled) = if value {
            (self.population_positives, self.sampled_positives)
        } else {
            (self.population_negatives, self.sampled_negatives)
        };
        if sampled == 0 { 1.0 } else { population as f64 / sampled as f64 }
    }

    /// Whether the classes were drawn at different rates (the sample's prevalence is not the
    /// population's, so unweighted calibration would mislead).
    pub fn is_case_control(&self) -> bool {
        (self.weight(true) - self.weight(false)).abs() > 1e-9 * self.weight(false)
    }
}

/// How the train examples of a method that cannot afford all of them were sampled (a
/// case-control sample: every positive up to half, negatives filling the rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSample {
    /// Positives kept, of `positives_available`.
    pub positives: usize,
    /// Positive train examples in all.
    pub positives_available: usize,
    /// Negatives kept, of `negatives_available`.
    pub negatives: usize,
    /// Negative train examples in all.
    pub negatives_available: usize,
    /// `ln((positives / positives_available) / (negatives / negatives_available))`: how much the
    /// sample raises the log-odds (0 when drawn at the population's rate).
    pub log_odds_shift: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_kept_whole_weighs_one_and_a_thinned_class_its_ratio() {
        let d = SampleDesign {
            population_positives: 10,
            population_negatives: 990,
            sampled_positives: 10,
            sampled_negatives: 90,
        };
        assert_eq!(d.weight(true), 1.0);
        assert_eq!(d.weight(false), 11.0);
        assert!(d.is_case_control());
        let whole = SampleDesign {
            population_positives: 10,
            population_negatives: 90,
            sampled_positives: 10,
            sampled_negatives: 90,
        };
        assert!(!whole.is_case_control());
    }
}
