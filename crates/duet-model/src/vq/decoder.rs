//! VQ decoder: latent grid → image. `up[0]` is the lowest resolution (the
//! highest channel multiplier), as in transformers' key names.

use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::silu;

use super::blocks::{AttnBlock, MidBlock, ResnetBlock, Upsample, conv, group_norm, norm};
use crate::config::VqConfig;

/// One resolution level: `num_res_blocks + 1` residual blocks (each followed
/// by attention at the lowest resolution) and an up-sampling (all but the last).
#[derive(Module, Debug)]
pub struct DecoderLevel<B: Backend> {
    pub block: Vec<ResnetBlock<B>>,
    pub attn: Vec<AttnBlock<B>>,
    pub upsample: Option<Upsample<B>>,
}

#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub conv_in: Conv2d<B>,
    pub mid: MidBlock<B>,
    pub up: Vec<DecoderLevel<B>>,
    pub norm_out: GroupNorm<B>,
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Decoder<B> {
    pub fn new(cfg: &VqConfig, device: &B::Device) -> Self {
        let b = cfg.base_channels;
        let m = &cfg.channel_multiplier;
        let levels = m.len();
        let mut cin = b * m[levels - 1];
        let conv_in = conv(cfg.latent_channels, cin, 3, device);
        let mid = MidBlock::new(cin, device);
        let up = (0..levels)
            .rev()
            .map(|i| {
                let cout = b * m[i];
                let mut block = Vec::new();
                let mut attn = Vec::new();
                for _ in 0..=cfg.num_res_blocks {
                    block.push(ResnetBlock::new(cin, cout, device));
                    cin = cout;
                    if i == levels - 1 {
                        attn.push(AttnBlock::new(cin, device));
                    }
                }
                DecoderLevel {
                    block,
                    attn,
                    upsample: (i != 0).then(|| Upsample::new(cin, device)),
                }
            })
            .collect();
        Decoder {
            conv_in,
            mid,
            up,
            norm_out: group_norm(cin, device),
            conv_out: conv(cin, cfg.out_channels, 3, device),
        }
    }

    pub fn forward(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.mid.forward(self.conv_in.forward(z));
        for level in &self.up {
            for (j, block) in level.block.iter().enumerate() {
                h = block.forward(h);
                if let Some(a) = level.attn.get(j) {
                    h = a.forward(h);
                }
            }
            if let Some(u) = &level.upsample {
                h = u.forward(h);
            }
        }
        self.conv_out.forward(silu(norm(&self.norm_out, h)))
    }
}
