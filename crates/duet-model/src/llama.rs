//! The LLaMA decoder (transformers' `LlamaModel`): token embedding, pre-norm
//! decoder layers (RMSNorm → attention, RMSNorm → SwiGLU MLP), final RMSNorm.
//! The `lm_head` lives in [`crate::janus::Janus`], untied.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::attention::{LlamaAttention, LlamaAttentionConfig};
use crate::cache::KvCache;
use crate::config::TextConfig;
use crate::linear::apply;
use crate::rope::rope_tables;

/// SwiGLU feed-forward: `down(silu(gate(x)) ⊙ up(x))`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Linear<B>,
    pub up_proj: Linear<B>,
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let g = silu(apply(&self.gate_proj, x.clone()));
        apply(&self.down_proj, g * apply(&self.up_proj, x))
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: LlamaAttention<B>,
    pub mlp: Mlp<B>,
    pub input_layernorm: RmsNorm<B>,
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> DecoderLayer<B> {
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &crate::rope::RopeTables<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), rope, cache, mask);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// The decoder stack.
#[derive(Module, Debug)]
pub struct LlamaModel<B: Backend> {
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    pub head_dim: usize,
    pub rope_theta: f64,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct LlamaOutput<B: Backend> {
    /// After the final RMSNorm, `[batch, seq, hidden]`.
    pub last_hidden_state: Tensor<B, 3>,
    /// Raw output of every decoder layer (before the final norm), when asked for.
    pub layer_outputs: Vec<Tensor<B, 3>>,
}

impl TextConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> LlamaModel<B> {
        let d = self.hidden_size;
        let norm = || {
            RmsNormConfig::new(d)
                .with_epsilon(self.rms_norm_eps)
                .init(device)
        };
        let lin = |i, o| {
            LinearConfig::new(i, o)
                .with_bias(self.mlp_bias)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| DecoderLayer {
                self_attn: LlamaAttentionConfig::new(
                    d,
                    self.num_attention_heads,
                    self.kv_heads(),
                    self.head_dim(),
                )
                .with_bias(self.attention_bias)
                .init(device),
                mlp: Mlp {
                    gate_proj: lin(d, self.intermediate_size),
                    up_proj: lin(d, self.intermediate_size),
                    down_proj: lin(self.intermediate_size, d),
                },
                input_layernorm: norm(),
                post_attention_layernorm: norm(),
            })
            .collect();
        LlamaModel {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, d).init(device),
            layers,
            norm: norm(),
            head_dim: self.head_dim(),
            rope_theta: self.rope_theta(),
        }
    }
}

impl<B: Backend> LlamaModel<B> {
    /// Runs the decoder on input embeddings `[batch, seq, hidden]`.
    ///
    /// Positions are `past..past + seq` (`past` = cached length) unless
    /// `positions` is given (`[batch, seq]`, e.g. for left padding); `mask`
    /// (`true` = blocked, `[batch, 1, seq, past + seq]`) replaces the causal
    /// mask when padding must be hidden.
    pub fn forward(
        &self,
        embeds: Tensor<B, 3>,
        positions: Option<Tensor<B, 2, Int>>,
        mut cache: Option<&mut KvCache<B>>,
        mask: Option<Tensor<B, 4, Bool>>,
        keep_layer_outputs: bool,
    ) -> LlamaOutput<B> {
        let [b, t, _] = embeds.dims();
        let device = embeds.device();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let positions = positions.unwrap_or_else(|| {
            Tensor::<B, 1, Int>::arange(past as i64..(past + t) as i64, &device)
                .unsqueeze::<2>()
                .expand([b, t])
        });
        let rope = rope_tables(positions, self.head_dim, self.rope_theta);
        let mut x = embeds;
        let mut layer_outputs = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = layer.forward(x, &rope, c, mask.clone());
            if keep_layer_outputs {
                layer_outputs.push(x.clone());
            }
        }
        LlamaOutput {
            last_hidden_state: self.norm.forward(x),
            layer_outputs,
        }
    }

    /// Token embeddings of `ids` (`[batch, seq]`).
    pub fn embed(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.embed_tokens.forward(ids)
    }
}
