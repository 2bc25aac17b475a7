//! The small MLPs around the decoder: the understanding aligner (ViT width →
//! LLM width), the generation aligner (code dim → LLM width), both
//! `Linear (GELU Linear)*`, and the generation head (LLM width → image-token
//! logits).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::linear::apply;

/// `fc1` then, for each hidden layer, exact GELU and a Linear.
#[derive(Module, Debug)]
pub struct MlpAligner<B: Backend> {
    pub fc1: Linear<B>,
    pub hidden_layers: Vec<Linear<B>>,
}

/// Widths of an aligner.
#[derive(Config, Debug)]
pub struct MlpAlignerConfig {
    pub d_in: usize,
    pub d_out: usize,
    /// Linear layers in all (≥ 1).
    pub depth: usize,
}

impl MlpAlignerConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> MlpAligner<B> {
        MlpAligner {
            fc1: LinearConfig::new(self.d_in, self.d_out).init(device),
            hidden_layers: (1..self.depth.max(1))
                .map(|_| LinearConfig::new(self.d_out, self.d_out).init(device))
                .collect(),
        }
    }
}

impl<B: Backend> MlpAligner<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut h = apply(&self.fc1, x);
        for layer in &self.hidden_layers {
            h = apply(layer, gelu(h));
        }
        h
    }
}

/// `vision_head(GELU(proj_out(h)))`: image-token logits.
#[derive(Module, Debug)]
pub struct GenerationHead<B: Backend> {
    pub proj_out: Linear<B>,
    pub vision_head: Linear<B>,
}

impl<B: Backend> GenerationHead<B> {
    pub fn new(d_in: usize, d_hidden: usize, codebook: usize, device: &B::Device) -> Self {
        GenerationHead {
            proj_out: LinearConfig::new(d_in, d_hidden).init(device),
            vision_head: LinearConfig::new(d_hidden, codebook).init(device),
        }
    }

    pub fn forward<const D: usize>(&self, h: Tensor<B, D>) -> Tensor<B, D> {
        apply(&self.vision_head, gelu(apply(&self.proj_out, h)))
    }
}
