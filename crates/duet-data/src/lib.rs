//! duet-data: the data side of duet.
//!
//! - [`shapeworld`]: a seeded world of coloured shapes in which every
//!   understanding answer and every generated image can be checked exactly.
//! - [`records`]: the benchmark record shapes duet speaks (GenEval prompt
//!   metadata, MMMU multiple-choice items, MMMU answer files).
//! - [`io`]: JSONL and atomic file writing with errors that name file and line.
//! - [`geometry`]: boxes and GenEval's relative-position rule, shared by the
//!   generator (to build valid scenes) and the scorer (to check them).
//! - [`perturb`]: image corruptions (noise, blur, JPEG) for robustness checks.
//! - [`pairs`]: understanding–generation pairs (PairUni's PairUG): completion,
//!   clustering, retrieval.
//!
//! This crate has no deep-learning dependency: models reach it through traits
//! implemented in the crates that own them.

pub mod error;
pub mod geometry;
pub mod io;
pub mod pairs;
pub mod perturb;
pub mod records;
pub mod shapeworld;

pub use error::DataError;
