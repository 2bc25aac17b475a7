//! MMMU-style scoring: answer parsing as MMMU does it, and per-subject,
//! per-discipline and overall instance-weighted accuracy, for MMMU's answer
//! file and both of its prediction formats.

pub mod parse;
pub mod score;

pub use parse::{McParse, answer_tag, eval_open, parse_multi_choice, parse_open};
pub use score::{Prediction, Report, read_answers, read_predictions, score, subject_of};
