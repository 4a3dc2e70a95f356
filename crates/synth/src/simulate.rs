//! The monthly simulation of one patient: hidden physiology, disease hazards, care, coding and
//! treatment. `docs/synth.md` describes every process and number here in words.
//!
//! Randomness is drawn from one stream per (patient, month), so a patient's history does not depend
//! on the thread count, and a future can be re-drawn from any month on (Monte Carlo continuation)
//! while the past stays fixed.

use meds::{CodeId, CodeTable, Timeline};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::calendar::{DAY, HOUR, YEAR, date, month_start, year_of, ymd};
use crate::conditions::{Condition, Drug};
use crate::config::{GlucoseUnit, SynthConfig};
use crate::identity::{self, Identity};
use crate::patient::{Person, Traits, draw_person, draw_traits, normal};
use crate::vocab::{Code, cpt, demographics, dx, encounter, lab, note};

/// The first simulated month: ten years of hidden history before records start, so that the
/// population arrives with prevalent disease.
const SIM_BASE_YEAR: i32 = 2000;
const DT: f64 = 1.0 / 12.0;

/// What happened to one patient: the recorded timeline and the hidden truth behind it.
#[derive(Debug, Clone)]
pub struct SimulatedPatient {
    /// Demographics and registration.
    pub person: Person,
    /// Direct identifiers (they appear in the FHIR output and in notes, never in MEDS codes).
    pub identity: Identity,
    /// The recorded events (registration period only, plus birth and demographics).
    pub timeline: Timeline,
    /// The ground truth.
    pub truth: PatientTruth,
}

/// The hidden truth about one patient.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientTruth {
    /// True onset of each condition (first occurrence for acute ones), by [`Condition::index`].
    pub onset: [Option<i64>; Condition::COUNT],
    /// First time the condition's own code was recorded.
    pub diagnosed: [Option<i64>; Condition::COUNT],
    /// First start of each drug class, by [`Drug::index`].
    pub drug_start: [Option<i64>; Drug::COUNT],
    /// Time of death, if the patient died (recorded or not).
    pub death: Option<i64>,
    /// Dates written into notes, as they appear in the text (identifiers de-identification must
    /// remove).
    pub note_dates: Vec<String>,
}

/// A change made to a patient's treatment at the prediction time, for counterfactual questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intervention {
    /// Start the drug class at the prediction time (whatever the guideline would have done).
    Start(Drug),
    /// Stop the drug class at the prediction time and never prescribe it afterwards.
    Withhold(Drug),
}

/// Splitmix64: decorrelates the (seed, patient, month, replica) tuple into a stream seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of one patient for one month (`month == u64::MAX`: the patient's fixed draws).
pub fn stream(seed: u64, patient: u64, month: u64, replica: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed ^ mix(patient)) ^ month) ^ replica.wrapping_mul(0xA24B_AED4_963E_E407)))
}

fn hazard(rng: &mut ChaCha8Rng, per_year: f64) -> bool {
    rng.random::<f64>() < 1.0 - (-per_year * DT).exp()
}

/// CKD-EPI 2021 creatinine (mg/dL) that gives `egfr` at `age` for the sex.
fn creatinine_for(egfr: f64, age: f64, female: bool) -> f64 {
    let (kappa, alpha, sexf) = if female { (0.7, -0.241, 1.012) } else { (0.9, -0.302, 1.0) };
    let base = 142.0 * 0.9938f64.powf(age) * sexf;
    let ratio = egfr / base;
    // Above kappa the exponent is -1.2, below it alpha.
    let high = kappa * ratio.powf(-1.0 / 1.2);
    if high >= kappa { high } else { kappa * ratio.powf(1.0 / alpha) }
}

/// CKD-EPI 2021 eGFR from creatinine (what the lab reports).
fn egfr_from(creatinine: f64, age: f64, female: bool) -> f64 {
    let (kappa, alpha, sexf) = if female { (0.7, -0.241, 1.012) } else { (0.9, -0.302, 1.0) };
    let r = creatinine / kappa;
    142.0 * r.min(1.0).powf(alpha) * r.max(1.0).powf(-1.2) * 0.9938f64.powf(age) * sexf
}

/// The hidden state that evolves month by month.
#[derive(Debug, Clone)]
struct Hidden {
    bmi: f64,
    smoker: bool,
    ever_smoked: bool,
    pack_years: f64,
    a1c: f64,
    a1c_wobble: f64,
    sbp_walk: f64,
    egfr: f64,
    ldl: f64,
    hdl: f64,
    hgb_offset: f64,
    platelets: f64,
    heart_rate: f64,
    bleed_drop: f64,
    drugs: [Option<i64>; Drug::COUNT],
    alternative_agent: [bool; Drug::COUNT],
    last_renewal: [i64; Drug::COUNT],
    high_bp_readings: u32,
    low_egfr_seen: Option<i64>,
    wellness_month: u32,
    next_followup: Option<i64>,
    next_colonoscopy_ok: i64,
    busy_until: i64,
    readmit: Option<(i64, Condition)>,
    alive: bool,
    withheld: [bool; Drug::COUNT],
}

#[derive(Clone)]
pub(crate) struct Ctx<'a> {
    config: &'a SynthConfig,
    codes: &'a CodeTable,
    person: Person,
    identity: Identity,
    traits: Traits,
    h: Hidden,
    truth: PatientTruth,
    timeline: Timeline,
    /// Every occurrence of an acute condition (MI, stroke, sepsis, GI bleed), for the oracle.
    pub(crate) occurrences: Vec<(Condition, i64)>,
    index: u64,
}

/// Simulates patient `index` of `config` (replica 0: the recorded world).
pub fn simulate_patient(config: &SynthConfig, codes: &CodeTable, index: u64) -> SimulatedPatient {
    let mut ctx = Ctx::new(config, codes, index);
    let (first, end) = ctx.begin();
    for m in first..end {
        if !ctx.step_month(m, 0) {
            break;
        }
    }
    ctx.finish()
}

impl<'a> Ctx<'a> {
    /// A patient before their first simulated month: fixed draws made, nothing simulated.
    pub(crate) fn new(config: &'a SynthConfig, codes: &'a CodeTable, index: u64) -> Self {
        let mut fixed = stream(config.seed, index, u64::MAX, 0);
        let person = draw_person(&mut fixed, config, 1_000_000 + index as i64);
        let traits = draw_traits(&mut fixed);
        let identity = identity::draw(&mut fixed, person.female, person.subject_id);
        let wellness_month = fixed.random_range(0..12);
        let hidden = Hidden {
            bmi: 0.0,
            smoker: false,
            ever_smoked: false,
            pack_years: 0.0,
            a1c: 0.0,
            a1c_wobble: 0.0,
            sbp_walk: 0.0,
            egfr: 0.0,
            ldl: 0.0,
            hdl: 48.0 + if person.female { 10.0 } else { 0.0 } + 8.0 * normal(&mut fixed),
            hgb_offset: 0.8 * normal(&mut fixed),
            platelets: 255.0 + 50.0 * normal(&mut fixed) + if person.female { 20.0 } else { 0.0 },
            heart_rate: 72.0 + 6.0 * normal(&mut fixed),
            bleed_drop: 0.0,
            drugs: [None; Drug::COUNT],
            alternative_agent: [false; Drug::COUNT],
            last_renewal: [i64::MIN; Drug::COUNT],
            high_bp_readings: 0,
            low_egfr_seen: None,
            wellness_month,
            next_followup: None,
            next_colonoscopy_ok: i64::MIN,
            busy_until: i64::MIN,
            readmit: None,
            alive: true,
            withheld: [false; Drug::COUNT],
        };
        Ctx {
            config,
            codes,
            timeline: Timeline::new(person.subject_id),
            person,
            identity,
            traits,
            h: hidden,
            truth: PatientTruth::default(),
            occurrences: Vec::new(),
            index,
        }
    }

