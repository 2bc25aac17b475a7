//! Initialisation of the VQ before training.

use burn::prelude::*;
use duet_model::vq::VqVae;

/// The VQ with every residual branch zeroed (see
/// [`super::vq::VqTrainConfig::zero_init_residual`]), trainable or frozen
/// (`freeze`; also applied again after a resume, since a loaded parameter
/// is always trainable).
pub(crate) fn zero_residuals<B: Backend>(mut vq: VqVae<B>, freeze: bool) -> VqVae<B> {
    use duet_model::vq::blocks::{AttnBlock, ResnetBlock};
    // `zeros_like` gives a tensor that requires no gradient and `map` takes
    // the flag from the new tensor: the branch is frozen unless asked back.
    let zero = |t: Tensor<B, 4>| {
        let z = t.zeros_like();
        if freeze { z } else { z.require_grad() }
    };
    let zero1 = |t: Tensor<B, 1>| {
        let z = t.zeros_like();
        if freeze { z } else { z.require_grad() }
    };
    let res = |mut r: ResnetBlock<B>| {
        r.conv2.weight = r.conv2.weight.map(zero);
        r.conv2.bias = r.conv2.bias.map(|b| b.map(zero1));
        r
    };
    let attn = |mut a: AttnBlock<B>| {
        a.proj_out.weight = a.proj_out.weight.map(zero);
        a.proj_out.bias = a.proj_out.bias.map(|b| b.map(zero1));
        a
    };
    for m in [&mut vq.encoder.mid, &mut vq.decoder.mid] {
        m.block_1 = res(m.block_1.clone());
        m.block_2 = res(m.block_2.clone());
        m.attn_1 = attn(m.attn_1.clone());
    }
    for level in &mut vq.encoder.down {
        level.block = level.block.drain(..).map(res).collect();
        level.attn = level.attn.drain(..).map(attn).collect();
    }
    for level in &mut vq.decoder.up {
        level.block = level.block.drain(..).map(res).collect();
        level.attn = level.attn.drain(..).map(attn).collect();
    }
    vq
}
