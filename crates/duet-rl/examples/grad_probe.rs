//! Finite-difference probes of burn-flex backward passes the VQ uses.
use burn::backend::Autodiff;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use duet_model::Cpu;
type A = Autodiff<Cpu>;

fn main() {
    let dev = Default::default();
    // nearest ×2
    let x = Tensor::<A, 4>::random([1, 2, 3, 3], burn::tensor::Distribution::Default, &dev)
        .require_grad();
    let r = Tensor::<A, 4>::random([1, 2, 6, 6], burn::tensor::Distribution::Default, &dev);
    let up = interpolate(
        x.clone(),
        [6, 6],
        InterpolateOptions::new(InterpolateMode::Nearest),
    );
    let g = (up * r.clone()).sum().backward();
    let gx = x.grad(&g).unwrap();
    let rr: Vec<f32> = r.clone().into_data().to_vec().unwrap();
    let mut want = vec![0f32; 18];
    for c in 0..2 {
        for y in 0..6 {
            for xx in 0..6 {
                want[c * 9 + (y / 2) * 3 + xx / 2] += rr[c * 36 + y * 6 + xx];
            }
        }
    }
    let got: Vec<f32> = gx.into_data().to_vec().unwrap();
    let err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("nearest x2 backward max err {err}");
    // convs: 3x3 pad 1, and the stride-2 asymmetric pad
    for (name, cfg) in [
        (
            "conv3x3 pad1",
            Conv2dConfig::new([3, 4], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        ),
        (
            "down stride2 pad(0,0,1,1)",
            Conv2dConfig::new([3, 4], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1)),
        ),
    ] {
        let conv = cfg.init::<A>(&dev);
        let x = Tensor::<A, 4>::random([2, 3, 8, 8], burn::tensor::Distribution::Default, &dev)
            .require_grad();
        let y = conv.forward(x.clone());
        let r = Tensor::<A, 4>::random(y.dims(), burn::tensor::Distribution::Default, &dev);
        let g = (y * r.clone()).sum().backward();
        let gw: Vec<f32> = conv.weight.grad(&g).unwrap().into_data().to_vec().unwrap();
        let gx: Vec<f32> = x.grad(&g).unwrap().into_data().to_vec().unwrap();
        let f = |w: Tensor<Cpu, 4>, xi: Tensor<Cpu, 4>| -> f64 {
            let c2 = cfg.init::<Cpu>(&dev);
            let c2 = burn::nn::conv::Conv2d {
                weight: burn::module::Param::from_tensor(w),
                ..c2
            };
            let c2 = burn::nn::conv::Conv2d {
                bias: conv
                    .bias
                    .as_ref()
                    .map(|b| burn::module::Param::from_tensor(b.val().inner())),
                ..c2
            };
            (c2.forward(xi) * r.clone().inner()).sum().into_scalar() as f64
        };
        let w0 = conv.weight.val().inner();
        let x0 = x.clone().inner();
        let eps = 1e-2;
        let (mut ew, mut ex) = (0f64, 0f64);
        for i in [0usize, 5, 17, 40, 100] {
            let mut wv: Vec<f32> = w0.clone().into_data().to_vec().unwrap();
            if i >= wv.len() {
                continue;
            }
            wv[i] += eps;
            let p = f(
                Tensor::from_data(TensorData::new(wv.clone(), w0.dims()), &dev),
                x0.clone(),
            );
            wv[i] -= 2.0 * eps;
            let m = f(
                Tensor::from_data(TensorData::new(wv, w0.dims()), &dev),
                x0.clone(),
            );
            ew = ew.max(((p - m) / (2.0 * eps as f64) - gw[i] as f64).abs());
        }
        for i in [0usize, 7, 63, 64, 100, 191, 300] {
            let mut xv: Vec<f32> = x0.clone().into_data().to_vec().unwrap();
            xv[i] += eps;
            let p = f(
                w0.clone(),
                Tensor::from_data(TensorData::new(xv.clone(), x0.dims()), &dev),
            );
            xv[i] -= 2.0 * eps;
            let m = f(
                w0.clone(),
                Tensor::from_data(TensorData::new(xv, x0.dims()), &dev),
            );
            ex = ex.max(((p - m) / (2.0 * eps as f64) - gx[i] as f64).abs());
        }
        println!("{name}: max |fd - autodiff| weight {ew:.2e}, input {ex:.2e}");
    }
}
