//! VQGAN building blocks (LlamaGen VQ-16 / transformers' `JanusVQVAE*`):
//! GroupNorm(32, eps 1e-6) + swish residual blocks, single-head spatial
//! attention, strided-conv down-sampling and nearest up-sampling.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

pub(crate) fn group_norm<B: Backend>(channels: usize, device: &B::Device) -> GroupNorm<B> {
    GroupNormConfig::new(32, channels)
        .with_epsilon(1e-6)
        .init(device)
}

/// GroupNorm with the same parameters and result as burn's, laid out so every
/// broadcast is "one scalar per contiguous row": burn-flex runs those with
/// SIMD, while burn's `[1, c, 1, 1]` affine broadcast falls back to a scalar
/// strided loop that took a third of a VQ training step.
pub(crate) fn norm<B: Backend>(gn: &GroupNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    let g = gn.num_groups;
    let n = (c / g) * h * w;
    let x = x.reshape([b * g, n]);
    let x = x.clone() - x.mean_dim(1);
    let var = x.clone().square().mean_dim(1);
    let x = (x / var.add_scalar(gn.epsilon).sqrt()).reshape([b * c, h * w]);
    let x = match (&gn.gamma, &gn.beta) {
        (Some(gamma), Some(beta)) => {
            let per_row = |p: Tensor<B, 1>| p.reshape([1, c]).repeat_dim(0, b).reshape([b * c, 1]);
            x * per_row(gamma.val()) + per_row(beta.val())
        }
        _ => x,
    };
    x.reshape([b, c, h, w])
}

pub(crate) fn conv<B: Backend>(cin: usize, cout: usize, k: usize, device: &B::Device) -> Conv2d<B> {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device)
}

/// `shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x))))))`.
#[derive(Module, Debug)]
pub struct ResnetBlock<B: Backend> {
    pub norm1: GroupNorm<B>,
    pub conv1: Conv2d<B>,
    pub norm2: GroupNorm<B>,
    pub conv2: Conv2d<B>,
    /// 1×1 projection when the channel count changes.
    pub nin_shortcut: Option<Conv2d<B>>,
    /// The residual branch is held at zero (a frozen, zero-initialised
    /// `conv2`): skip it, same output for a third of the compute. Not a
    /// parameter and not stored; set by VQ training only.
    pub skip_branch: bool,
}

