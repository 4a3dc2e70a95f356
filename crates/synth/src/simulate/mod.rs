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

mod care;
pub(crate) use care::{
    ADMISSION_DAYS, ADMISSION_HOURS, LOS_DAYS, LOS_SIGMA, POTASSIUM_SD, READMIT_DAYS, READMIT_PROCESSED_BEFORE,
};
mod events;
mod physiology;

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
    /// Each recorded hospital stay as it began, with the hidden parameters its course was drawn
    /// from (the oracle of the hospital-course tasks reads them).
    pub stays: Vec<Stay>,
    /// Each potassium draw: its time and the patient's true level then. The value recorded is
    /// that level plus N(0, 0.3²) mmol/L, rounded to 0.1.
    pub potassium: Vec<(i64, f64)>,
}

/// A hospital stay's hidden course parameters, as drawn at admission: the stay lasts
/// `clamp(mean_los_days · e^(0.5·Z), 1, 40)` days (Z standard normal), and with probability
/// `fatality` the patient dies at a uniformly drawn whole-minute fraction `u/60` of it
/// (`u` in 0..60), which ends the stay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stay {
    /// Admission time (the inpatient encounter's timestamp).
    pub admitted: i64,
    /// The median length of stay for the admitting condition, days.
    pub mean_los_days: f64,
    /// The probability of dying in this stay.
    pub fatality: f64,
    /// When the stay ends: the discharge as drawn, or the death that ends it.
    pub ended: i64,
    /// Whether the stay ended in death.
    pub died: bool,
    /// The probability, drawn at discharge, that a readmission for the same condition is
    /// scheduled: it falls `k` whole days after the discharge (`k` uniform in 3..30), where the
    /// admission then draws its own day (0..28 on) and hour (0..24) from the start of that day.
    pub readmission: f64,
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
                && at < t + READMIT_PROCESSED_BEFORE
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

    /// Forgets a readmission the recorded world scheduled, and any stay it held after `discharged`:
    /// the readmission oracle weighs the scheduled one exactly and re-draws only the rest.
    pub(crate) fn forget_readmission(&mut self, discharged: i64) {
        self.h.readmit = None;
        self.h.busy_until = self.h.busy_until.min(discharged);
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

    /// The events recorded so far (what the health system's data would hold).
    pub(crate) fn recorded(&self) -> &Timeline {
        &self.timeline
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
