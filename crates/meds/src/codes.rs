//! Interned codes: every code string in a dataset maps to a dense `u32` id.
//!
//! Timelines store code ids, not strings, so that reading, sorting and tokenizing never touch
//! string data on the hot path. A [`CodeTable`] only grows: an id, once given, names the same code
//! for the table's lifetime.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A dense id for a code within one [`CodeTable`].
pub type CodeId = u32;

static NEXT_TABLE_UID: AtomicU64 = AtomicU64::new(1);

/// One code's metadata, as `metadata/codes.parquet` carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeInfo {
    /// A human-readable description (for example the display name of an ICD-10-CM code).
    pub description: Option<String>,
    /// Parent codes in an ontological sense (`ICD10CM/E11.9` → `ICD10CM/E11`).
    pub parent_codes: Vec<String>,
}

/// An append-only interner from code strings to dense ids, with optional per-code metadata.
#[derive(Debug)]
pub struct CodeTable {
    uid: u64,
    names: Vec<Box<str>>,
    info: Vec<CodeInfo>,
    ids: HashMap<Box<str>, CodeId>,
}

impl Default for CodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for CodeTable {
    fn clone(&self) -> Self {
        // A clone is a different table: it may grow differently from the original.
        Self {
            uid: NEXT_TABLE_UID.fetch_add(1, Ordering::Relaxed),
            names: self.names.clone(),
            info: self.info.clone(),
            ids: self.ids.clone(),
        }
    }
}

impl CodeTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            uid: NEXT_TABLE_UID.fetch_add(1, Ordering::Relaxed),
            names: Vec::new(),
            info: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// A process-unique identity of this table, used by writers to check that every timeline of a
    /// dataset was built against the same table.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// The id of `code`, adding it if it is new.
    pub fn intern(&mut self, code: &str) -> CodeId {
        if let Some(&id) = self.ids.get(code) {
            return id;
        }
        let id = CodeId::try_from(self.names.len()).unwrap_or(CodeId::MAX);
        self.names.push(code.into());
        self.info.push(CodeInfo::default());
        self.ids.insert(code.into(), id);
        id
    }

    /// The id of `code`, if the table has it.
    pub fn get(&self, code: &str) -> Option<CodeId> {
        self.ids.get(code).copied()
    }

    /// The code string of `id`. Panics only on an id this table never gave out (a programming
    /// error, never a property of input data).
    pub fn name(&self, id: CodeId) -> &str {
        &self.names[id as usize]
    }

    /// The metadata recorded for `id`.
    pub fn info(&self, id: CodeId) -> &CodeInfo {
        &self.info[id as usize]
    }

    /// Records a description and parents for `code` (interning it if needed).
    pub fn set_info(&mut self, code: &str, info: CodeInfo) -> CodeId {
        let id = self.intern(code);
        self.info[id as usize] = info;
        id
    }

    /// The number of codes in the table.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table has no codes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All code strings, in id order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(|s| &**s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let mut t = CodeTable::new();
        let a = t.intern("LOINC/4548-4");
        let b = t.intern("ICD10CM/E11.9");
        assert_eq!((a, b), (0, 1));
        assert_eq!(t.intern("LOINC/4548-4"), a);
        assert_eq!(t.name(b), "ICD10CM/E11.9");
        assert_eq!(t.get("nope"), None);
        assert_ne!(t.uid(), t.clone().uid());
    }
}
