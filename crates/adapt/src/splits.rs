//! How labelled prediction times are split into train, tuning and held-out sets.
//!
//! - **By subject** (the default): the dataset's `subject_splits.parquet`; a subject's every
//!   prediction time stays in one split.
//! - **Temporal**: train and tuning use prediction times before a cutoff date, held-out those on
//!   or after it — and subjects stay disjoint as well (train and tuning from the train and tuning
//!   subjects, held-out from the held-out subjects), so a temporal result is never flattered by
//!   seeing the same patient on both sides.
//! - **By site**: train and tuning at one site (its train and tuning subjects), held-out every
//!   prediction time of subjects at the other sites — external validation within one dataset.

use std::collections::HashMap;

/// A split scheme.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// The dataset's subject splits.
    Subject,
    /// Before / on-or-after `cutoff` (µs since the epoch).
    Temporal {
        /// The cutoff.
        cutoff: i64,
    },
    /// Train at `train_site`, test everywhere else.
    Site {
        /// The training site.
        train_site: String,
        /// Each subject's site.
        sites: HashMap<i64, String>,
    },
}

impl Scheme {
    /// The split of a prediction time of a subject whose subject split is `subject_split`;
    /// `None` leaves the example out.
    pub fn assign(&self, subject: i64, prediction_time: i64, subject_split: &str) -> Option<&'static str> {
        let canonical = match subject_split {
            "train" => "train",
            "tuning" => "tuning",
            "held_out" => "held_out",
            _ => return None,
        };
        match self {
            Scheme::Subject => Some(canonical),
            Scheme::Temporal { cutoff } => match (canonical, prediction_time < *cutoff) {
                ("train" | "tuning", true) => Some(canonical),
                ("held_out", false) => Some("held_out"),
                _ => None,
            },
            Scheme::Site { train_site, sites } => {
                let site = sites.get(&subject)?;
                if site == train_site { (canonical != "held_out").then_some(canonical) } else { Some("held_out") }
            }
        }
    }

    /// A short description for reports: `held-out subjects`, `on or after 2021-01-01`, `site
    /// north → other sites`.
    pub fn describe(&self) -> String {
        match self {
            Scheme::Subject => "internal: held-out subjects".into(),
            Scheme::Temporal { cutoff } => {
                let day = chrono::DateTime::from_timestamp_micros(*cutoff)
                    .map_or("?".into(), |d| d.format("%Y-%m-%d").to_string());
                format!("temporal: trained before {day}, tested on or after it (held-out subjects)")
            }
            Scheme::Site { train_site, .. } => {
                format!("external: trained at site {train_site}, tested at the other sites")
            }
        }
    }
}

/// A split scheme as a command line names it: `subject`, `temporal:YYYY-MM-DD` or `site:NAME`.
/// A site split becomes a [`Scheme`] once each subject's site is known ([`SplitSpec::scheme`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitSpec {
    /// The dataset's subject splits.
    Subject,
    /// Train before the cutoff (µs since the epoch, a midnight UTC), test on or after it.
    Temporal {
        /// The cutoff.
        cutoff: i64,
    },
    /// Train at this site, test at every other.
    Site {
        /// The training site.
        name: String,
    },
}

/// Why a split cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// Not one of the forms.
    #[error("the split must be `subject`, `temporal:YYYY-MM-DD` or `site:NAME`, not `{0}`")]
    Malformed(String),
    /// A temporal split whose date is not a date.
    #[error("the split temporal:{0}: the date must be YYYY-MM-DD")]
    Date(String),
    /// A site split without the subjects' sites.
    #[error("the split site:{0} needs each subject's site (--sites FILE, or --truth DIR)")]
    NoSites(String),
    /// A site split naming a site no subject is at.
    #[error("the split site:{0}: no subject is at site {0}")]
    UnknownSite(String),
}

impl std::str::FromStr for SplitSpec {
    type Err = SplitError;

