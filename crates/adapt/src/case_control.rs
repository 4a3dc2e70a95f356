//! Case-control samples of the train split, for the methods that cannot afford all of it (the
//! probe embeds every example it trains on; fine-tuning runs the whole transformer on each).
//!
//! Clinical outcomes are rare (0.3–3% of prediction times), so a sample drawn at the population's
//! rate would hold a few dozen positives, or a handful. The sample is case-control instead: every
//! positive up to half the sample, negatives filling the rest (each class drawn by a seeded hash).
//! Fitting on it shifts the log-odds by the log of the sampling ratio and nothing else (the prior
//! correction of King & Zeng, 2001): a model fitted on it is shifted back by
//! [`TrainSample::log_odds_shift`] and predicts on the population's scale.

use crate::baselines::Example;
use crate::zero_shot::key_hash;

pub use artifacts::samples::TrainSample;

/// A case-control sample of at most `max` train examples (indices into `examples`): every
/// positive up to half of `max`, negatives filling the rest, each class drawn by a seeded hash of
/// (subject, prediction time).
pub fn case_control(examples: &[Example], max: usize, seed: u64) -> (Vec<usize>, TrainSample) {
    let key = |i: usize| {
        let l = &examples[i].label;
        key_hash(seed, l.subject_id, l.prediction_time)
    };
    let class = |value: bool| -> Vec<usize> {
        let mut v: Vec<usize> =
            (0..examples.len()).filter(|&i| examples[i].split == "train" && examples[i].label.value == value).collect();
        v.sort_by_key(|&i| (key(i), i));
        v
    };
    let (positives, negatives) = (class(true), class(false));
    let keep_positives = positives.len().min(max.div_ceil(2)).min(max);
    let keep_negatives = negatives.len().min(max - keep_positives);
    let rate = |kept: usize, of: usize| if of == 0 { 1.0 } else { kept as f64 / of as f64 };
    let shift = if keep_positives == 0 || keep_negatives == 0 {
        0.0
    } else {
        (rate(keep_positives, positives.len()) / rate(keep_negatives, negatives.len())).ln()
    };
    let mut kept: Vec<usize> =
        positives[..keep_positives].iter().chain(&negatives[..keep_negatives]).copied().collect();
    kept.sort_unstable();
    let sample = TrainSample {
        positives: keep_positives,
        positives_available: positives.len(),
        negatives: keep_negatives,
        negatives_available: negatives.len(),
        log_odds_shift: shift,
    };
    (kept, sample)
}

/// Every tuning and held-out example of `examples` and a [`case_control`] sample of at most `max`
/// of its train examples (all of train when it fits), in their original order, with the sample's
/// design: what the probe fits, tunes and predicts on.
pub fn with_train_sample(examples: &[Example], max: usize, seed: u64) -> (Vec<Example>, TrainSample) {
    let (kept, sample) = case_control(examples, max, seed);
    let keep: std::collections::HashSet<usize> = kept.into_iter().collect();
    let subset = examples
        .iter()
        .enumerate()
        .filter(|(i, e)| e.split != "train" || keep.contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    (subset, sample)
}

#[cfg(test)]
mod tests {
    use meds::labels::BooleanLabel;

    use super::*;

    fn examples(positives: usize, negatives: usize) -> Vec<Example> {
        let label =
            |i: usize, value: bool| BooleanLabel { subject_id: i as i64, prediction_time: 1_000 * i as i64, value };
        let mut v: Vec<Example> = (0..positives + negatives)
            .map(|i| Example { label: label(i, i < positives), split: "train".into(), row: Vec::new() })
            .collect();
        v.push(Example { label: label(10_000, true), split: "tuning".into(), row: Vec::new() });
        v
    }

    #[test]
    fn rare_positives_are_all_kept_and_the_shift_is_the_log_of_the_sampling_ratio() {
        let e = examples(30, 970);
        let (kept, s) = case_control(&e, 200, 1);
        assert_eq!((s.positives, s.negatives, kept.len()), (30, 170, 200));
        assert!(kept.iter().all(|&i| e[i].split == "train"), "only train examples are sampled");
        assert_eq!(kept.iter().filter(|&&i| e[i].label.value).count(), 30);
        let expected = (1.0f64 / (170.0 / 970.0)).ln();
        assert!((s.log_odds_shift - expected).abs() < 1e-12, "{}", s.log_odds_shift);
        // Common positives are capped at half; a sample of everything shifts nothing.
        let (_, s) = case_control(&examples(600, 400), 200, 1);
        assert_eq!((s.positives, s.negatives), (100, 100));
        let (kept, s) = case_control(&examples(30, 70), 1_000, 1);
        assert_eq!((kept.len(), s.log_odds_shift), (100, 0.0));
        // The draw depends on the seed only.
        assert_eq!(case_control(&e, 200, 1).0, case_control(&e, 200, 1).0);
        assert_ne!(case_control(&e, 200, 1).0, case_control(&e, 200, 2).0);
    }
}
