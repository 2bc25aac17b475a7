//! Training the VQ-VAE image tokenizer on ShapeWorld images.
//!
//! LlamaGen-style: encoder output and codebook are L2-normalised before the
//! nearest-code search (so the stored, unit-norm codebook gives the same
//! codes under transformers' unnormalised encode), straight-through
//! gradients, loss = reconstruction MSE + codebook MSE + β · commitment MSE,
//! and dead codes are restarted from random encoder outputs.

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::vq::VqVae;
use image::RgbImage;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// VQ training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VqTrainConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Weight of the commitment term.
    pub beta: f64,
    /// Restart codes unused over this many steps (0 = never).
    pub restart_every: usize,
    pub seed: u64,
}

impl Default for VqTrainConfig {
    fn default() -> Self {
        VqTrainConfig {
            steps: 300,
            batch_size: 16,
            learning_rate: 2e-3,
            beta: 0.25,
            restart_every: 50,
            seed: 0,
        }
    }
}

/// What one step or an evaluation reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VqMetrics {
    pub loss: f64,
    pub reconstruction: f64,
    /// PSNR in dB of reconstructions, pixels in [0, 1].
    pub psnr: f64,
    /// Fraction of the codebook used.
    pub usage: f64,
}

/// Images as `[batch, 3, h, w]` in [-1, 1].
pub fn to_tensor<B: Backend>(images: &[&RgbImage], device: &B::Device) -> Tensor<B, 4> {
    let (w, h) = images[0].dimensions();
    let mut v = Vec::with_capacity(images.len() * 3 * (w * h) as usize);
    for img in images {
        for c in 0..3 {
            v.extend(img.pixels().map(|p| p.0[c] as f32 / 127.5 - 1.0));
        }
    }
    Tensor::from_data(
        TensorData::new(v, [images.len(), 3, h as usize, w as usize]),
        device,
    )
}

fn l2norm<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / n
}

fn psnr(mse: f64) -> f64 {
    // Pixels in [-1, 1]: the [0, 1] MSE is a quarter of it.
    10.0 * (1.0 / (mse / 4.0).max(1e-12)).log10()
}

struct Forward<B: Backend> {
    loss: Tensor<B, 1>,
    reconstruction: Tensor<B, 1>,
    codes: Vec<i64>,
    latents: Tensor<B, 2>,
}

fn forward<B: Backend>(vq: &VqVae<B>, x: Tensor<B, 4>, beta: f64) -> Forward<B> {
    let z = vq.quant_conv.forward(vq.encoder.forward(x.clone()));
    let [b, e, h, w] = z.dims();
    let zn = l2norm(z.permute([0, 2, 3, 1]).reshape([b * h * w, e]));
    let book = l2norm(vq.quantize.embedding.weight.val());
    let idx = zn
        .clone()
        .matmul(book.clone().transpose())
        .argmax(1)
        .reshape([b * h * w]);
    let q = book.select(0, idx.clone());
    let codebook = (q.clone() - zn.clone().detach()).powf_scalar(2.0).mean();
    let commit = (zn.clone() - q.clone().detach()).powf_scalar(2.0).mean();
    let q_st = zn.clone() + (q - zn.clone()).detach();
    let grid = q_st.reshape([b, h, w, e]).permute([0, 3, 1, 2]);
    let x_hat = vq.decode_latents(grid);
    let reconstruction = (x_hat - x).powf_scalar(2.0).mean();
    let loss = reconstruction.clone() + codebook + commit * beta;
    Forward {
        loss,
        reconstruction,
        codes: idx.into_data().iter::<i64>().collect(),
        latents: zn.detach(),
    }
}

/// Mean reconstruction PSNR and codebook usage on `images` (no gradients).
pub fn evaluate<B: Backend>(vq: &VqVae<B>, images: &[RgbImage], batch: usize) -> VqMetrics {
    let device = vq.quantize.embedding.weight.device();
    let k = vq.quantize.embedding.weight.dims()[0];
    let mut used = vec![false; k];
    let (mut mse, mut n) = (0.0, 0usize);
    for chunk in images.chunks(batch.max(1)) {
        let refs: Vec<&RgbImage> = chunk.iter().collect();
        let f = forward(vq, to_tensor::<B>(&refs, &device), 0.0);
        mse += f.reconstruction.into_scalar().elem::<f64>() * chunk.len() as f64;
        n += chunk.len();
        for c in f.codes {
            used[c as usize] = true;
        }
    }
    let rec = mse / n.max(1) as f64;
    VqMetrics {
        loss: rec,
        reconstruction: rec,
        psnr: psnr(rec),
        usage: used.iter().filter(|u| **u).count() as f64 / k as f64,
    }
}

