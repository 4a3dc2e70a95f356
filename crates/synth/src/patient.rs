//! Who a patient is: demographics, registration with the health system, and the hidden traits and
//! risk factors that drive their disease processes.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::calendar::{DAY, YEAR, date};
use crate::config::{SiteProfile, SynthConfig};

/// A patient's fixed attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// MEDS subject id.
    pub subject_id: i64,
    /// Index of the home site in [`SynthConfig::sites`].
    pub site: usize,
    /// Female (else male).
    pub female: bool,
    /// Index into [`crate::vocab::demographics::RACES`].
    pub race: usize,
    /// Hispanic or Latino.
    pub hispanic: bool,
    /// Birth time (µs since the epoch).
    pub birth: i64,
    /// Height in metres.
    pub height_m: f64,
    /// First day of registration with the health system (records start here).
    pub registered_from: i64,
    /// Day registration ends (moved away, changed insurer), if before the end of the simulation.
    pub registered_until: i64,
}

impl Person {
    /// Age in years at `t`.
    pub fn age(&self, t: i64) -> f64 {
        (t - self.birth) as f64 / YEAR as f64
    }

    /// Whether care at `t` is recorded.
    pub fn registered(&self, t: i64) -> bool {
        t >= self.registered_from && t < self.registered_until
    }
}

/// Hidden, per-patient propensities (standard-normal traits) and family history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traits {
    /// Insulin resistance: speed of HbA1c drift.
    pub glycemic: f64,
    /// Blood-pressure propensity.
    pub pressure: f64,
    /// Kidney resilience (negative: faster eGFR decline).
    pub renal: f64,
    /// LDL propensity.
    pub lipid: f64,
    /// A parent or sibling has diabetes.
    pub family_diabetes: bool,
    /// A parent or sibling had premature cardiovascular disease.
    pub family_cvd: bool,
}

/// A standard normal draw (Box–Muller; one value per call keeps streams simple).
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An exponential draw with the given mean.
pub fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * rng.random::<f64>().max(1e-12).ln()
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// The site of patient `index`, proportional to site weights.
pub fn pick_site(rng: &mut ChaCha8Rng, sites: &[SiteProfile]) -> usize {
    let weights: Vec<f64> = sites.iter().map(|s| s.weight).collect();
    pick_weighted(rng, &weights)
}

/// Draws a person. Birth years span 1930–2015 with a US-like age pyramid (fewer of the oldest).
pub fn draw_person(rng: &mut ChaCha8Rng, config: &SynthConfig, subject_id: i64) -> Person {
    let site = pick_site(rng, &config.sites);
    let profile = &config.sites[site];
    let female = rng.random_bool(0.51);
    // Birth-year decades 1930s..2010s, weighted like the 2020 US population by age.
    let decade_weights = [0.7, 1.1, 1.25, 1.35, 1.35, 1.3, 1.25, 1.2, 0.6];
    let decade = pick_weighted(rng, &decade_weights);
    let year_f = 1930.0 + decade as f64 * 10.0 + rng.random::<f64>() * 10.0 + profile.age_shift_years;
    let year_f = year_f.clamp(1930.0, 2015.99);
    // A birth is a date: records (and FHIR birthDate) carry no time of day.
    let birth = date(year_f.floor() as i32, 1, 1) + rng.random_range(0..365) * DAY;
    let race = pick_weighted(rng, &profile.race_weights);
    let hispanic = rng.random_bool(profile.hispanic.clamp(0.0, 1.0));
    let height_m = if female { 1.62 + 0.07 * normal(rng) } else { 1.76 + 0.075 * normal(rng) };

    // Registration: most of the population is already registered when records start; the rest
    // join over the years (newborns at birth). Leaving is a 5%/year hazard.
    let start = date(config.record_start_year, 1, 1);
    let end = date(config.end_year + 1, 1, 1);
    let joined = if rng.random_bool(0.55) { start } else { start + (exponential(rng, 5.0) * YEAR as f64) as i64 };
    let registered_from = joined.max(birth).min(end - 30 * DAY);
    let registered_until = (registered_from + (exponential(rng, 20.0) * YEAR as f64) as i64).min(end);
    Person { subject_id, site, female, race, hispanic, birth, height_m, registered_from, registered_until }
}

/// Draws the hidden traits.
pub fn draw_traits(rng: &mut ChaCha8Rng) -> Traits {
    Traits {
        glycemic: normal(rng),
        pressure: normal(rng),
        renal: normal(rng),
        lipid: normal(rng),
        family_diabetes: rng.random_bool(0.25),
        family_cvd: rng.random_bool(0.15),
    }
}