    /// The result, events in MEDS order.
    pub(crate) fn finish(mut self) -> SimulatedPatient {
        self.timeline.sort();
        SimulatedPatient { person: self.person, identity: self.identity, timeline: self.timeline, truth: self.truth }
    }
}

impl Ctx<'_> {
    fn id(&self, code: Code) -> CodeId {
        // Every code the simulator emits is in the table by construction (vocab::all); the
        // vocabulary test runs the simulator with debug assertions to keep it so.
        let id = self.codes.get(code.0);
        debug_assert!(id.is_some(), "{} missing from vocab::all()", code.0);
        id.unwrap_or(0)
    }

    fn has(&self, c: Condition) -> bool {
        self.truth.onset[c.index()].is_some()
    }

    /// The product of the factors whose condition the patient has (hazard ratios).
    fn ratio(&self, factors: &[(Condition, f64)]) -> f64 {
        factors.iter().filter(|(c, _)| self.has(*c)).map(|(_, m)| m).product()
    }

    fn known(&self, c: Condition) -> bool {
        self.truth.diagnosed[c.index()].is_some()
    }

    fn on(&self, d: Drug) -> bool {
        self.h.drugs[d.index()].is_some()
    }

    fn age(&self, t: i64) -> f64 {
        self.person.age(t)
    }

    fn record(&mut self, t: i64, code: Code, value: Option<f32>) {
        if self.person.registered(t) {
            let id = self.id(code);
            self.timeline.push(Some(t), id, value, None);
        }
    }

    /// A clinical note that names the patient, the date, the place and a phone number, as real
    /// notes do, with the clinical picture the clinician knows.
    fn write_note(&mut self, t: i64, kind: Code, rng: &mut ChaCha8Rng) {
        if !self.person.registered(t) {
            return;
        }
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let (y, m, d) = ymd(t);
        let date = if rng.random_bool(0.5) {
            format!("{} {d}, {y}", MONTHS[m as usize - 1])
        } else {
            format!("{m:02}/{d:02}/{y}")
        };
        let known: Vec<&str> =
            Condition::ALL.iter().filter(|c| c.chronic() && self.known(**c)).map(|c| c.code().1).collect();
        let drugs: Vec<&str> =
            Drug::ALL.iter().filter(|d| self.on(**d)).map(|d| d.code(self.h.alternative_agent[d.index()]).1).collect();
        let id = &self.identity;
        let who =
            if rng.random_bool(0.5) { format!("{} {}", id.given, id.family) } else { format!("Mr./Ms. {}", id.family) };
        let problems = if known.is_empty() { "no chronic problems".to_owned() } else { known.join("; ") };
        let meds = if drugs.is_empty() { "none".to_owned() } else { drugs.join(", ") };
        let opening = if kind == note::DISCHARGE { "Discharge summary for" } else { "Seen today:" };
        let text = format!(
            "{opening} {who} (MRN {mrn}), {date}, at the {city} clinic. Problems: {problems}. Medications: {meds}. \
             Lives at {street}, {city} {state} {zip}. Call {phone} or {email} with results. Follow up in 6 months.",
            mrn = id.mrn,
            city = id.city,
            street = id.street,
            state = id.state,
            zip = id.zip,
            phone = id.phone,
            email = id.email,
        );
        let code = self.id(kind);
        self.timeline.push(Some(t), code, None, Some(text));
        self.truth.note_dates.push(date);
    }

    fn onset(&mut self, c: Condition, t: i64) {
        if !c.chronic() {
            self.occurrences.push((c, t));
        }
        let slot = &mut self.truth.onset[c.index()];
        if slot.is_none() {
            *slot = Some(t);
        }
    }

    // ---- physiology --------------------------------------------------------------------------

    fn init_physiology(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        let age = self.age(t).max(0.0);
        let site = &self.config.sites[self.person.site];
        let adult_years = (age.min(60.0) - 18.0).max(0.0);
        self.h.bmi = (22.0 + 0.11 * adult_years + site.bmi_shift + 4.2 * normal(rng)).clamp(16.0, 60.0);
        if age < 18.0 {
            self.h.bmi = (17.0 + 0.3 * age + 2.0 * normal(rng)).clamp(13.0, 35.0);
        }
        let smoke_p = 0.15 * site.smoking * if self.person.female { 0.85 } else { 1.15 };
        if age >= 18.0 {
            self.h.smoker = rng.random_bool(smoke_p.clamp(0.0, 1.0));
            self.h.ever_smoked = self.h.smoker || rng.random_bool(0.2);
            if self.h.ever_smoked {
                self.h.pack_years = (age - 18.0) * rng.random::<f64>() * 0.8;
            }
        }
        self.h.a1c = 5.0 + 0.12 * normal(rng);
        // Fast-forward the adult years before the simulation starts, a year at a time, so the
        // acceleration above 5.7% applies as it does later.
        let mut years = (age - 18.0).max(0.0);
        while years > 0.0 {
            let step = years.min(1.0);
            self.h.a1c += self.a1c_rate() * step;
            years -= step;
        }
        self.h.sbp_walk = 3.0 * normal(rng);
        self.h.egfr = (110.0 - 0.5 * (age.min(40.0) - 18.0).max(0.0) - 0.85 * (age - 40.0).max(0.0)
            + 9.0 * self.traits.renal)
            .clamp(20.0, 130.0);
        self.h.ldl =
            95.0 + 0.6 * adult_years + 25.0 * self.traits.lipid + if self.traits.family_cvd { 10.0 } else { 0.0 };
        // Prevalent conditions at the start of hidden history.
        self.check_thresholds(t);
    }

    fn a1c_rate(&self) -> f64 {
        // Progression accelerates above 5.7% as beta-cell function fails, so prediabetes
        // progresses to diabetes within a few years in a sizeable share of patients.
        (0.008
            + 0.016 * self.traits.glycemic
            + 0.006 * (self.h.bmi - 27.0)
            + if self.traits.family_diabetes { 0.012 } else { 0.0 })
        .max(0.0)
            + 0.25 * (self.h.a1c - 5.7).clamp(0.0, 0.8)
    }

    fn a1c_effective(&self) -> f64 {
        let effect = [(Drug::Metformin, 0.9), (Drug::Sglt2, 0.6), (Drug::Glp1, 1.0), (Drug::Insulin, 1.5)]
            .iter()
            .filter(|(d, _)| self.on(*d))
            .map(|(_, e)| e)
            .sum::<f64>();
        let a1c = self.h.a1c + self.h.a1c_wobble;
        (a1c - effect).max(a1c.min(5.6))
    }

    fn sbp_latent(&self, t: i64) -> f64 {
        let age = self.age(t);
        let mut sbp = 110.0 + 0.55 * (age - 18.0).max(0.0) + 0.9 * (self.h.bmi - 25.0) + 9.0 * self.traits.pressure;
        if !self.person.female {
            sbp += 4.0;
        }
        if self.has(Condition::Ckd3) {
            sbp += 5.0;
        }
        if age < 18.0 {
            sbp = 100.0 + age + 5.0 * self.traits.pressure;
        }
        sbp + self.h.sbp_walk
    }

    fn sbp_effective(&self, t: i64) -> f64 {
        let mut sbp = self.sbp_latent(t);
        for (d, e) in [(Drug::AceArb, 10.0), (Drug::Amlodipine, 9.0), (Drug::Thiazide, 8.0), (Drug::BetaBlocker, 4.0)] {
            if self.on(d) {
                sbp -= e;
            }
        }
        sbp
    }

    fn ldl_effective(&self) -> f64 {
        if self.on(Drug::Statin) { self.h.ldl * 0.65 } else { self.h.ldl }
    }

    fn hemoglobin(&self, t: i64) -> f64 {
        let mut hgb = if self.person.female { 13.4 } else { 15.0 } + self.h.hgb_offset;
        if self.has(Condition::Ckd5) {
            hgb -= 2.8;
        } else if self.has(Condition::Ckd4) {
            hgb -= 1.8;
        } else if self.has(Condition::Ckd3) {
            hgb -= 0.8;
        }
        if let Some(onset) = self.truth.onset[Condition::ColorectalCancer.index()]
            && !self.known(Condition::ColorectalCancer)
        {
            // Occult bleeding: hemoglobin falls from ~2 months after onset.
            let months = ((t - onset) as f64 / (YEAR as f64 / 12.0) - 2.0).max(0.0);
            hgb -= 0.25 * months;
        }
        (hgb - self.h.bleed_drop).max(5.0)
    }

    fn nt_probnp(&self, t: i64) -> f64 {
        let age = self.age(t);
        let mut v = 40.0 * 1.035f64.powf(age - 40.0);
        if self.has(Condition::AtrialFibrillation) {
            v += 300.0;
        }
        if self.has(Condition::Ckd4) {
            v += 600.0;
        } else if self.has(Condition::Ckd3) {
            v += 150.0;
        }
        if let Some(onset) = self.truth.onset[Condition::HeartFailure.index()] {
            let years = ((t - onset) as f64 / YEAR as f64).clamp(0.0, 1.0);
            let treated = self.on(Drug::LoopDiuretic) || self.on(Drug::BetaBlocker);
            v += (400.0 + 1100.0 * years) * if treated { 0.5 } else { 1.0 };
        }
        v
    }

    fn potassium(&self) -> f64 {
        let mut k = 4.2;
        if self.has(Condition::Ckd5) {
            k += 0.9;
        } else if self.has(Condition::Ckd4) {
            k += 0.5;
        } else if self.has(Condition::Ckd3) {
            k += 0.25;
        }
        if self.on(Drug::AceArb) {
            k += 0.2;
        }
        if self.on(Drug::Thiazide) {
            k -= 0.2;
        }
        if self.on(Drug::LoopDiuretic) {
            k -= 0.3;
        }
        if self.has(Condition::Diabetes) {
            k += 0.1;
        }
        k
    }

    fn sodium(&self) -> f64 {
        let mut na = 140.0;
        if self.on(Drug::Thiazide) {
            na -= 1.5;
        }
        if self.on(Drug::LoopDiuretic) {
            na -= 2.0;
        }
        if self.has(Condition::HeartFailure) {
            na -= 3.0;
        }
        na
    }

    fn step_physiology(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        let age = self.age(t);
        // Weight drifts up until 60, then down; GLP-1 takes ~1 BMI point off over a year; a
        // growing colorectal cancer takes weight off before diagnosis.
        self.h.bmi += DT * if age < 60.0 { 0.15 } else { -0.1 } + 0.08 * normal(rng);
        if let Some(start) = self.h.drugs[Drug::Glp1.index()]
            && t - start < YEAR
        {
            self.h.bmi -= 0.09;
        }
        if let Some(onset) = self.truth.onset[Condition::ColorectalCancer.index()]
            && !self.known(Condition::ColorectalCancer)
            && t - onset > 3 * 30 * DAY
        {
            self.h.bmi -= 0.12;
        }
        self.h.bmi = self.h.bmi.clamp(14.0, 65.0);
        if age >= 18.0 {
            if self.h.smoker {
                self.h.pack_years += DT;
                if hazard(rng, 0.045) {
                    self.h.smoker = false;
                }
            } else if !self.h.ever_smoked && age < 19.0 {
                let p = 0.15 * self.config.sites[self.person.site].smoking;
                self.h.smoker = rng.random_bool(p.clamp(0.0, 1.0));
                self.h.ever_smoked = self.h.smoker;
            }
        }
        if age >= 18.0 {
            self.h.a1c += self.a1c_rate() * DT;
            // Month-to-month glycemic variability around the trend (AR(1), stationary sd ≈ 0.07).
            self.h.a1c_wobble = 0.9 * self.h.a1c_wobble + 0.03 * normal(rng);
        }
        self.h.sbp_walk = 0.98 * self.h.sbp_walk + 0.6 * normal(rng);
        // Kidney: slow ageing loss, faster with diabetes (worse when uncontrolled) and with high
        // pressure; ACE/ARB and SGLT2 inhibitors slow the excess.
        let mut excess = 0.0;
        if self.has(Condition::Diabetes) {
            excess += 0.6 + 0.4 * (self.a1c_effective() - 7.5).clamp(0.0, 3.0);
        }
        excess += 0.03 * (self.sbp_effective(t) - 130.0).max(0.0);
        if self.on(Drug::AceArb) {
            excess *= 0.65;
        }
        if self.on(Drug::Sglt2) {
            excess *= 0.6;
        }
        let base = if age > 40.0 { 0.45 } else { 0.35 } - 0.2 * self.traits.renal;
        self.h.egfr -= DT * (base.max(0.2) + excess) + 0.3 * normal(rng);
        self.h.egfr = self.h.egfr.clamp(4.0, 140.0);
        self.h.ldl += DT * if age < 60.0 { 0.6 } else { 0.0 } + 0.8 * normal(rng);
        self.h.bleed_drop *= 0.6;
        self.check_thresholds(t);
    }

    fn check_thresholds(&mut self, t: i64) {
        if self.age(t) < 18.0 {
            return;
        }
        let a1c = self.h.a1c + self.h.a1c_wobble;
        if a1c >= 5.7 {
            self.onset(Condition::Prediabetes, t);
        }
        if a1c >= 6.5 {
            self.onset(Condition::Diabetes, t);
        }
        if self.sbp_latent(t) >= 140.0 {
            self.onset(Condition::Hypertension, t);
        }
        if self.h.ldl >= 160.0 {
            self.onset(Condition::Hyperlipidemia, t);
        }
        for (limit, c) in [(60.0, Condition::Ckd3), (30.0, Condition::Ckd4), (15.0, Condition::Ckd5)] {
            if self.h.egfr < limit {
                self.onset(c, t);
            }
        }
    }

    // ---- disease events ----------------------------------------------------------------------

    fn cardio_risk(&self, t: i64) -> f64 {
        let mut r = (0.012 * (self.ldl_effective() - 120.0)).exp() * (0.018 * (self.sbp_effective(t) - 130.0)).exp();
        if !self.person.female {
            r *= 1.7;
        }
        if self.h.smoker {
            r *= 1.8;
        }
        if self.has(Condition::Diabetes) {
            r *= 1.6;
        }
        if self.traits.family_cvd {
            r *= 1.5;
        }
        if self.on(Drug::Statin) {
            r *= 0.7;
        }
        r
    }

    fn step_events(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        let age = self.age(t);
        if age < 18.0 {
            return;
        }
        let risk = self.cardio_risk(t);
        if !self.has(Condition::CoronaryDisease) && hazard(rng, 0.0015 * (0.075 * (age - 50.0)).exp() * risk) {
            self.onset(Condition::CoronaryDisease, t);
        }
        let mut mi = 0.0004 * (0.075 * (age - 50.0)).exp() * risk;
        if self.has(Condition::CoronaryDisease) {
            mi *= 5.0;
        }
        if self.on(Drug::Glp1) {
            mi *= 0.85;
        }
        if hazard(rng, mi) {
            self.onset(Condition::MyocardialInfarction, t);
            self.onset(Condition::CoronaryDisease, t);
            self.admission(t, Condition::MyocardialInfarction, rng, 0.08);
        }
        let htn = self.has(Condition::Hypertension);
        if !self.has(Condition::AtrialFibrillation) {
            let mut h = 0.0022 * (0.09 * (age - 60.0)).exp();
            if htn {
                h *= 1.5;
            }
            if self.has(Condition::HeartFailure) {
                h *= 2.0;
            }
            if !self.person.female {
                h *= 1.3;
            }
            if self.h.bmi >= 30.0 {
                h *= 1.3;
            }
            if hazard(rng, h) {
                self.onset(Condition::AtrialFibrillation, t);
            }
        } else if !self.known(Condition::AtrialFibrillation) && hazard(rng, 0.5) {
            // Palpitations bring an undiagnosed AF to the emergency department.
            self.ed_visit(t, Some(Condition::AtrialFibrillation), rng);
        }
        let stroke = if self.has(Condition::AtrialFibrillation) {
            let mut score: f64 = [
                (Condition::HeartFailure, 1.0),
                (Condition::Hypertension, 1.0),
                (Condition::Diabetes, 1.0),
                (Condition::Stroke, 2.0),
            ]
            .iter()
            .filter(|(c, _)| self.has(*c))
            .map(|(_, w)| w)
            .sum();
            score += if age >= 75.0 {
                2.0
            } else if age >= 65.0 {
                1.0
            } else {
                0.0
            };
            if self.person.female {
                score += 1.0;
            }
            0.006 * (1.0 + score) * if self.on(Drug::Anticoagulant) { 0.35 } else { 1.0 }
        } else {
            let mut h = 0.0006 * (0.08 * (age - 60.0)).exp();
            if self.sbp_effective(t) > 140.0 {
                h *= 1.8;
            }
            if self.h.smoker {
                h *= 1.5;
            }
            if self.has(Condition::Diabetes) {
                h *= 1.5;
            }
            h
        };
        if hazard(rng, stroke) {
            self.onset(Condition::Stroke, t);
            self.admission(t, Condition::Stroke, rng, 0.12);
        }
        if !self.has(Condition::HeartFailure) {
            let mut h = 0.0012 * (0.08 * (age - 60.0)).exp();
            if self.sbp_effective(t) > 140.0 {
                h *= 2.2;
            } else if htn {
                h *= 1.4;
            }
            h *= self.ratio(&[
                (Condition::MyocardialInfarction, 3.0),
                (Condition::CoronaryDisease, 1.8),
                (Condition::AtrialFibrillation, 2.5),
                (Condition::Diabetes, 1.8),
                (Condition::Ckd3, 1.5),
            ]);
            if self.on(Drug::Sglt2) {
                h *= 0.7;
            }
            if hazard(rng, h) {
                self.onset(Condition::HeartFailure, t);
            }
        } else {
            let mut decomp = if self.known(Condition::HeartFailure) { 0.25 } else { 0.4 };
            if self.on(Drug::LoopDiuretic) {
                decomp *= 0.7;
            }
            if self.on(Drug::Sglt2) {
                decomp *= 0.75;
            }
            if hazard(rng, decomp) {
                self.admission(t, Condition::HeartFailure, rng, 0.05);
            } else if !self.known(Condition::HeartFailure) && hazard(rng, 1.2) {
                // Breathlessness and oedema bring the patient to clinic.
                self.clinic_visit(t, rng, Some(Condition::HeartFailure));
            }
        }
        if !self.has(Condition::Copd) {
            let h = if self.h.ever_smoked {
                0.014 * (self.h.pack_years / 20.0).min(3.0) * (0.04 * (age - 50.0)).exp()
            } else {
                0.0002 * (0.04 * (age - 50.0)).exp()
            };
            if hazard(rng, h) {
                self.onset(Condition::Copd, t);
            }
        } else {
            let mut ex = 0.35 * if self.h.smoker { 1.3 } else { 1.0 };
            if self.on(Drug::Bronchodilator) {
                ex *= 0.7;
            }
            if hazard(rng, ex) {
                if rng.random_bool(0.3) {
                    self.admission(t, Condition::Copd, rng, 0.03);
                } else {
                    self.ed_visit(t, Some(Condition::Copd), rng);
                }
            } else if !self.known(Condition::Copd) && hazard(rng, 0.5) {
                self.clinic_visit(t, rng, Some(Condition::Copd));
            }
        }
        if !self.has(Condition::ColorectalCancer) {
            let mut h = 0.00025 * (0.075 * (age - 50.0)).exp();
            if self.h.bmi >= 30.0 {
                h *= 1.3;
            }
            if !self.person.female {
                h *= 1.2;
            }
            if hazard(rng, h) {
                self.onset(Condition::ColorectalCancer, t);
            }
        } else if !self.known(Condition::ColorectalCancer) {
            let months = (t - self.truth.onset[Condition::ColorectalCancer.index()].unwrap_or(t)) / (30 * DAY);
            if months >= 4 && hazard(rng, if months > 9 { 2.0 } else { 0.8 }) {
                // Symptoms (bleeding, change in bowel habit) lead to colonoscopy and diagnosis.
                self.colonoscopy(t, rng);
            }
        }
        let mut sepsis = 0.0015 * (0.06 * (age - 60.0)).exp();
        sepsis *= self.ratio(&[
            (Condition::Diabetes, 1.8),
            (Condition::Ckd3, 2.0),
            (Condition::Copd, 2.0),
            (Condition::ColorectalCancer, 2.5),
            (Condition::HeartFailure, 1.5),
        ]);
        if hazard(rng, sepsis) {
            self.onset(Condition::Sepsis, t);
            self.admission(t, Condition::Sepsis, rng, 0.18);
            if rng.random_bool(0.3) {
                self.h.egfr -= 8.0; // acute kidney injury leaves a mark
            }
        }
        let bleed = 0.0008 * (0.05 * (age - 60.0)).exp() + if self.on(Drug::Anticoagulant) { 0.015 } else { 0.0 };
        if hazard(rng, bleed) {
            self.onset(Condition::GiBleed, t);
            self.h.bleed_drop = 3.0;
            self.admission(t, Condition::GiBleed, rng, 0.05);
        }
        if self.h.alive && rng.random_bool(0.08 * DT) {
            let infection = if rng.random_bool(0.5) { dx::PNEUMONIA } else { dx::UTI };
            self.infection_visit(t, infection, rng);
        }
    }

    fn death_hazard(&self, t: i64) -> f64 {
        let age = self.age(t);
        let mut h = 0.00005 * (0.085 * age).exp();
        h *= self.ratio(&[
            (Condition::HeartFailure, 2.2),
            (Condition::Ckd5, 4.0),
            (Condition::Copd, 1.8),
            (Condition::Diabetes, 1.4),
            (Condition::AtrialFibrillation, 1.3),
        ]);
        if self.has(Condition::Ckd4) && !self.has(Condition::Ckd5) {
            h *= 2.0;
        }
        if self.has(Condition::ColorectalCancer) {
            h += 0.08;
        }
        h
    }

    fn die(&mut self, t: i64) {
        if !self.h.alive {
            return;
        }
        let t = t.max(self.h.busy_until.min(t + 30 * DAY));
        self.h.alive = false;
        self.truth.death = Some(t);
        if self.person.registered(t) {
            let id = self.id(("MEDS_DEATH", "Death"));
            self.timeline.push(Some(t), id, None, None);
        }
    }

    // ---- care --------------------------------------------------------------------------------

    fn visit_time(&self, t: i64, rng: &mut ChaCha8Rng) -> i64 {
        t + rng.random_range(0..27) * DAY + rng.random_range(8..17) * HOUR + rng.random_range(0..60) * 60_000_000
    }

    fn dx(&mut self, t: i64, c: Condition, rng: &mut ChaCha8Rng) {
        if !self.person.registered(t) {
            return;
        }
        let mut code = c.code();
        if c == Condition::Diabetes {
            let d = &self.config.drift;
            if self.person.site == d.coding_change_site
                && year_of(t) >= d.coding_change_year
                && rng.random_bool(d.coding_change_share)
            {
                code = dx::T2D_HYPERGLYCEMIA;
            }
        }
        if rng.random_bool(self.config.mess.miscode) {
            code = c.confusable();
        }
        self.record(t, code, None);
        if code == c.code() || (c == Condition::Diabetes && code == dx::T2D_HYPERGLYCEMIA) {
            let slot = &mut self.truth.diagnosed[c.index()];
            if slot.is_none() {
                *slot = Some(t);
            }
        }
    }

    fn measure(&mut self, t: i64, code: Code, value: f64, cv: f64, decimals: i32, rng: &mut ChaCha8Rng) -> f64 {
        let noisy = value * (1.0 + cv * self.config.mess.lab_noise * normal(rng));
        let scale = 10f64.powi(decimals);
        let v = (noisy * scale).round() / scale;
        self.record(t, code, Some(v as f32));
        if rng.random_bool(self.config.mess.duplicate_row) {
            self.record(t, code, Some(v as f32));
        }
        v
    }

    fn vitals(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
        let sbp = self.sbp_effective(t);
        let measured = self.measure(t, lab::SBP, sbp + 6.0 * normal(rng), 0.0, 0, rng);
        self.measure(t, lab::DBP, 0.55 * sbp + 10.0 + 5.0 * normal(rng), 0.0, 0, rng);
        let mut hr = self.h.heart_rate
            + if self.has(Condition::AtrialFibrillation) && !self.on(Drug::BetaBlocker) { 18.0 } else { 0.0 };
        if self.on(Drug::BetaBlocker) {
            hr -= 10.0;
        }
        self.measure(t, lab::HEART_RATE, hr + 4.0 * normal(rng), 0.0, 0, rng);
        let weight = self.h.bmi * self.person.height_m * self.person.height_m;
        self.measure(t, lab::WEIGHT, weight, 0.005, 1, rng);
        self.measure(t, lab::BMI, self.h.bmi, 0.005, 1, rng);
        if measured >= 140.0 {
            self.h.high_bp_readings += 1;
        } else if measured < 130.0 {
            self.h.high_bp_readings = 0;
        }
        if self.has(Condition::Hypertension) && !self.known(Condition::Hypertension) && self.person.registered(t) {
            // Two high readings, or one very high, and the clinician codes hypertension.
            let p = if measured >= 160.0 {
                0.7
            } else if self.h.high_bp_readings >= 2 {
                0.8
            } else {
                0.0
            };
            if p > 0.0 && rng.random_bool(p) {
                self.dx(t, Condition::Hypertension, rng);
            }
        }
        measured
    }

    fn glucose(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        let mg = 28.7 * self.a1c_effective() - 46.7 - 10.0 + 12.0 * normal(rng);
        match self.config.sites[self.person.site].glucose_unit {
            GlucoseUnit::MgPerDl => {
                self.measure(t, lab::GLUCOSE_MG, mg, 0.02, 0, rng);
            }
            GlucoseUnit::MmolPerL => {
                self.measure(t, lab::GLUCOSE_MMOL, mg / 18.016, 0.02, 1, rng);
            }
        }
    }

    fn a1c_test(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
        let v = self.a1c_effective();
        let measured = self.measure(t, lab::HBA1C, v, 0.02, 1, rng);
        self.glucose(t, rng);
        if measured >= 6.5 && self.has(Condition::Diabetes) && !self.known(Condition::Diabetes) && rng.random_bool(0.9)
        {
            self.dx(t, Condition::Diabetes, rng);
        } else if (5.7..6.5).contains(&measured) && !self.known(Condition::Prediabetes) && rng.random_bool(0.4) {
            self.dx(t, Condition::Prediabetes, rng);
        }
        measured
    }

    fn bmp(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
        let age = self.age(t);
        let mut creat = creatinine_for(self.h.egfr, age, self.person.female);
        let d = &self.config.drift;
        if self.person.site == d.assay_change_site && year_of(t) >= d.assay_change_year {
            creat *= 1.0 + d.assay_bias;
        }
        let measured_creat = self.measure(t, lab::CREATININE, creat, 0.04, 2, rng);
        let egfr = egfr_from(measured_creat.max(0.1), age, self.person.female);
        let reported = self.measure(t, lab::EGFR, egfr, 0.0, 0, rng);
        self.measure(t, lab::POTASSIUM, self.potassium() + 0.3 * normal(rng), 0.0, 1, rng);
        self.measure(t, lab::SODIUM, self.sodium() + 2.0 * normal(rng), 0.0, 0, rng);
        self.glucose(t, rng);
        // KDIGO: CKD needs reduced eGFR for more than three months.
        if reported < 60.0 {
            match self.h.low_egfr_seen {
                Some(first) if t - first >= 90 * DAY => {
                    let stage = if reported < 15.0 {
                        Condition::Ckd5
                    } else if reported < 30.0 {
                        Condition::Ckd4
                    } else {
                        Condition::Ckd3
                    };
                    if !self.known(stage) && self.has(stage) && rng.random_bool(0.7) {
                        self.dx(t, stage, rng);
                    }
                }
                Some(_) => {}
                None => self.h.low_egfr_seen = Some(t),
            }
        } else {
            self.h.low_egfr_seen = None;
        }
        reported
    }

    fn cbc(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        let hgb = self.hemoglobin(t);
        let measured = self.measure(t, lab::HEMOGLOBIN, hgb, 0.03, 1, rng);
        let platelets = self.h.platelets - if self.has(Condition::Sepsis) { 20.0 } else { 0.0 };
        self.measure(t, lab::PLATELETS, platelets, 0.06, 0, rng);
        if measured < 11.0
            && self.has(Condition::ColorectalCancer)
            && !self.known(Condition::ColorectalCancer)
            && rng.random_bool(0.5)
        {
            // Unexplained anaemia is worked up with a colonoscopy within weeks.
            self.colonoscopy(t + rng.random_range(14..60) * DAY, rng);
        }
    }

    fn lipids(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
        let ldl = self.ldl_effective();
        let measured = self.measure(t, lab::LDL, ldl, 0.06, 0, rng);
        let hdl = self.measure(t, lab::HDL, self.h.hdl.max(20.0), 0.04, 0, rng);
        self.measure(t, lab::CHOLESTEROL, measured + hdl + 25.0 + 8.0 * normal(rng), 0.03, 0, rng);
        if measured >= 160.0 && !self.known(Condition::Hyperlipidemia) && rng.random_bool(0.6) {
            self.onset(Condition::Hyperlipidemia, t);
            self.dx(t, Condition::Hyperlipidemia, rng);
        }
        measured
    }

    fn problem_list(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        for c in Condition::ALL {
            if c.chronic() && self.known(c) && rng.random_bool(0.8) {
                self.dx(t, c, rng);
            }
        }
        if self.h.smoker && rng.random_bool(0.5) {
            self.record(t, dx::NICOTINE, None);
        }
        if self.h.bmi >= 30.0 && rng.random_bool(0.4) {
            self.record(t, dx::OBESITY, None);
        }
        if self.traits.family_diabetes && rng.random_bool(0.1) {
            self.record(t, dx::FH_DIABETES, None);
        }
        if rng.random_bool((self.config.mess.rule_out_per_year * 2.0).min(1.0)) {
            // A rule-out code: recorded once, never confirmed by anything else.
            let code = [dx::AFIB, dx::HEART_FAILURE, dx::T2D][rng.random_range(0..3)];
            self.record(t, code, None);
        }
    }

    fn start(&mut self, t: i64, d: Drug, rng: &mut ChaCha8Rng) {
        if self.on(d) || !self.person.registered(t) || self.config.withhold.contains(&d) || self.h.withheld[d.index()] {
            return;
        }
        self.h.drugs[d.index()] = Some(t);
        let alternative = match d {
            Drug::AceArb => rng.random_bool(0.3),
            Drug::Anticoagulant => year_of(t) < 2014 || rng.random_bool(0.15),
            _ => false,
        };
        self.h.alternative_agent[d.index()] = alternative;
        self.h.last_renewal[d.index()] = t;
        self.record(t, d.code(alternative), None);
        let slot = &mut self.truth.drug_start[d.index()];
        if slot.is_none() {
            *slot = Some(t);
        }
    }

    fn renew(&mut self, t: i64) {
        for d in Drug::ALL {
            if self.on(d) && t.saturating_sub(self.h.last_renewal[d.index()]) >= 330 * DAY {
                self.h.last_renewal[d.index()] = t;
                self.record(t, d.code(self.h.alternative_agent[d.index()]), None);
            }
        }
    }

    fn sglt2_uptake(&self, t: i64) -> f64 {
        let d = &self.config.drift;
        let years = f64::from(year_of(t) - d.sglt2_uptake_start_year);
        if years < 0.0 {
            0.05
        } else {
            0.05 + (d.sglt2_uptake_max - 0.05) * (years / d.sglt2_uptake_ramp_years).min(1.0)
        }
    }

    /// Guideline-like prescribing at a visit, given what was just measured.
    fn treat(&mut self, t: i64, a1c: Option<f64>, sbp: Option<f64>, ldl: Option<f64>, rng: &mut ChaCha8Rng) {
        let age = self.age(t);
        if self.known(Condition::Diabetes) {
            if !self.on(Drug::Metformin) && self.h.egfr > 30.0 && rng.random_bool(0.85) {
                self.start(t, Drug::Metformin, rng);
            } else if let Some(a1c) = a1c
                && a1c > 7.5
                && self.h.drugs[Drug::Metformin.index()].is_some_and(|s| t - s > 180 * DAY)
            {
                let on_second = self.on(Drug::Sglt2) || self.on(Drug::Glp1);
                if !on_second {
                    if rng.random_bool(self.sglt2_uptake(t)) {
                        self.start(t, Drug::Sglt2, rng);
                    } else if rng.random_bool(if year_of(t) >= 2018 { 0.5 } else { 0.15 }) {
                        self.start(t, Drug::Glp1, rng);
                    }
                } else if a1c > 9.0 && !self.on(Drug::Insulin) && rng.random_bool(0.6) {
                    self.start(t, Drug::Insulin, rng);
                }
            }
        }
        if self.known(Condition::Hypertension) {
            if !self.on(Drug::AceArb) && rng.random_bool(0.85) {
                self.start(t, Drug::AceArb, rng);
            } else if sbp.is_some_and(|s| s > 140.0) {
                if !self.on(Drug::Amlodipine) && rng.random_bool(0.6) {
                    self.start(t, Drug::Amlodipine, rng);
                } else if self.on(Drug::Amlodipine) && !self.on(Drug::Thiazide) && rng.random_bool(0.5) {
                    self.start(t, Drug::Thiazide, rng);
                }
            }
        }
        if !self.on(Drug::Statin) {
            let indicated = (self.known(Condition::Diabetes) && (40.0..=75.0).contains(&age))
                || ldl.is_some_and(|l| l >= 190.0)
                || self.known(Condition::CoronaryDisease)
                || self.known(Condition::MyocardialInfarction)
                || self.known(Condition::Stroke)
                || (age >= 55.0
                    && ldl.is_some_and(|l| l >= 130.0)
                    && (self.known(Condition::Hypertension) || self.h.smoker));
            if indicated && rng.random_bool(0.7) {
                self.start(t, Drug::Statin, rng);
            }
        }
        if self.known(Condition::AtrialFibrillation) {
            if !self.on(Drug::Anticoagulant) && rng.random_bool(0.7) {
                self.start(t, Drug::Anticoagulant, rng);
            }
            if !self.on(Drug::BetaBlocker) && rng.random_bool(0.6) {
                self.start(t, Drug::BetaBlocker, rng);
            }
        }
        if self.known(Condition::HeartFailure) {
            for (d, p) in [(Drug::BetaBlocker, 0.8), (Drug::LoopDiuretic, 0.85), (Drug::AceArb, 0.7)] {
                if !self.on(d) && rng.random_bool(p) {
                    self.start(t, d, rng);
                }
            }
            if year_of(t) >= 2021 && !self.on(Drug::Sglt2) && rng.random_bool(0.4) {
                self.start(t, Drug::Sglt2, rng);
            }
        }
        if self.known(Condition::Copd) && !self.on(Drug::Bronchodilator) && rng.random_bool(0.7) {
            self.start(t, Drug::Bronchodilator, rng);
        }
        self.renew(t);
    }

    fn encounter(&mut self, t: i64, kind: Code, cpt_code: Code) {
        self.record(t, kind, None);
        self.record(t, cpt_code, None);
    }

    fn screening_probability(&self, t: i64) -> f64 {
        let site = &self.config.sites[self.person.site];
        let d = &self.config.drift;
        let factor = if year_of(t) >= d.screening_intensifies_year { d.screening_intensity_factor } else { 1.0 };
        (site.a1c_screening * factor).min(0.95)
    }

    fn wellness_visit(&mut self, month: i64, rng: &mut ChaCha8Rng) {
        let t = self.visit_time(month, rng);
        let age = self.age(t);
        let preventive = if age >= 65.0 {
            cpt::PREVENTIVE_65
        } else if age >= 40.0 {
            cpt::PREVENTIVE_40_64
        } else {
            cpt::OFFICE_VISIT
        };
        self.encounter(t, encounter::AMBULATORY, preventive);
        self.record(t, dx::ADULT_EXAM, None);
        let sbp = self.vitals(t, rng);
        if age < 18.0 {
            return;
        }
        let lab_t = t + 30 * 60_000_000;
        let chronic = self.known(Condition::Diabetes) || self.known(Condition::Hypertension);
        let ldl = (age >= 20.0 && rng.random_bool(if chronic { 0.9 } else { 0.6 })).then(|| self.lipids(lab_t, rng));
        let eligible = (age >= 35.0 && self.h.bmi >= 25.0) || age >= 45.0 || self.traits.family_diabetes;
        // Known prediabetes is re-tested yearly (ADA); others are screened at the site's rate.
        let p = if self.known(Condition::Prediabetes) { 0.9 } else { self.screening_probability(t) };
        let a1c =
            (eligible && !self.known(Condition::Diabetes) && rng.random_bool(p)).then(|| self.a1c_test(lab_t, rng));
        if rng.random_bool(if chronic || self.known(Condition::Ckd3) { 0.9 } else { 0.5 }) {
            self.bmp(lab_t, rng);
        }
        if rng.random_bool(if age >= 50.0 { 0.6 } else { 0.4 }) {
            self.cbc(lab_t, rng);
        }
        if self.has(Condition::AtrialFibrillation)
            && !self.known(Condition::AtrialFibrillation)
            && rng.random_bool(0.25)
        {
            self.record(t, cpt::ECG, None);
            self.dx(t, Condition::AtrialFibrillation, rng);
        }
        if (50.0..=75.0).contains(&age) && t >= self.h.next_colonoscopy_ok && rng.random_bool(0.25) {
            self.colonoscopy(t + rng.random_range(20..90) * DAY, rng);
        }
        self.problem_list(t, rng);
        self.treat(t, a1c, Some(sbp), ldl, rng);
        self.schedule_followup(t, rng);
        if rng.random_bool(0.35) {
            self.write_note(t + HOUR, note::PROGRESS, rng);
        }
    }

    fn managed(&self) -> bool {
        [
            Condition::Diabetes,
            Condition::Hypertension,
            Condition::Ckd3,
            Condition::HeartFailure,
            Condition::AtrialFibrillation,
            Condition::Copd,
            Condition::CoronaryDisease,
        ]
        .iter()
        .any(|c| self.known(*c))
    }

    fn schedule_followup(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        if !self.managed() {
            self.h.next_followup = None;
            return;
        }
        let close = self.known(Condition::HeartFailure)
            || self.known(Condition::Ckd4)
            || (self.known(Condition::Diabetes) && self.a1c_effective() > 8.0);
        let months = if close { 3 } else { 6 };
        self.h.next_followup = Some(t + months * 30 * DAY + rng.random_range(0..20) * DAY);
    }

    fn clinic_visit(&mut self, month: i64, rng: &mut ChaCha8Rng, presenting: Option<Condition>) {
        let t = self.visit_time(month, rng);
        if t < self.h.busy_until {
            return;
        }
        self.encounter(t, encounter::AMBULATORY, cpt::OFFICE_VISIT);
        let sbp = self.vitals(t, rng);
        let lab_t = t + 30 * 60_000_000;
        let a1c = self.known(Condition::Diabetes).then(|| self.a1c_test(lab_t, rng));
        if self.known(Condition::Ckd3) || self.known(Condition::HeartFailure) || rng.random_bool(0.4) {
            self.bmp(lab_t, rng);
        }
        if self.known(Condition::Ckd3) || self.known(Condition::Diabetes) && rng.random_bool(0.4) {
            let mut uacr = 10.0 * (0.8 * normal(rng)).exp();
            if self.has(Condition::Diabetes) {
                uacr *= 1.0 + 2.0 * (self.a1c_effective() - 6.0).max(0.0);
            }
            if self.has(Condition::Ckd3) {
                uacr *= 3.0;
            }
            if self.on(Drug::AceArb) {
                uacr *= 0.6;
            }
            self.measure(lab_t, lab::UACR, uacr, 0.1, 0, rng);
        }
        if self.known(Condition::Ckd3) || rng.random_bool(0.2) {
            self.cbc(lab_t, rng);
        }
        let heart = presenting == Some(Condition::HeartFailure) || self.known(Condition::HeartFailure);
        if heart {
            let v = self.nt_probnp(t);
            self.measure(lab_t, lab::NT_PROBNP, v, 0.15, 0, rng);
        }
        if let Some(c) = presenting
            && self.has(c)
            && !self.known(c)
        {
            self.dx(t, c, rng);
        }
        if self.has(Condition::CoronaryDisease) && !self.known(Condition::CoronaryDisease) && rng.random_bool(0.1) {
            self.dx(t, Condition::CoronaryDisease, rng);
        }
        self.problem_list(t, rng);
        self.treat(t, a1c, Some(sbp), None, rng);
        self.schedule_followup(t, rng);
    }

    fn colonoscopy(&mut self, t: i64, rng: &mut ChaCha8Rng) {
        self.h.next_colonoscopy_ok = t + 10 * YEAR;
        if !self.person.registered(t) {
            return;
        }
        self.encounter(t, encounter::AMBULATORY, cpt::COLONOSCOPY);
        if self.has(Condition::ColorectalCancer)
            && self.truth.onset[Condition::ColorectalCancer.index()].is_some_and(|o| o <= t)
        {
            self.dx(t, Condition::ColorectalCancer, rng);
        }
    }

    fn infection_visit(&mut self, month: i64, code: Code, rng: &mut ChaCha8Rng) {
        let t = self.visit_time(month, rng);
        if t < self.h.busy_until {
            return;
        }
        if rng.random_bool(0.4) {
            self.encounter(t, encounter::EMERGENCY, cpt::ED_VISIT);
        } else {
            self.encounter(t, encounter::AMBULATORY, cpt::OFFICE_VISIT);
        }
        self.vitals(t, rng);
        self.record(t, code, None);
        if rng.random_bool(0.5) {
            self.cbc(t + HOUR, rng);
        }
    }

    fn ed_visit(&mut self, month: i64, presenting: Option<Condition>, rng: &mut ChaCha8Rng) {
        let t = month + rng.random_range(0..28) * DAY + rng.random_range(0..24) * HOUR;
        if t < self.h.busy_until {
            return;
        }
        self.encounter(t, encounter::EMERGENCY, cpt::ED_VISIT);
        self.vitals(t, rng);
        self.bmp(t + HOUR, rng);
        self.cbc(t + HOUR, rng);
        if let Some(c) = presenting {
            if c == Condition::AtrialFibrillation {
                self.record(t, cpt::ECG, None);
            }
            if c == Condition::Copd {
                self.record(t, dx::COPD_EXACERBATION, None);
            }
            if self.has(c) {
                self.dx(t, c, rng);
            }
        }
        if rng.random_bool(0.02) {
            // Chest pain coded as MI to rule it out.
            self.record(t, dx::MI, None);
        }
        self.treat(t, None, None, None, rng);
    }

    /// An acute admission through the emergency department, with a length of stay, labs,
    /// procedures, in-hospital death with probability `fatality`, and a possible readmission.
    fn admission(&mut self, month: i64, c: Condition, rng: &mut ChaCha8Rng, fatality: f64) {
        let t = month + rng.random_range(0..28) * DAY + rng.random_range(0..24) * HOUR;
        let mean_los = match c {
            Condition::MyocardialInfarction => 4.0,
            Condition::Stroke => 5.0,
            Condition::HeartFailure => 5.0,
            Condition::Sepsis => 7.0,
            Condition::Copd => 4.0,
            _ => 3.0,
        };
        let los_days = (mean_los * (0.5 * normal(rng)).exp()).clamp(1.0, 40.0);
        // Times are recorded to the minute, as in real records (and FHIR carries them exactly).
        let discharge = t + (los_days * 24.0 * 60.0) as i64 * 60_000_000;
        if !self.person.registered(t) {
            // Treated elsewhere before registration: the history shows up on the problem list.
            if c.chronic() || matches!(c, Condition::MyocardialInfarction | Condition::Stroke) {
                self.truth.diagnosed[c.index()].get_or_insert(self.person.registered_from.max(t));
            }
            if rng.random_bool(fatality) && t >= self.person.registered_from {
                self.die(t);
            }
            return;
        }
        self.encounter(t - 3 * HOUR, encounter::EMERGENCY, cpt::ED_VISIT);
        self.encounter(t, encounter::INPATIENT, cpt::ADMISSION);
        self.vitals(t, rng);
        self.dx(t, c, rng);
        if c == Condition::Copd {
            self.record(t, dx::COPD_EXACERBATION, None);
        }
        if c == Condition::GiBleed {
            self.record(t, dx::ANEMIA, None);
        }
        self.problem_list(t, rng);
        self.bmp(t + HOUR, rng);
        self.cbc(t + HOUR, rng);
        if c == Condition::HeartFailure || c == Condition::MyocardialInfarction {
            let v = self.nt_probnp(t);
            self.measure(t + HOUR, lab::NT_PROBNP, v, 0.15, 0, rng);
        }
        if c == Condition::MyocardialInfarction && rng.random_bool(0.55) {
            self.record(t + 4 * HOUR, cpt::CORONARY_STENT, None);
        }
        if self.has(Condition::Ckd5) && rng.random_bool(0.5) {
            self.record(t + DAY, cpt::HEMODIALYSIS, None);
        }
        self.h.busy_until = discharge;
        if rng.random_bool(fatality) {
            let at = t + ((discharge - t) / 60_000_000) * rng.random_range(0..60) / 60 * 60_000_000;
            // The stay ends with the death.
            self.h.busy_until = at;
            self.record(at, encounter::INPATIENT_END, None);
            self.die(at);
            return;
        }
        self.bmp(discharge - 4 * HOUR, rng);
        self.encounter(discharge, encounter::INPATIENT_END, cpt::DISCHARGE);
        self.treat(discharge, None, None, None, rng);
        self.write_note(discharge, note::DISCHARGE, rng);
        let readmit = match c {
            Condition::HeartFailure => 0.2,
            Condition::Sepsis => 0.15,
            Condition::Copd => 0.18,
            Condition::MyocardialInfarction => 0.12,
            _ => 0.1,
        };
        if rng.random_bool(readmit) {
            self.h.readmit = Some((discharge + rng.random_range(3..30) * DAY, c));
        }
        self.schedule_followup(discharge, rng);
    }

    // ---- the loop ----------------------------------------------------------------------------

    /// Initialises physiology and static events; returns the range of months to simulate.
    pub(crate) fn begin(&mut self) -> (i64, i64) {
        let mut fixed = stream(self.config.seed, self.index, u64::MAX - 3, 0);
        let end_month = i64::from(self.config.end_year - SIM_BASE_YEAR + 1) * 12;
        let birth_month = {
            let months = (self.person.birth - date(SIM_BASE_YEAR, 1, 1)) as f64 / (YEAR as f64 / 12.0);
            months.ceil().max(0.0) as i64
        };
        let first = month_start(SIM_BASE_YEAR, birth_month);
        self.init_physiology(first, &mut fixed);
        self.static_events(&mut fixed);
        (birth_month, end_month)
    }

    /// Simulates month `m` (counted from January 2000) with the random stream of `replica`;
    /// returns whether the patient is still alive.
    pub(crate) fn step_month(&mut self, m: i64, replica: u64) -> bool {
        {
            if !self.h.alive {
                return false;
            }
            let t = month_start(SIM_BASE_YEAR, m);
            let mut rng = stream(self.config.seed, self.index, m as u64, replica);
            self.step_physiology(t, &mut rng);
            self.step_events(t, &mut rng);
            if !self.h.alive {
                return false;
            }
            if let Some((at, c)) = self.h.readmit
                && at < t + 31 * DAY
            {
                self.h.readmit = None;
                if at >= self.h.busy_until {
                    self.admission(at - at.rem_euclid(DAY), c, &mut rng, 0.05);
                }
            }
            if self.person.registered(t) && self.h.alive {
                let calendar_month = (m % 12) as u32;
                let attendance = self.config.sites[self.person.site].wellness_attendance
                    * if self.age(t) >= 65.0 { 1.15 } else { 1.0 };
                if calendar_month == self.h.wellness_month && rng.random_bool(attendance.min(0.98)) {
                    self.wellness_visit(t, &mut rng);
                } else if self.h.next_followup.is_some_and(|f| f < t + 30 * DAY) {
                    if rng.random_bool(self.config.mess.missed_visit) {
                        self.h.next_followup = Some(t + 60 * DAY);
                    } else {
                        self.clinic_visit(t, &mut rng, None);
                    }
                }
            }
            // Mortality applies once the patient is in the registered population (those we see
            // were alive when they joined).
            if t >= self.person.registered_from && self.h.alive && hazard(&mut rng, self.death_hazard(t)) {
                let at = t + rng.random_range(0..28) * DAY + rng.random_range(0..24) * HOUR;
                self.die(at);
            }
        }
        self.h.alive
    }

    /// The intervention of a counterfactual branch, applied at `at`.
    pub(crate) fn intervene(&mut self, at: i64, intervention: Intervention) {
        match intervention {
            Intervention::Start(d) => {
                self.h.withheld[d.index()] = false;
                if !self.on(d) {
                    self.h.drugs[d.index()] = Some(at);
                    self.h.last_renewal[d.index()] = at;
                }
            }
            Intervention::Withhold(d) => {
                self.h.drugs[d.index()] = None;
                self.h.withheld[d.index()] = true;
            }
        }
    }

    pub(crate) fn truth(&self) -> &PatientTruth {
        &self.truth
    }

    fn static_events(&mut self, rng: &mut ChaCha8Rng) {
        let gender = if self.person.female { demographics::FEMALE } else { demographics::MALE };
        let race = demographics::RACES[self.person.race];
        let ethnicity = if self.person.hispanic { demographics::HISPANIC } else { demographics::NOT_HISPANIC };
        for code in [gender, race, ethnicity] {
            let id = self.id(code);
            self.timeline.push(None, id, None, None);
        }
        let birth = self.id(("MEDS_BIRTH", "Birth"));
        self.timeline.push(Some(self.person.birth), birth, None, None);
        let _ = rng;
    }
}

/// The codes this module emits are all in [`vocab::all`].
#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab;

    #[test]
    fn ckd_epi_round_trips() {
        for (egfr, age, female) in [(90.0, 40.0, true), (45.0, 70.0, false), (12.0, 60.0, true), (120.0, 25.0, false)] {
            let creat = creatinine_for(egfr, age, female);
            assert!((egfr_from(creat, age, female) - egfr).abs() < 0.01, "{egfr} {age} {female}");
        }
    }

    #[test]
    fn every_emitted_code_is_in_the_vocabulary() {
        let config = SynthConfig::new(200, 2, 3);
        let codes = vocab::code_table();
        let n = codes.len();
        for i in 0..200 {
            let p = simulate_patient(&config, &codes, i);
            assert!(p.timeline.codes.iter().all(|&c| (c as usize) < n));
            assert_eq!(codes.len(), n, "no code was added on the fly");
        }
    }
}
