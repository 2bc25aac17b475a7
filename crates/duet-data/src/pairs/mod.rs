//! Understanding–generation pairs (PairUni, arXiv 2510.25682 §2.1): from an
//! understanding set (image, question, answer) and a generation set (prompt,
//! image), build PairUG-shaped records whose two halves share the same image
//! (aligned: k-means medoids, completed across modalities) or a similar one
//! (retrieved: greedy, thresholded, one use per understanding item).
//!
//! Models come in through traits, so this crate stays free of deep-learning
//! dependencies: [`ImageEmbedder`] for features, [`Annotator`] for captions
//! and questions, [`Verifier`] for the consistency check. Model-free
//! implementations here: [`PixelEmbedder`], [`ShapeWorldOracle`] (annotator
//! and verifier from ShapeWorld's scene graphs), [`CommandAnnotator`] (a
//! user's program over JSON lines), [`FormCheck`]. docs/pairs.md has the
//! schemas, the annotator protocol and the knobs.

pub mod build;
pub mod command;
pub mod complete;
pub mod embed;
mod font;
pub mod histogram;
pub mod hnsw;
pub mod items;
pub mod kmeans;
pub mod matrix;
pub mod options;
pub mod oracle;
pub mod oracle_check;
mod protocol;
pub mod record;
pub mod search;

pub use build::{Tools, build_pairs};
pub use command::CommandAnnotator;
pub use complete::{Annotator, CompletionOptions, FormCheck, McQa, Verifier};
pub use embed::{ImageEmbedder, PixelEmbedder};
pub use histogram::Histogram;
pub use items::{GenItem, UndItem, read_gen_items, read_und_items};
pub use options::{BuildStats, IndexChoice, PairOptions, Stage};
pub use oracle::{SceneIndex, ShapeWorldOracle};
pub use record::{Ann, Origin, PairRecord, PairType, read_pairs};
