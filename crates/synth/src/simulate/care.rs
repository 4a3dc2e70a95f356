//! Care: the visits, tests, diagnoses and prescriptions through which the health system observes
//! (and changes) the hidden state.

use super::*;

/// The spread of a measured potassium around the patient's true level, mmol/L (one standard
/// deviation; the oracle of the hyperkalemia task reads it too).
pub(crate) const POTASSIUM_SD: f64 = 0.3;
/// A hospital stay's length is its condition's median times `e^(LOS_SIGMA · Z)`, Z standard
/// normal, clamped to `LOS_DAYS` (shared with the oracle of the length-of-stay task).
pub(crate) const LOS_SIGMA: f64 = 0.5;
/// The shortest and longest stay, days.
pub(crate) const LOS_DAYS: (f64, f64) = (1.0, 40.0);
/// A scheduled readmission falls this many whole days after the discharge (uniform).
pub(crate) const READMIT_DAYS: std::ops::Range<i64> = 3..30;
/// A scheduled readmission is admitted in the first month whose start is less than this before it
/// (after that month's other events), on a day and hour the admission draws from the start of its
/// scheduled day: 0..28 days and 0..24 hours later (shared with the readmission oracle).
pub(crate) const READMIT_PROCESSED_BEFORE: i64 = 31 * DAY;
/// The days and hours an admission draws after the start of the period it is placed in.
pub(crate) const ADMISSION_DAYS: std::ops::Range<i64> = 0..28;
/// See [`ADMISSION_DAYS`].
pub(crate) const ADMISSION_HOURS: std::ops::Range<i64> = 0..24;

impl Ctx<'_> {
    pub(super) fn visit_time(&self, t: i64, rng: &mut ChaCha8Rng) -> i64 {
        t + rng.random_range(0..27) * DAY + rng.random_range(8..17) * HOUR + rng.random_range(0..60) * 60_000_000
    }

    pub(super) fn dx(&mut self, t: i64, c: Condition, rng: &mut ChaCha8Rng) {
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

    pub(super) fn measure(
        &mut self,
        t: i64,
        code: Code,
        value: f64,
        cv: f64,
        decimals: i32,
        rng: &mut ChaCha8Rng,
    ) -> f64 {
        let noisy = value * (1.0 + cv * self.config.mess.lab_noise * normal(rng));
        let scale = 10f64.powi(decimals);
        let v = (noisy * scale).round() / scale;
        self.record(t, code, Some(v as f32));
        if rng.random_bool(self.config.mess.duplicate_row) {
            self.record(t, code, Some(v as f32));
        }
        v
    }

    pub(super) fn vitals(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
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

    pub(super) fn glucose(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn a1c_test(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
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

    pub(super) fn bmp(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
        let age = self.age(t);
        let mut creat = creatinine_for(self.h.egfr, age, self.person.female);
        let d = &self.config.drift;
        if self.person.site == d.assay_change_site && year_of(t) >= d.assay_change_year {
            creat *= 1.0 + d.assay_bias;
        }
        let measured_creat = self.measure(t, lab::CREATININE, creat, 0.04, 2, rng);
        let egfr = egfr_from(measured_creat.max(0.1), age, self.person.female);
        let reported = self.measure(t, lab::EGFR, egfr, 0.0, 0, rng);
        let potassium = self.potassium();
        self.truth.potassium.push((t, potassium));
        self.measure(t, lab::POTASSIUM, potassium + POTASSIUM_SD * normal(rng), 0.0, 1, rng);
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

    pub(super) fn cbc(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn lipids(&mut self, t: i64, rng: &mut ChaCha8Rng) -> f64 {
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

    pub(super) fn problem_list(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn start(&mut self, t: i64, d: Drug, rng: &mut ChaCha8Rng) {
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

    pub(super) fn renew(&mut self, t: i64) {
        for d in Drug::ALL {
            if self.on(d) && t.saturating_sub(self.h.last_renewal[d.index()]) >= 330 * DAY {
                self.h.last_renewal[d.index()] = t;
                self.record(t, d.code(self.h.alternative_agent[d.index()]), None);
            }
        }
    }

    pub(super) fn sglt2_uptake(&self, t: i64) -> f64 {
        let d = &self.config.drift;
        let years = f64::from(year_of(t) - d.sglt2_uptake_start_year);
        if years < 0.0 {
            0.05
        } else {
            0.05 + (d.sglt2_uptake_max - 0.05) * (years / d.sglt2_uptake_ramp_years).min(1.0)
        }
    }

    /// Guideline-like prescribing at a visit, given what was just measured.
    pub(super) fn treat(&mut self, t: i64, a1c: Option<f64>, sbp: Option<f64>, ldl: Option<f64>, rng: &mut ChaCha8Rng) {
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

    pub(super) fn encounter(&mut self, t: i64, kind: Code, cpt_code: Code) {
        self.record(t, kind, None);
        self.record(t, cpt_code, None);
    }

    pub(super) fn screening_probability(&self, t: i64) -> f64 {
        let site = &self.config.sites[self.person.site];
        let d = &self.config.drift;
        let factor = if year_of(t) >= d.screening_intensifies_year { d.screening_intensity_factor } else { 1.0 };
        (site.a1c_screening * factor).min(0.95)
    }

    pub(super) fn wellness_visit(&mut self, month: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn managed(&self) -> bool {
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

    pub(super) fn schedule_followup(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn clinic_visit(&mut self, month: i64, rng: &mut ChaCha8Rng, presenting: Option<Condition>) {
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

    pub(super) fn colonoscopy(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn infection_visit(&mut self, month: i64, code: Code, rng: &mut ChaCha8Rng) {
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

    pub(super) fn ed_visit(&mut self, month: i64, presenting: Option<Condition>, rng: &mut ChaCha8Rng) {
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
    pub(super) fn admission(&mut self, month: i64, c: Condition, rng: &mut ChaCha8Rng, fatality: f64) {
        let t = month + rng.random_range(ADMISSION_DAYS) * DAY + rng.random_range(ADMISSION_HOURS) * HOUR;
        let mean_los = match c {
            Condition::MyocardialInfarction => 4.0,
            Condition::Stroke => 5.0,
            Condition::HeartFailure => 5.0,
            Condition::Sepsis => 7.0,
            Condition::Copd => 4.0,
            _ => 3.0,
        };
        let los_days = (mean_los * (LOS_SIGMA * normal(rng)).exp()).clamp(LOS_DAYS.0, LOS_DAYS.1);
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
        let readmission = match c {
            Condition::HeartFailure => 0.2,
            Condition::Sepsis => 0.15,
            Condition::Copd => 0.18,
            Condition::MyocardialInfarction => 0.12,
            _ => 0.1,
        };
        self.truth.stays.push(super::Stay {
            admitted: t,
            mean_los_days: mean_los,
            fatality,
            ended: discharge,
            died: false,
            readmission,
        });
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
            if let Some(stay) = self.truth.stays.last_mut() {
                (stay.ended, stay.died) = (at, true);
            }
            self.record(at, encounter::INPATIENT_END, None);
            self.die(at);
            return;
        }
        self.bmp(discharge - 4 * HOUR, rng);
        self.encounter(discharge, encounter::INPATIENT_END, cpt::DISCHARGE);
        self.treat(discharge, None, None, None, rng);
        self.write_note(discharge, note::DISCHARGE, rng);
        if rng.random_bool(readmission) {
            self.h.readmit = Some((discharge + rng.random_range(READMIT_DAYS) * DAY, c));
        }
        self.schedule_followup(discharge, rng);
    }
}
