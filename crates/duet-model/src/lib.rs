//! duet-model: the unified autoregressive vision–language transformer.
//!
//! One LLaMA-style decoder that both understands images (SigLIP-style ViT +
//! aligner → text) and generates them (text → VQ image tokens through the
//! generation embedding, aligner and head; pixels through a LlamaGen VQ-16
//! VQ-VAE), in the shape of Janus-Pro, generic over a burn `Backend`.
//! Checkpoints are Hugging Face's Janus layout (config.json +
//! model.safetensors), so transformers and duet read each other's files.

pub mod aligner;
pub mod attention;
pub mod batch;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod contrastive;
pub mod decode_attention;
mod decode_kernel;
pub mod error;
pub mod generate;
pub mod hf_keys;
pub mod janus;
pub mod linear;
pub mod llama;
pub mod logprobs;
pub mod preprocess;
pub mod presets;
pub mod prompts;
pub mod rope;
pub mod sampling;
pub mod vision;
pub mod vq;
pub mod weights;

pub use config::{GenerationIds, JanusConfig};
pub use error::{ModelError, Result};
pub use janus::Janus;

/// The default CPU backend.
pub type Cpu = burn::backend::Flex;
