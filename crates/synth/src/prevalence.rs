//! Prevalence by age band at a reference date, true (hidden onset) and coded (first diagnosis
//! code), among registered, living adults: the figures to hold against published US prevalence.

use serde::Serialize;

use crate::calendar::{YEAR, date};
use crate::conditions::Condition;
use crate::simulate::SimulatedPatient;

/// Age bands of the table.
pub const AGE_BANDS: [(f64, f64, &str); 4] =
    [(18.0, 45.0, "18-44"), (45.0, 65.0, "45-64"), (65.0, 75.0, "65-74"), (75.0, 200.0, "75+")];

/// Counts per age band.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Prevalence {
    /// The reference date (ISO 8601 date).
    pub reference_date: String,
    #[serde(skip)]
    reference: i64,
    /// Registered living adults per band (the last entry: all adults).
    pub population: [u64; 5],
    /// Per condition: (name, true cases per band + all, coded cases per band + all).
    pub conditions: Vec<(String, [u64; 5], [u64; 5])>,
}

impl Prevalence {
    /// An empty table at 1 January of `year`.
    pub fn new(year: i32) -> Self {
        Self {
            reference_date: format!("{year}-01-01"),
            reference: date(year, 1, 1),
            population: [0; 5],
            conditions: Condition::ALL
                .iter()
                .filter(|c| c.chronic())
                .map(|c| (c.name().to_owned(), [0; 5], [0; 5]))
                .collect(),
        }
    }

    /// Counts one patient.
    pub fn add(&mut self, p: &SimulatedPatient) {
        let t = self.reference;
        if !p.person.registered(t) || p.person.birth > t || p.truth.death.is_some_and(|d| d <= t) {
            return;
        }
        let age = (t - p.person.birth) as f64 / YEAR as f64;
        let Some(band) = AGE_BANDS.iter().position(|(lo, hi, _)| age >= *lo && age < *hi) else { return };
        self.population[band] += 1;
        self.population[4] += 1;
        for (row, c) in self.conditions.iter_mut().zip(Condition::ALL.iter().filter(|c| c.chronic())) {
            if p.truth.onset[c.index()].is_some_and(|o| o <= t) {
                row.1[band] += 1;
                row.1[4] += 1;
            }
            if p.truth.diagnosed[c.index()].is_some_and(|d| d <= t) {
                row.2[band] += 1;
                row.2[4] += 1;
            }
        }
    }

    /// The table as text: true % (coded %) per band.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "prevalence on {} among registered living adults: true % (coded %)", self.reference_date);
        let _ = write!(s, "  {:<22}", "condition");
        for (_, _, name) in AGE_BANDS {
            let _ = write!(s, " {name:>15}");
        }
        let _ = writeln!(s, " {:>15}", "all adults");
        let _ = write!(s, "  {:<22}", "(n)");
        for n in self.population {
            let _ = write!(s, " {n:>15}");
        }
        let _ = writeln!(s);
        for (name, truth, coded) in &self.conditions {
            let _ = write!(s, "  {name:<22}");
            for b in 0..5 {
                let n = self.population[b].max(1) as f64;
                let cell = format!("{:.1} ({:.1})", 100.0 * truth[b] as f64 / n, 100.0 * coded[b] as f64 / n);
                let _ = write!(s, " {cell:>15}");
            }
            let _ = writeln!(s);
        }
        s
    }
}
