//! Rotary position embedding in Hugging Face's "rotate_half" convention: the
//! head dimension is split in two halves (not interleaved pairs, which is
//! what burn's `RotaryEncoding` rotates), `x·cos + rotate_half(x)·sin`.

use burn::prelude::*;

/// cos and sin tables for a batch of positions, each `[batch, 1, seq, head_dim]`.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    pub cos: Tensor<B, 4>,
    pub sin: Tensor<B, 4>,
}

/// Builds the tables for `positions` (`[batch, seq]`) with base `theta`.
pub fn rope_tables<B: Backend>(
    positions: Tensor<B, 2, Int>,
    head_dim: usize,
    theta: f64,
) -> RopeTables<B> {
    let device = positions.device();
    let half = head_dim / 2;
    // As transformers: inv_freq[j] = 1 / theta^(2j / head_dim), in f32.
    let inv: Vec<f32> = (0..half)
        .map(|j| 1.0 / (theta as f32).powf((2 * j) as f32 / head_dim as f32))
        .collect();
    let inv =
        Tensor::<B, 1>::from_data(TensorData::new(inv, [half]), &device).reshape([1, 1, half]);
    let freqs = positions.float().unsqueeze_dim::<3>(2) * inv; // [b, t, half]
    let emb = Tensor::cat(vec![freqs.clone(), freqs], 2).unsqueeze_dim::<4>(1); // [b, 1, t, hd]
    RopeTables {
        cos: emb.clone().cos(),
        sin: emb.sin(),
    }
}

/// Applies the rotation to `x` (`[batch, heads, seq, head_dim]`).
pub fn apply_rope<B: Backend>(x: Tensor<B, 4>, t: &RopeTables<B>) -> Tensor<B, 4> {
    let hd = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, hd / 2);
    let x2 = x.clone().narrow(3, hd / 2, hd / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * t.cos.clone() + rotated * t.sin.clone()
}
