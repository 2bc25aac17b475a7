//! VQ encoder: image → latent grid (16× down-sampling for Janus).

use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::silu;

use super::blocks::{AttnBlock, Downsample, MidBlock, ResnetBlock, conv, group_norm, norm};
use crate::config::VqConfig;

/// One resolution level: residual blocks (each followed by attention at the
/// last level) and a down-sampling (all levels but the last).
#[derive(Module, Debug)]
pub struct EncoderLevel<B: Backend> {
    pub block: Vec<ResnetBlock<B>>,
    pub attn: Vec<AttnBlock<B>>,
    pub downsample: Option<Downsample<B>>,
}

#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    pub conv_in: Conv2d<B>,
    pub down: Vec<EncoderLevel<B>>,
    pub mid: MidBlock<B>,
    pub norm_out: GroupNorm<B>,
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Encoder<B> {
    pub fn new(cfg: &VqConfig, device: &B::Device) -> Self {
        let b = cfg.base_channels;
        let m = &cfg.channel_multiplier;
        let levels = m.len();
        let mut cin = b;
        let down = (0..levels)
            .map(|i| {
                let cout = b * m[i];
                let mut block = Vec::new();
                let mut attn = Vec::new();
                for _ in 0..cfg.num_res_blocks {
                    block.push(ResnetBlock::new(cin, cout, device));
                    cin = cout;
                    if i == levels - 1 {
                        attn.push(AttnBlock::new(cin, device));
                    }
                }
                EncoderLevel {
                    block,
                    attn,
                    downsample: (i != levels - 1).then(|| Downsample::new(cin, device)),
                }
            })
            .collect();
        let z = if cfg.double_latent {
            2 * cfg.latent_channels
        } else {
            cfg.latent_channels
        };
        Encoder {
            conv_in: conv(cfg.in_channels, b, 3, device),
            down,
            mid: MidBlock::new(cin, device),
            norm_out: group_norm(cin, device),
            conv_out: conv(cin, z, 3, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.conv_in.forward(x);
        for level in &self.down {
            for (j, block) in level.block.iter().enumerate() {
                h = block.forward(h);
                if let Some(a) = level.attn.get(j) {
                    h = a.forward(h);
                }
            }
            if let Some(d) = &level.downsample {
                h = d.forward(h);
            }
        }
        let h = self.mid.forward(h);
        self.conv_out.forward(silu(norm(&self.norm_out, h)))
    }
}
