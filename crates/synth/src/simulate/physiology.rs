//! Hidden physiology: risk factors, HbA1c, blood pressure, kidney function, lipids and the labs
//! derived from them, month by month, and the thresholds that mark true onset.

use super::*;

impl Ctx<'_> {
    pub(super) fn init_physiology(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn a1c_rate(&self) -> f64 {
        // Progression accelerates above 5.7% as beta-cell function fails, so prediabetes
        // progresses to diabetes within a few years in a sizeable share of patients.
        (0.008
            + 0.016 * self.traits.glycemic
            + 0.006 * (self.h.bmi - 27.0)
            + if self.traits.family_diabetes { 0.012 } else { 0.0 })
        .max(0.0)
            + 0.25 * (self.h.a1c - 5.7).clamp(0.0, 0.8)
    }

    pub(super) fn a1c_effective(&self) -> f64 {
        let effect = [(Drug::Metformin, 0.9), (Drug::Sglt2, 0.6), (Drug::Glp1, 1.0), (Drug::Insulin, 1.5)]
            .iter()
            .filter(|(d, _)| self.on(*d))
            .map(|(_, e)| e)
            .sum::<f64>();
        let a1c = self.h.a1c + self.h.a1c_wobble;
        (a1c - effect).max(a1c.min(5.6))
    }

    pub(super) fn sbp_latent(&self, t: i64) -> f64 {
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

    pub(super) fn sbp_effective(&self, t: i64) -> f64 {
        let mut sbp = self.sbp_latent(t);
        for (d, e) in [(Drug::AceArb, 10.0), (Drug::Amlodipine, 9.0), (Drug::Thiazide, 8.0), (Drug::BetaBlocker, 4.0)] {
            if self.on(d) {
                sbp -= e;
            }
        }
        sbp
    }

    pub(super) fn ldl_effective(&self) -> f64 {
        if self.on(Drug::Statin) { self.h.ldl * 0.65 } else { self.h.ldl }
    }

    pub(super) fn hemoglobin(&self, t: i64) -> f64 {
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

    pub(super) fn nt_probnp(&self, t: i64) -> f64 {
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

    pub(super) fn potassium(&self) -> f64 {
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

    pub(super) fn sodium(&self) -> f64 {
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

    pub(super) fn step_physiology(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn check_thresholds(&mut self, t: i64) {
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
}