/// Trains `vq` on `images`; `on_step(step, metrics)` after every step.
/// Returns the trained module with a unit-norm codebook.
pub fn train<B: AutodiffBackend>(
    mut vq: VqVae<B>,
    images: &[RgbImage],
    cfg: &VqTrainConfig,
    mut on_step: impl FnMut(usize, VqMetrics),
) -> VqVae<B> {
    let device = vq.quantize.embedding.weight.device();
    let k = vq.quantize.embedding.weight.dims()[0];
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.0)
        .with_epsilon(1e-8)
        .init::<B, VqVae<B>>();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..images.len()).collect();
    let mut cursor = order.len();
    let mut usage = vec![0u32; k];
    for step in 0..cfg.steps {
        let mut batch = Vec::with_capacity(cfg.batch_size);
        while batch.len() < cfg.batch_size {
            if cursor == order.len() {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            batch.push(&images[order[cursor]]);
            cursor += 1;
        }
        let f = forward(&vq, to_tensor::<B>(&batch, &device), cfg.beta);
        for &c in &f.codes {
            usage[c as usize] += 1;
        }
        let metrics = VqMetrics {
            loss: f.loss.clone().into_scalar().elem::<f64>(),
            reconstruction: f.reconstruction.clone().into_scalar().elem::<f64>(),
            psnr: psnr(f.reconstruction.into_scalar().elem::<f64>()),
            usage: usage.iter().filter(|u| **u > 0).count() as f64 / k as f64,
        };
        let grads = GradientsParams::from_grads(f.loss.backward(), &vq);
        vq = optim.step(cfg.learning_rate, vq, grads);
        if cfg.restart_every > 0 && (step + 1) % cfg.restart_every == 0 {
            vq = restart_dead_codes(vq, &usage, f.latents.inner(), &mut rng);
            usage.iter_mut().for_each(|u| *u = 0);
        }
        on_step(step, metrics);
    }
    // Store the codebook unit-norm, as it is used (computed off the graph:
    // only leaf tensors can become parameters).
    let p = vq.quantize.embedding.weight.clone();
    let w = Tensor::<B, 2>::from_inner(l2norm(p.val().inner()));
    vq.quantize.embedding.weight = p.clone().transform_for_load(w, p.id);
    vq
}

/// Replaces every unused code by a random latent of the last batch.
fn restart_dead_codes<B: AutodiffBackend>(
    mut vq: VqVae<B>,
    usage: &[u32],
    latents: Tensor<B::InnerBackend, 2>,
    rng: &mut ChaCha8Rng,
) -> VqVae<B> {
    use rand::Rng;
    let dead: Vec<usize> = (0..usage.len()).filter(|&i| usage[i] == 0).collect();
    if dead.is_empty() {
        return vq;
    }
    let [n, e] = latents.dims();
    let lat: Vec<f32> = latents
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 latents");
    let p = vq.quantize.embedding.weight.clone();
    let mut w: Vec<f32> = p
        .val()
        .inner()
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 codebook");
    for &d in &dead {
        let src = rng.random_range(0..n);
        w[d * e..(d + 1) * e].copy_from_slice(&lat[src * e..(src + 1) * e]);
    }
    let device = p.val().inner().device();
    let t = Tensor::<B, 2>::from_inner(Tensor::from_data(
        TensorData::new(w, [usage.len(), e]),
        &device,
    ));
    vq.quantize.embedding.weight = p.clone().transform_for_load(t, p.id);
    vq
}

/// The trained module without autodiff.
pub fn inference<B: AutodiffBackend>(vq: &VqVae<B>) -> VqVae<B::InnerBackend> {
    vq.valid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use duet_data::records::Task;
    use duet_data::shapeworld::prompts::prompt_space;
    use duet_data::shapeworld::{ShapeWorldConfig, realise, render};
    use duet_model::Cpu;
    use duet_model::config::VqConfig;

    /// A VQ small enough to train in seconds: 16-px images, 2× down.
    fn small() -> VqConfig {
        let (cfg, _) = duet_model::JanusConfig::preset("shapeworld").unwrap();
        VqConfig {
            num_embeddings: 32,
            latent_channels: 32,
            channel_multiplier: vec![1, 1],
            num_res_blocks: 1,
            ..cfg.vq_config
        }
    }

    #[test]
    fn loss_falls_codes_restart_and_the_codebook_ends_unit_norm() {
        let sw = ShapeWorldConfig::with_size(16);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let space = prompt_space();
        let images: Vec<RgbImage> = (0..24)
            .map(|i| {
                let task = Task::ALL[i % 6];
                let m = space.iter().find(|m| m.tag == task).unwrap();
                render(&realise(m, &sw, &mut rng).unwrap(), &sw)
            })
            .collect();
        let dev = Default::default();
        let vq = small().init::<Autodiff<Cpu>>(&dev);
        let cfg = VqTrainConfig {
            steps: 40,
            batch_size: 8,
            learning_rate: 3e-3,
            restart_every: 10,
            ..Default::default()
        };
        let mut losses = Vec::new();
        let vq = train(vq, &images, &cfg, |_, m| losses.push(m.reconstruction));
        let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
        let last: f64 = losses[losses.len() - 5..].iter().sum::<f64>() / 5.0;
        assert!(last < 0.5 * first, "reconstruction {first:.4} -> {last:.4}");
        let norms: Vec<f32> = vq
            .quantize
            .embedding
            .weight
            .val()
            .inner()
            .powf_scalar(2.0)
            .sum_dim(1)
            .into_data()
            .to_vec()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
        let m = evaluate(&inference(&vq), &images, 8);
        assert!(m.psnr > 10.0 && m.usage > 0.0, "{m:?}");
    }
}
