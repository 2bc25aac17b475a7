//! Supervised stages that build the embedded ShapeWorld base: the tokenizer
//! and the VQ-VAE trainer (first version); the contrastive encoder and SFT
//! are still to come (the pretraining issue).

pub mod encoder;
pub mod recipe;
pub mod report;
pub mod sft;
pub mod tokenizer;
pub mod vq;
pub mod vq_codes;
pub mod vq_loss;
