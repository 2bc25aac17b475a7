//! LLaMA self-attention with grouped key/value heads and a KV cache, on
//! burn's fused `attention` (causal or with an explicit mask).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::cache::KvCache;
use crate::decode_attention::decode_attention;
use crate::linear::apply;
use crate::rope::{RopeTables, apply_rope};

/// Shape of one attention block.
#[derive(Config, Debug)]
pub struct LlamaAttentionConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    #[config(default = false)]
    pub bias: bool,
}

impl LlamaAttentionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> LlamaAttention<B> {
        let lin = |i, o| LinearConfig::new(i, o).with_bias(self.bias).init(device);
        let (q, kv) = (
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
        );
        LlamaAttention {
            q_proj: lin(self.hidden_size, q),
            k_proj: lin(self.hidden_size, kv),
            v_proj: lin(self.hidden_size, kv),
            o_proj: lin(q, self.hidden_size),
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            head_dim: self.head_dim,
        }
    }
}

#[derive(Module, Debug)]
pub struct LlamaAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> LlamaAttention<B> {
    /// `x`: `[batch, seq, hidden]`. With `cache`, keys/values of earlier
    /// positions are reused and this step's are appended (layer `layer`).
    /// `mask` (`true` = blocked, `[batch, 1, seq, past + seq]`) replaces the
    /// default causal mask when padding must be hidden too.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        let d = self.head_dim;
        // RoPE on the projection's `[b, t, heads, d]` layout (contiguous),
        // then heads first. A single-token step needs no transpose at all:
        // `[b, 1, h, d]` and `[b, h, 1, d]` share their memory order, and a
        // reshape keeps burn-flex off its element-wise strided copy.
        let heads_first = |y: Tensor<B, 4>| {
            let [b, t, h, d] = y.dims();
            if t == 1 {
                y.reshape([b, h, 1, d])
            } else {
                swap_mid(y)
            }
        };
        let proj =
            |l: &burn::nn::Linear<B>, heads: usize| apply(l, x.clone()).reshape([b, t, heads, d]);
        let q = heads_first(apply_rope(proj(&self.q_proj, self.num_heads), rope));
        let k = heads_first(apply_rope(proj(&self.k_proj, self.num_kv_heads), rope));
        let v = heads_first(proj(&self.v_proj, self.num_kv_heads));
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v),
            None => (k, v),
        };
        let rep = self.num_heads / self.num_kv_heads;
        let scale = Some((self.head_dim as f64).powf(-0.5));
        if t == 1 {
            // A decode step: the `rep` query heads of each KV head become
            // `rep` query rows against that head's cache, so the cache is
            // never repeated, nor copied (decode_attention.rs).
            let q = q.reshape([b, self.num_kv_heads, rep, d]);
            let out = decode_attention(q, k, v, mask); // [b, kv, rep, d]
            return apply(&self.o_proj, out.reshape([b, 1, self.num_heads * d]));
        }
        let (k, v) = if rep > 1 {
            let expand = |y: Tensor<B, 4>| {
                let [b, h, s, d] = y.dims();
                // `repeat_dim` copies whole rows; `expand` + `reshape` made
                // burn-flex gather element by element through a strided
                // iterator (half of all decode time, docs/benchmarks.md).
                y.unsqueeze_dim::<5>(2)
                    .repeat_dim(2, rep)
                    .reshape([b, h * rep, s, d])
            };
            (expand(k), expand(v))
        } else {
            (k, v)
        };
        let options = AttentionModuleOptions {
            scale,
            softcap: None,
            is_causal: mask.is_none(),
        };
        // A mask broadcast over the heads sends burn-flex's mask fill (and
        // its backward) through the element-wise strided copy; repeated rows
        // keep it a same-shape fill.
        let mask = mask.map(|m| {
            if m.dims()[1] == 1 && self.num_heads > 1 {
                m.repeat_dim(1, self.num_heads)
            } else {
                m
            }
        });
        let out = attention(q, k, v, mask, None, options); // [b, h, t, d]
        apply(
            &self.o_proj,
            swap_mid(out).reshape([b, t, self.num_heads * d]),
        )
    }
}

/// `[b, p, q, d]` → `[b, q, p, d]`, contiguous, as one row gather of the
/// `d`-wide rows. Why not `swap_dims` + `reshape`: burn-flex copies a 4-D
/// permuted view element by element through its strided iterator, in the
/// forward pass and again for every gradient that arrives as such a view
/// (RoPE's products, the projections' reshapes) — about a sixth of a GRPO
/// update's time (docs/benchmarks.md). A gather of whole rows is a memcpy
/// per row, and its backward a row-wise scatter-add.
pub(crate) fn swap_mid<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, p, q, d] = x.dims();
    let mut idx = Vec::with_capacity(b * p * q);
    for bi in 0..b {
        for j in 0..q {
            for i in 0..p {
                idx.push(((bi * p + i) * q + j) as i64);
            }
        }
    }
    let device = x.device();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [b * p * q]), &device);
    x.reshape([b * p * q, d])
        .select(0, idx)
        .reshape([b, q, p, d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    #[test]
    fn swap_mid_matches_swap_dims() {
        let dev = Default::default();
        let v: Vec<f32> = (0..2 * 3 * 5 * 4).map(|i| i as f32).collect();
        let x = Tensor::<Cpu, 1>::from_data(TensorData::new(v, [120]), &dev).reshape([2, 3, 5, 4]);
        let a: Vec<f32> = swap_mid(x.clone()).into_data().to_vec().unwrap();
        let b: Vec<f32> = x.swap_dims(1, 2).into_data().to_vec().unwrap();
        assert_eq!(a, b);
    }
}