    fn from_str(text: &str) -> Result<Self, SplitError> {
        match text.split_once(':') {
            None if text == "subject" => Ok(SplitSpec::Subject),
            Some(("temporal", date)) => match parse_date(date) {
                Some(cutoff) => Ok(SplitSpec::Temporal { cutoff }),
                None => Err(SplitError::Date(date.to_owned())),
            },
            Some(("site", name)) if !name.is_empty() => Ok(SplitSpec::Site { name: name.to_owned() }),
            _ => Err(SplitError::Malformed(text.to_owned())),
        }
    }
}

impl std::fmt::Display for SplitSpec {
    /// The form [`FromStr`](std::str::FromStr) reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitSpec::Subject => f.write_str("subject"),
            SplitSpec::Temporal { cutoff } => {
                let day = chrono::DateTime::from_timestamp_micros(*cutoff).map(|t| t.format("%Y-%m-%d").to_string());
                write!(f, "temporal:{}", day.unwrap_or_else(|| cutoff.to_string()))
            }
            SplitSpec::Site { name } => write!(f, "site:{name}"),
        }
    }
}

impl SplitSpec {
    /// The scheme, given each subject's site where the split is by site (`sites` is read only
    /// then).
    pub fn scheme(&self, sites: Option<HashMap<i64, String>>) -> Result<Scheme, SplitError> {
        match self {
            SplitSpec::Subject => Ok(Scheme::Subject),
            SplitSpec::Temporal { cutoff } => Ok(Scheme::Temporal { cutoff: *cutoff }),
            SplitSpec::Site { name } => {
                let sites = sites.ok_or_else(|| SplitError::NoSites(name.clone()))?;
                if !sites.values().any(|s| s == name) {
                    return Err(SplitError::UnknownSite(name.clone()));
                }
                Ok(Scheme::Site { train_site: name.clone(), sites })
            }
        }
    }

    /// Whether the scheme needs each subject's site.
    pub fn needs_sites(&self) -> bool {
        matches!(self, SplitSpec::Site { .. })
    }
}

/// Parses `YYYY-MM-DD` into µs since the epoch (midnight UTC).
pub fn parse_date(text: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_specs_read_and_print_the_same() {
        for text in ["subject", "temporal:2019-03-01", "site:north"] {
            let spec: SplitSpec = text.parse().expect("parse");
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("temporal:March".parse::<SplitSpec>(), Err(SplitError::Date("March".into())));
        assert_eq!("random".parse::<SplitSpec>(), Err(SplitError::Malformed("random".into())));
        let site: SplitSpec = "site:north".parse().expect("parse");
        assert_eq!(site.scheme(None).err(), Some(SplitError::NoSites("north".into())));
        let sites = HashMap::from([(1, "south".to_string())]);
        assert_eq!(site.scheme(Some(sites)).err(), Some(SplitError::UnknownSite("north".into())));
    }

    use super::*;

    #[test]
    fn temporal_and_site_assignments() {
        let cutoff = parse_date("2021-01-01").expect("date");
        assert_eq!(cutoff, 1_609_459_200_000_000);
        let t = Scheme::Temporal { cutoff };
        assert_eq!(t.assign(1, cutoff - 1, "train"), Some("train"));
        assert_eq!(t.assign(1, cutoff, "train"), None, "train never sees the test period");
        assert_eq!(t.assign(2, cutoff, "held_out"), Some("held_out"));
        assert_eq!(t.assign(2, cutoff - 1, "held_out"), None);
        assert!(t.describe().contains("2021-01-01"));
        let sites: HashMap<i64, String> = [(1, "north".into()), (2, "river".into())].into_iter().collect();
        let s = Scheme::Site { train_site: "north".into(), sites };
        assert_eq!(s.assign(1, 0, "train"), Some("train"));
        assert_eq!(s.assign(1, 0, "held_out"), None);
        assert_eq!(s.assign(2, 0, "train"), Some("held_out"), "every other-site subject is external test data");
        assert_eq!(s.assign(3, 0, "train"), None, "unknown site: left out");
        assert_eq!(parse_date("2021-13-01"), None);
    }
}
