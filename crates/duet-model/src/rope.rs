//! Rotary position embedding in Hugging Face's "rotate_half" convention: the
//! head dimension is split in two halves (not interleaved pairs, which is
//! what burn's `RotaryEncoding` rotates), `x·cos + rotate_half(x)·sin`.

use burn::prelude::*;

/// cos and sin tables for a batch of positions, each `[batch, seq, 1,
/// head_dim]` (broadcast over the heads of `[batch, seq, heads, head_dim]`
/// activations), and the rotate-half matrix.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    pub cos: Tensor<B, 4>,
    pub sin: Tensor<B, 4>,
    /// `[head_dim, head_dim]`: `x · rotate = rotate_half(x)`. One small GEMM
    /// instead of two half-width slices and a concatenation, which burn-flex
    /// copies element by element.
    pub rotate: Tensor<B, 2>,
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
    let emb = Tensor::cat(vec![freqs.clone(), freqs], 2).unsqueeze_dim::<4>(2); // [b, t, 1, hd]
    // rotate_half(x)[j] = −x[j + half] (j < half), x[j − half] (j ≥ half).
    let mut r = vec![0f32; head_dim * head_dim];
    for j in 0..half {
        r[(j + half) * head_dim + j] = -1.0;
        r[j * head_dim + j + half] = 1.0;
    }
    RopeTables {
        cos: emb.clone().cos(),
        sin: emb.sin(),
        rotate: Tensor::from_data(TensorData::new(r, [head_dim, head_dim]), &device),
    }
}

/// Applies the rotation to `x` (`[batch, seq, heads, head_dim]`, the
/// projection's own layout): `x·cos + rotate_half(x)·sin`. The rotation is
/// exact (one ±1 term per output).
pub fn apply_rope<B: Backend>(x: Tensor<B, 4>, t: &RopeTables<B>) -> Tensor<B, 4> {
    let [b, s, h, hd] = x.dims();
    let rotated = x
        .clone()
        .reshape([b * s * h, hd])
        .matmul(t.rotate.clone())
        .reshape([b, s, h, hd]);
    // Tables repeated over the heads (row copies) so both products run on
    // same-shape contiguous tensors: a broadcast over a size-1 axis sent
    // burn-flex down its element-wise strided path.
    let cos = t.cos.clone().repeat_dim(2, h);
    let sin = t.sin.clone().repeat_dim(2, h);
    x * cos + rotated * sin
}
