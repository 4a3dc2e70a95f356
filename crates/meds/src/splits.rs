//! A dataset's timelines by split: `metadata/subject_splits.parquet` where present, else the
//! shard's first directory under `data/` (MEDS ETLs name it after the split).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::{CodeTable, Dataset, Result, Timeline};

/// Every subject's timeline, grouped by split, each group in subject order. A subject whose split
/// is neither declared nor implied by its shard's directory falls under the empty name `""`: it
/// is never assumed to be `train`, and a caller that needs splits reports and leaves it out.
pub fn read_by_split(root: &Path) -> Result<(CodeTable, BTreeMap<String, Vec<Timeline>>)> {
    let dataset = Dataset::open(root)?;
    let declared: HashMap<i64, String> = match crate::metadata::read_subject_splits(root) {
        Ok(splits) => splits.into_iter().collect(),
        Err(_) => HashMap::new(),
    };
    let codes = Mutex::new(CodeTable::new());
    let found: Mutex<Vec<(String, Timeline)>> = Mutex::new(Vec::new());
    dataset.for_each_subject(&codes, |shard, t| {
        let split = declared.get(&t.subject_id).cloned().or_else(|| shard.prefix.clone()).unwrap_or_default();
        found.lock().unwrap_or_else(|p| p.into_inner()).push((split, t));
        Ok(())
    })?;
    let mut by_split: BTreeMap<String, Vec<Timeline>> = BTreeMap::new();
    for (split, t) in found.into_inner().unwrap_or_else(|p| p.into_inner()) {
        by_split.entry(split).or_default().push(t);
    }
    // Shards are read in parallel: put subjects back in a fixed order.
    for ts in by_split.values_mut() {
        ts.sort_by_key(|t| t.subject_id);
    }
    Ok((codes.into_inner().unwrap_or_else(|p| p.into_inner()), by_split))
}

/// A dataset read whole: every timeline (split by split, in subject order) and each subject's split.
#[derive(Debug, Default)]
pub struct SplitTimelines {
    /// The codes the timelines refer to.
    pub codes: CodeTable,
    /// Every timeline.
    pub timelines: Vec<Timeline>,
    /// Each subject's split (`""` where none is declared or implied).
    pub split_of: HashMap<i64, String>,
}

/// [`read_by_split`] flattened.
pub fn read_with_splits(root: &Path) -> Result<SplitTimelines> {
    let (codes, by_split) = read_by_split(root)?;
    let mut split_of = HashMap::new();
    let mut timelines = Vec::new();
    for (split, ts) in by_split {
        for t in ts {
            split_of.insert(t.subject_id, split.clone());
            timelines.push(t);
        }
    }
    Ok(SplitTimelines { codes, timelines, split_of })
}