impl<B: Backend> ResnetBlock<B> {
    pub fn new(cin: usize, cout: usize, device: &B::Device) -> Self {
        ResnetBlock {
            norm1: group_norm(cin, device),
            conv1: conv(cin, cout, 3, device),
            norm2: group_norm(cout, device),
            conv2: conv(cout, cout, 3, device),
            nin_shortcut: (cin != cout).then(|| conv(cin, cout, 1, device)),
            skip_branch: false,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = |x| match &self.nin_shortcut {
            Some(c) => c.forward(x),
            None => x,
        };
        if self.skip_branch {
            return shortcut(x);
        }
        let h = self.conv1.forward(silu(norm(&self.norm1, x.clone())));
        let h = self.conv2.forward(silu(norm(&self.norm2, h)));
        shortcut(x) + h
    }
}

/// Single-head attention over spatial positions with 1×1-conv projections.
#[derive(Module, Debug)]
pub struct AttnBlock<B: Backend> {
    pub norm: GroupNorm<B>,
    pub q: Conv2d<B>,
    pub k: Conv2d<B>,
    pub v: Conv2d<B>,
    pub proj_out: Conv2d<B>,
    /// `proj_out` is held at zero: the block is the identity (see
    /// [`ResnetBlock::skip_branch`]).
    pub skip_branch: bool,
}

impl<B: Backend> AttnBlock<B> {
    pub fn new(c: usize, device: &B::Device) -> Self {
        AttnBlock {
            norm: group_norm(c, device),
            q: conv(c, c, 1, device),
            k: conv(c, c, 1, device),
            v: conv(c, c, 1, device),
            proj_out: conv(c, c, 1, device),
            skip_branch: false,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if self.skip_branch {
            return x;
        }
        let [b, c, h, w] = x.dims();
        let n = norm(&self.norm, x.clone());
        let flat = |t: Tensor<B, 4>| t.reshape([b, c, h * w]);
        let q = flat(self.q.forward(n.clone())).swap_dims(1, 2); // [b, hw, c]
        let k = flat(self.k.forward(n.clone())); // [b, c, hw]
        let v = flat(self.v.forward(n)); // [b, c, hw]
        let a = softmax(q.matmul(k) * (c as f64).powf(-0.5), 2); // [b, hw_q, hw_k]
        let out = v.matmul(a.swap_dims(1, 2)).reshape([b, c, h, w]);
        x + self.proj_out.forward(out)
    }
}

/// Zero-pad right and bottom by one, then a stride-2 3×3 conv.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    pub conv: Conv2d<B>,
}

impl<B: Backend> Downsample<B> {
    pub fn new(c: usize, device: &B::Device) -> Self {
        Downsample {
            conv: Conv2dConfig::new([c, c], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.conv.forward(x)
    }
}

/// Nearest ×2, then a 3×3 conv.
#[derive(Module, Debug)]
pub struct Upsample<B: Backend> {
    pub conv: Conv2d<B>,
}

impl<B: Backend> Upsample<B> {
    pub fn new(c: usize, device: &B::Device) -> Self {
        Upsample {
            conv: conv(c, c, 3, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let up = interpolate(
            x,
            [2 * h, 2 * w],
            InterpolateOptions::new(InterpolateMode::Nearest),
        );
        self.conv.forward(up)
    }
}

/// Res, attention, Res at the lowest resolution.
#[derive(Module, Debug)]
pub struct MidBlock<B: Backend> {
    pub block_1: ResnetBlock<B>,
    pub attn_1: AttnBlock<B>,
    pub block_2: ResnetBlock<B>,
}

impl<B: Backend> MidBlock<B> {
    pub fn new(c: usize, device: &B::Device) -> Self {
        MidBlock {
            block_1: ResnetBlock::new(c, c, device),
            attn_1: AttnBlock::new(c, device),
            block_2: ResnetBlock::new(c, c, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.block_2
            .forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    /// A skipped branch is exactly the zeroed branch it stands for, and a
    /// branch that is not zero is not skipped by default.
    #[test]
    fn skipping_a_zeroed_branch_changes_no_output() {
        let dev = Default::default();
        let x = Tensor::<Cpu, 4>::random([2, 32, 8, 8], burn::tensor::Distribution::Default, &dev);
        let mut r = ResnetBlock::<Cpu>::new(32, 64, &dev);
        let full = r.forward(x.clone());
        let zero = |t: Tensor<Cpu, 4>| t.zeros_like();
        r.conv2.weight = r.conv2.weight.map(zero);
        r.conv2.bias = r.conv2.bias.map(|b| b.map(|t| t.zeros_like()));
        let zeroed = r.forward(x.clone());
        r.skip_branch = true;
        let skipped = r.forward(x.clone());
        zeroed.to_data().assert_eq(&skipped.to_data(), true);
        assert!(full.sub(zeroed).abs().max().into_scalar() > 1e-4);

        let mut a = AttnBlock::<Cpu>::new(64, &dev);
        let y = Tensor::<Cpu, 4>::random([2, 64, 4, 4], burn::tensor::Distribution::Default, &dev);
        a.proj_out.weight = a.proj_out.weight.map(zero);
        a.proj_out.bias = a.proj_out.bias.map(|b| b.map(|t| t.zeros_like()));
        let zeroed = a.forward(y.clone());
        a.skip_branch = true;
        a.forward(y.clone())
            .to_data()
            .assert_eq(&zeroed.to_data(), true);
    }
}
