//! duet-rl: reinforcement-learning post-training of unified models.
//!
//! GRPO and its variants, PairGRPO over understanding–generation pairs, dual
//! self-rewards and LVRPO alignment rewards, and the trainer that runs them,
//! generic over a burn `AutodiffBackend` — plus [`pretrain`], the supervised
//! stages that produce the embedded ShapeWorld base model.

pub mod advantage;
pub mod annotate;
pub mod caption_eval;
pub mod checkpoint;
pub mod embed;
pub mod error;
pub mod eval;
pub mod loss;
pub mod optim;
pub mod parallel;
pub mod pretrain;
pub mod rewards;
pub mod tasks;
pub mod tensors;
pub mod trainer;

pub use error::{Result, RlError};
