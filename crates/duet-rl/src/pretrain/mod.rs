//! Supervised stages that build the embedded ShapeWorld base: the word-level
//! tokenizer, the VQ-VAE, the contrastive encoder and the SFT of the unified
//! model, run in order by [`recipe`].

pub mod encoder;
pub mod recipe;
pub mod report;
pub mod sft;
mod sft_data;
pub mod tokenizer;
pub mod vq;
pub mod vq_codes;
mod vq_crop;
mod vq_init;
pub mod vq_loss;
