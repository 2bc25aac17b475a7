//! How fast burn-flex runs one 3×3 conv (64×64, 32→32 channels, batch 16)
//! forward and forward+backward: `cargo run --release -p duet-rl --example conv_speed`.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use duet_model::Cpu;

fn main() {
    let dev = Default::default();
    let conv = Conv2dConfig::new([32, 32], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init::<Autodiff<Cpu>>(&dev);
    let x = Tensor::<Autodiff<Cpu>, 4>::random(
        [16, 32, 64, 64],
        burn::tensor::Distribution::Default,
        &dev,
    );
    let flops = 2.0 * 16.0 * 32.0 * 32.0 * 9.0 * 64.0 * 64.0;
    let n = 5;
    let t = Instant::now();
    for _ in 0..n {
        let y = conv.forward(x.clone());
        let _ = y.into_data();
    }
    let fwd = t.elapsed().as_secs_f64() / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        let y = conv.forward(x.clone().require_grad());
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g);
    }
    let both = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "conv 3x3 32->32 @64x64 b16: forward {:.1} ms ({:.1} GFLOP/s), forward+backward {:.1} ms ({:.1} GFLOP/s for 3x the forward flops)",
        fwd * 1e3,
        flops / fwd / 1e9,
        both * 1e3,
        3.0 * flops / both / 1e9
    );
}
