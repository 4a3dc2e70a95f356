//! Which shards of a dataset one worker scores.
//!
//! Many machines score one population by each taking a share of its MEDS shards: the dataset's
//! shards, in the order of their paths, are dealt round-robin — worker `i` of `n` scores the
//! shards at positions `i`, `i + n`, `i + 2n`, …. A scheduler names the worker: `--shard i/n`,
//! or the index a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`) or a SLURM job array
//! (`SLURM_ARRAY_TASK_ID`, counted from `SLURM_ARRAY_TASK_MIN`) gives each of its tasks.

use serde::{Deserialize, Serialize};

/// Why a worker's share could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The text is not `INDEX/COUNT`.
    #[error("a shard is INDEX/COUNT with 0 <= INDEX < COUNT (e.g. 0/4); got {0:?}")]
    Malformed(String),
    /// A worker count without a scheduler's index.
    #[error(
        "--shard-count needs the worker's index from the scheduler: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a SLURM job array) is not set"
    )]
    NoIndex,
    /// The scheduler's index is not a number within the count.
    #[error("{variable}={value:?} is not a worker index below {count}")]
    BadIndex {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// The worker count.
        count: u32,
    },
}

/// One worker's share of the shards: worker `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// This worker, from 0.
    pub index: u32,
    /// How many workers share the dataset.
    pub count: u32,
}

impl Share {
    /// The whole dataset, for one worker.
    pub const ALL: Share = Share { index: 0, count: 1 };

    /// Reads `INDEX/COUNT`.
    pub fn parse(text: &str) -> Result<Share, ShareError> {
        let malformed = || ShareError::Malformed(text.to_string());
        let (i, n) = text.split_once('/').ok_or_else(malformed)?;
        let index: u32 = i.trim().parse().map_err(|_| malformed())?;
        let count: u32 = n.trim().parse().map_err(|_| malformed())?;
        if count == 0 || index >= count {
            return Err(malformed());
        }
        Ok(Share { index, count })
    }

    /// Worker `?` of `count`, the index read from the scheduler's environment through `var`
    /// (`std::env::var` in use): `JOB_COMPLETION_INDEX`, else `SLURM_ARRAY_TASK_ID` less
    /// `SLURM_ARRAY_TASK_MIN` (0 when unset).
    pub fn from_scheduler(count: u32, var: impl Fn(&str) -> Option<String>) -> Result<Share, ShareError> {
        let number = |variable: &'static str| -> Result<Option<i64>, ShareError> {
            var(variable)
                .map(|value| value.trim().parse::<i64>().map_err(|_| ShareError::BadIndex { variable, value, count }))
                .transpose()
        };
        let (variable, index) = if let Some(i) = number("JOB_COMPLETION_INDEX")? {
            ("JOB_COMPLETION_INDEX", i)
        } else if let Some(i) = number("SLURM_ARRAY_TASK_ID")? {
            ("SLURM_ARRAY_TASK_ID", i - number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0))
        } else {
            return Err(ShareError::NoIndex);
        };
        match u32::try_from(index) {
            Ok(index) if index < count && count > 0 => Ok(Share { index, count }),
            _ => Err(ShareError::BadIndex { variable, value: index.to_string(), count }),
        }
    }

    /// Whether the shard at `position` (in path order) is this worker's.
    pub fn owns(&self, position: usize) -> bool {
        position % self.count as usize == self.index as usize
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn shares_are_read_and_deal_every_shard_to_one_worker() {
        assert_eq!(Share::parse("2/4"), Ok(Share { index: 2, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3", ""] {
            assert!(Share::parse(bad).is_err(), "{bad}");
        }
        let workers: Vec<Share> = (0..3).map(|index| Share { index, count: 3 }).collect();
        for position in 0..10 {
            assert_eq!(workers.iter().filter(|w| w.owns(position)).count(), 1);
        }
    }

    #[test]
    fn the_schedulers_index_names_the_worker() {
        assert_eq!(Share::from_scheduler(4, env(&[("JOB_COMPLETION_INDEX", "3")])), Ok(Share { index: 3, count: 4 }));
        let slurm = [("SLURM_ARRAY_TASK_ID", "11"), ("SLURM_ARRAY_TASK_MIN", "10")];
        assert_eq!(Share::from_scheduler(4, env(&slurm)), Ok(Share { index: 1, count: 4 }));
        assert_eq!(Share::from_scheduler(4, env(&[])), Err(ShareError::NoIndex));
        assert!(matches!(
            Share::from_scheduler(4, env(&[("JOB_COMPLETION_INDEX", "4")])),
            Err(ShareError::BadIndex { variable: "JOB_COMPLETION_INDEX", .. })
        ));
        assert!(Share::from_scheduler(4, env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
    }
}
