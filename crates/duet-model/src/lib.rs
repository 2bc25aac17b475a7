//! duet-model: the unified autoregressive vision–language transformer.
//!
//! One LLaMA-style decoder that both understands images (SigLIP-style ViT +
//! aligner → text) and generates them (text → VQ image tokens, decoded by a
//! VQ-VAE), in the shape of Janus-Pro, generic over a burn `Backend`.
//! Not implemented yet: this crate is filled by the model issue.
