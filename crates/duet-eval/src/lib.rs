//! duet-eval: scorers that speak the benchmarks' own formats.
//!
//! - [`geneval`]: GenEval's metadata, image-folder layout and scoring rules
//!   (plus the dense partial-credit score RL reward servers return), with
//!   detection behind the [`detector::Detector`] trait.
//! - [`detector`]: the trait and [`detector::ShapeDetector`], a classical
//!   detector that recovers ShapeWorld scenes exactly.
//! - [`mmmu`]: MMMU's answer parsing and instance-weighted scoring for both of
//!   its prediction file formats.

pub mod caption_reader;
pub mod detector;
pub mod error;
pub mod geneval;
pub mod mmmu;
pub mod tally;

pub use error::EvalError;
pub use tally::Tally;
