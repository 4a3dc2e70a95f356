//! Disease events: the monthly hazards of coronary disease, infarction, atrial fibrillation,
//! stroke, heart failure, COPD, colorectal cancer, sepsis, bleeding and death.

use super::*;

impl Ctx<'_> {
    pub(super) fn cardio_risk(&self, t: i64) -> f64 {
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

    pub(super) fn step_events(&mut self, t: i64, rng: &mut ChaCha8Rng) {
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

    pub(super) fn death_hazard(&self, t: i64) -> f64 {
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

    pub(super) fn die(&mut self, t: i64) {
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
}
