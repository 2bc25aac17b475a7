//! Initialisation of the VQ before training.

use burn::module::Param;
use burn::prelude::*;
use duet_model::vq::VqVae;

/// The VQ with every residual branch zeroed (see
/// [`super::vq::VqTrainConfig::zero_init_residual`]).
pub(crate) fn zero_residuals<B: Backend>(mut vq: VqVae<B>) -> VqVae<B> {
    use duet_model::vq::blocks::{AttnBlock, ResnetBlock};
    fn zero<B: Backend, const D: usize>(p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        p.map(|t| t.zeros_like())
    }
    fn res<B: Backend>(mut r: ResnetBlock<B>) -> ResnetBlock<B> {
        r.conv2.weight = zero(r.conv2.weight);
        r.conv2.bias = r.conv2.bias.map(zero);
        r
    }
    fn attn<B: Backend>(mut a: AttnBlock<B>) -> AttnBlock<B> {
        a.proj_out.weight = zero(a.proj_out.weight);
        a.proj_out.bias = a.proj_out.bias.map(zero);
        a
    }
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
