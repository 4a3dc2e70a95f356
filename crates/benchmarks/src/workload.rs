//! A deterministic event workload for benchmarks and the demo: subjects with realistic *shapes*
//! (hundreds of events over years, a skewed code distribution, lab values on a third of events,
//! static events, an occasional note) but no clinical meaning. The clinical simulator with ground
//! truth is the `synth` crate's job; this only has to exercise the storage paths faithfully.

use meds::{CodeInfo, CodeTable, Timeline};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

/// 2010-01-01T00:00:00 in microseconds since the epoch.
const START_2010: i64 = 1_262_304_000_000_000;
const DAY: i64 = 86_400_000_000;

/// The code universe: demographics, then four vocabularies with a skewed popularity.
pub fn code_table() -> CodeTable {
    let mut t = CodeTable::new();
    t.set_info("MEDS_BIRTH", CodeInfo { description: Some("Birth".into()), parent_codes: vec![] });
    t.set_info("MEDS_DEATH", CodeInfo { description: Some("Death".into()), parent_codes: vec![] });
    for sex in ["F", "M"] {
        t.intern(&format!("SEX/{sex}"));
    }
    for i in 0..600 {
        t.intern(&format!("LOINC/{}-{}", 1000 + i * 7, i % 10));
    }
    for i in 0..800 {
        t.intern(&format!("ICD10CM/{}{:02}.{}", (b'A' + (i % 26) as u8) as char, i % 100, i % 10));
    }
    for i in 0..400 {
        t.intern(&format!("RXNORM/{}", 100_000 + i * 13));
    }
    for i in 0..200 {
        t.intern(&format!("CPT4/{}", 99_000 + i));
    }
    t
}

/// One subject with about `mean_events` events (±50%), determined by `(seed, index)` alone.
pub fn subject(codes: &CodeTable, seed: u64, index: u64, mean_events: usize) -> Timeline {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = (mean_events / 2 + rng.random_range(0..=mean_events)).max(4);
    let mut t = Timeline::with_capacity(1_000_000 + index as i64, n);
    let sex = if rng.random_bool(0.5) { "SEX/F" } else { "SEX/M" };
    t.push(None, codes.get(sex).unwrap_or(0), None, None);
    let birth = START_2010 - rng.random_range(18..90) * 365 * DAY;
    t.push(Some(birth), codes.get("MEDS_BIRTH").unwrap_or(0), None, None);
    let first_clinical = 4u32;
    let span = codes.len() as u32 - first_clinical;
    let mut time = START_2010 + rng.random_range(0..5 * 365) * DAY;
    while t.len() < n {
        // Visits a few weeks apart, each with a burst of same-day events.
        time += rng.random_range(1..60) * DAY + rng.random_range(0..DAY);
        let burst = rng.random_range(1..12).min(n - t.len());
        for _ in 0..burst {
            // Squaring a uniform draw skews popularity towards low ids, like real code frequencies.
            let u: f64 = rng.random();
            let code = first_clinical + ((u * u) * f64::from(span)) as u32;
            let value = (code < first_clinical + 600).then(|| rng.random_range(0.0f32..200.0));
            let note = (rng.random_range(0..200) == 0).then(|| "Follow-up visit; patient stable.".to_owned());
            t.push(Some(time), code.min(codes.len() as u32 - 1), value, note);
            time += rng.random_range(0..3_600_000_000);
        }
    }
    t
}

/// `subjects` timelines built in parallel; the result does not depend on the thread count.
pub fn subjects(codes: &CodeTable, seed: u64, subjects: usize, mean_events: usize) -> Vec<Timeline> {
    (0..subjects as u64).into_par_iter().map(|i| subject(codes, seed, i, mean_events)).collect()
}

/// The split of subject `index`: 80% train, 10% tuning, 10% held out.
pub fn split_of(index: usize) -> &'static str {
    match index % 10 {
        8 => meds::schema::TUNING_SPLIT,
        9 => meds::schema::HELD_OUT_SPLIT,
        _ => meds::schema::TRAIN_SPLIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_deterministic_sorted_and_sized() {
        let codes = code_table();
        let a = subjects(&codes, 7, 20, 100);
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| subjects(&codes, 7, 20, 100));
        assert_eq!(a, b);
        for t in &a {
            assert!(t.is_sorted());
            assert!(t.len() >= 50 && t.len() <= 151, "{}", t.len());
            assert_eq!(t.static_len(), 1);
        }
    }
}
