//! The SigLIP-style vision tower (transformers' `JanusVisionModel`): patch
//! embedding (a strided conv) plus learned positions, pre-LN encoder layers
//! with bidirectional attention and an exact-GELU MLP, and a final LayerNorm.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::config::VisionConfig;
use crate::linear::apply;

#[derive(Module, Debug)]
pub struct VisionEmbeddings<B: Backend> {
    pub patch_embedding: Conv2d<B>,
    /// One row per patch, row-major over the patch grid (no CLS token).
    pub position_embedding: Embedding<B>,
}

#[derive(Module, Debug)]
pub struct VisionAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub projection_layer: Linear<B>,
    pub num_heads: usize,
}

#[derive(Module, Debug)]
pub struct VisionMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

#[derive(Module, Debug)]
pub struct VisionLayer<B: Backend> {
    pub layer_norm1: LayerNorm<B>,
    pub self_attn: VisionAttention<B>,
    pub layer_norm2: LayerNorm<B>,
    pub mlp: VisionMlp<B>,
}

#[derive(Module, Debug)]
pub struct VisionModel<B: Backend> {
    pub embeddings: VisionEmbeddings<B>,
    pub layers: Vec<VisionLayer<B>>,
    pub post_layernorm: LayerNorm<B>,
}

/// Hidden states of the tower.
#[derive(Debug, Clone)]
pub struct VisionOutput<B: Backend> {
    /// Patch + position embeddings, then each layer's output (no final norm).
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// The last layer's output after `post_layernorm`.
    pub last_hidden_state: Tensor<B, 3>,
}

impl VisionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> VisionModel<B> {
        let d = self.hidden_size;
        let ln = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let lin = |i, o, bias| LinearConfig::new(i, o).with_bias(bias).init(device);
        let np = self.patches_per_side() * self.patches_per_side();
        VisionModel {
            embeddings: VisionEmbeddings {
                patch_embedding: Conv2dConfig::new(
                    [self.num_channels, d],
                    [self.patch_size, self.patch_size],
                )
                .with_stride([self.patch_size, self.patch_size])
                .init(device),
                position_embedding: EmbeddingConfig::new(np, d).init(device),
            },
            layers: (0..self.num_hidden_layers)
                .map(|_| VisionLayer {
                    layer_norm1: ln(),
                    self_attn: VisionAttention {
                        q_proj: lin(d, d, self.attention_bias),
                        k_proj: lin(d, d, self.attention_bias),
                        v_proj: lin(d, d, self.attention_bias),
                        projection_layer: lin(d, d, true),
                        num_heads: self.num_attention_heads,
                    },
                    layer_norm2: ln(),
                    mlp: VisionMlp {
                        fc1: lin(d, self.mlp_size(), true),
                        fc2: lin(self.mlp_size(), d, true),
                    },
                })
                .collect(),
            post_layernorm: ln(),
        }
    }
}

impl<B: Backend> VisionAttention<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let hd = d / self.num_heads;
        let split = |y: Tensor<B, 3>| y.reshape([b, t, self.num_heads, hd]).swap_dims(1, 2);
        let q = split(apply(&self.q_proj, x.clone()));
        let k = split(apply(&self.k_proj, x.clone()));
        let v = split(apply(&self.v_proj, x));
        let options = AttentionModuleOptions {
            scale: Some((hd as f64).powf(-0.5)),
            softcap: None,
            is_causal: false,
        };
        let out = attention(q, k, v, None, None, options);
        apply(
            &self.projection_layer,
            out.swap_dims(1, 2).reshape([b, t, d]),
        )
    }
}

impl<B: Backend> VisionModel<B> {
    /// `pixels`: `[batch, channels, size, size]`, normalised to about [-1, 1].
    pub fn forward(&self, pixels: Tensor<B, 4>) -> VisionOutput<B> {
        let p = self.embeddings.patch_embedding.forward(pixels); // [b, d, h, w]
        let [b, d, h, w] = p.dims();
        let pos = self
            .embeddings
            .position_embedding
            .weight
            .val()
            .unsqueeze::<3>();
        let mut x = p.reshape([b, d, h * w]).swap_dims(1, 2) + pos;
        let mut hidden_states = vec![x.clone()];
        for layer in &self.layers {
            let a = layer
                .self_attn
                .forward(layer.layer_norm1.forward(x.clone()));
            x = x + a;
            let h = apply(&layer.mlp.fc1, layer.layer_norm2.forward(x.clone()));
            let m = apply(&layer.mlp.fc2, gelu(h));
            x = x + m;
            hidden_states.push(x.clone());
        }
        VisionOutput {
            last_hidden_state: self.post_layernorm.forward(x),
            hidden_states,
        }
    }
}
