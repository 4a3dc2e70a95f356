//! # meds — the Medical Event Data Standard, in Rust
//!
//! The data contract of Longitude. Every dataset Longitude reads or writes is a MEDS dataset
//! exactly as the reference `meds` Python package (0.4.1) defines it:
//!
//! ```text
//! ROOT/
//!   data/**/*.parquet               subject_id int64, time timestamp[us] (null = static),
//!                                   code string, numeric_value float32, text_value large_string
//!   metadata/dataset.json           dataset name, ETL, MEDS version, creation time, …
//!   metadata/codes.parquet          code, description, parent_codes
//!   metadata/subject_splits.parquet subject_id, split (train / tuning / held_out)
//! ```
//!
//! - [`DatasetWriter`] streams subjects into sorted, atomically written shards.
//! - [`Dataset`] reads shards in parallel into typed [`Timeline`]s, checking MEDS invariants.
//! - [`TimelineStore`] is a random-access index beside a dataset: one subject in microseconds.
//! - [`validate()`] checks a whole dataset; [`describe()`] summarises one.
//! - [`labels`] reads and writes MEDS label and `meds-evaluation` prediction files.

#![forbid(unsafe_code)]

mod atomic;
pub mod codes;
pub mod describe;
pub mod error;
pub mod labels;
pub mod metadata;
pub mod reader;
pub mod schema;
pub mod splits;
pub mod store;
pub mod timeline;
pub mod validate;
pub mod writer;

pub use codes::{CodeId, CodeInfo, CodeTable};
pub use describe::{Description, describe};
pub use error::{MedsError, Result};
pub use metadata::DatasetMetadata;
pub use reader::{Dataset, ReadSummary, Shard};
pub use splits::{SplitTimelines, read_by_split, read_with_splits};
pub use store::TimelineStore;
pub use timeline::{EventRef, STATIC_TIME, Timeline};
pub use validate::{Finding, Severity, ValidationReport, validate};
pub use writer::{DatasetWriter, ShardCompression, WriteSummary, WriterOptions};
