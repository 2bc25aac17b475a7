//! Initialisation of the VQ before training.

use burn::prelude::*;
use duet_model::vq::VqVae;
use duet_model::vq::blocks::{AttnBlock, MidBlock, ResnetBlock};

/// The VQ with the residual branches of each side zeroed (see
/// [`super::vq::VqTrainConfig::zero_init_residual`]): per side `None`
/// leaves it as it is, `Some(true)` zeroes and freezes it (also applied
/// again after a resume, since a loaded parameter is always trainable),
/// `Some(false)` zeroes it trainable. Frozen branches are skipped in the
/// forward pass: they add exactly zero.
pub(crate) fn zero_residuals<B: Backend>(
    mut vq: VqVae<B>,
    encoder: Option<bool>,
    decoder: Option<bool>,
) -> VqVae<B> {
    if let Some(freeze) = encoder {
        vq.encoder.mid = zero_mid(vq.encoder.mid, freeze);
        for level in &mut vq.encoder.down {
            zero_level(&mut level.block, &mut level.attn, freeze);
        }
    }
    if let Some(freeze) = decoder {
        vq.decoder.mid = zero_mid(vq.decoder.mid, freeze);
        for level in &mut vq.decoder.up {
            zero_level(&mut level.block, &mut level.attn, freeze);
        }
    }
    vq
}

/// One resolution level (encoder `down` or decoder `up`).
fn zero_level<B: Backend>(
    block: &mut Vec<ResnetBlock<B>>,
    attn: &mut Vec<AttnBlock<B>>,
    freeze: bool,
) {
    *block = block.drain(..).map(|r| zero_res(r, freeze)).collect();
    *attn = attn.drain(..).map(|a| zero_attn(a, freeze)).collect();
}

fn zero_mid<B: Backend>(mut m: MidBlock<B>, freeze: bool) -> MidBlock<B> {
    m.block_1 = zero_res(m.block_1, freeze);
    m.block_2 = zero_res(m.block_2, freeze);
    m.attn_1 = zero_attn(m.attn_1, freeze);
    m
}

fn zero_res<B: Backend>(mut r: ResnetBlock<B>, freeze: bool) -> ResnetBlock<B> {
    r.conv2.weight = r.conv2.weight.map(|t| zero(t, freeze));
    r.conv2.bias = r.conv2.bias.map(|b| b.map(|t| zero(t, freeze)));
    r.skip_branch = freeze;
    r
}

fn zero_attn<B: Backend>(mut a: AttnBlock<B>, freeze: bool) -> AttnBlock<B> {
    a.proj_out.weight = a.proj_out.weight.map(|t| zero(t, freeze));
    a.proj_out.bias = a.proj_out.bias.map(|b| b.map(|t| zero(t, freeze)));
    a.skip_branch = freeze;
    a
}

/// `zeros_like` gives a tensor that requires no gradient and `map` takes
/// the flag from the new tensor: the branch is frozen unless asked back.
fn zero<B: Backend, const D: usize>(t: Tensor<B, D>, freeze: bool) -> Tensor<B, D> {
    let z = t.zeros_like();
    if freeze { z } else { z.require_grad() }
}
