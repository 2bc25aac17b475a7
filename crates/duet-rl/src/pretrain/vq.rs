//! Training the VQ-VAE image tokenizer on ShapeWorld images.
//!
//! LlamaGen-style: encoder output and codebook are L2-normalised before the
//! nearest-code search (so the stored, unit-norm codebook gives the same
//! codes under transformers' unnormalised encode), straight-through
//! gradients, loss = reconstruction MSE + codebook MSE + β · commitment MSE,
//! and dead codes are restarted from random encoder outputs.

use std::path::PathBuf;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::vq::VqVae;
use duet_model::{Janus, JanusConfig};
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, OPTIMIZER, SavePolicy, latest, read_state, step_rng};
use crate::error::{Result, RlError};
use crate::optim::{AdamW, AdamWConfig, SchedulerType, learning_rate};
use crate::parallel::grads_of_two;

/// VQ training settings (TRL/HF names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VqTrainConfig {
    /// `straight_through` (VQ-VAE with a learned codebook) or
    /// `patch_kmeans` (codes fixed by k-means over patches; see `vq_codes`).
    pub method: VqMethod,
    /// Weight of the encoder's code cross-entropy (`patch_kmeans`).
    pub code_loss_weight: f64,
    pub max_steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub lr_scheduler_type: SchedulerType,
    /// Weight of the commitment term.
    pub beta: f64,
    /// Weight of shape pixels (not background) in the reconstruction loss.
    pub foreground_weight: f64,
    /// Train on grid-aligned crops of this size (0 = whole images)…
    pub crop_size: usize,
    /// …for this fraction of the run, then on whole images.
    pub crop_until: f64,
    /// Restart codes unused over this many steps (0 = never)…
    pub restart_every: usize,
    /// …until this fraction of the run, so the last codes settle.
    pub restart_until: f64,
    /// Start every residual branch (each ResNet block's second conv, each
    /// attention block's output projection) at zero, so the fresh network
    /// is a shallow conv stack and depth is added as it learns.
    pub zero_init_residual: bool,
    /// With `zero_init_residual`: keep the zeroed branches at zero (not
    /// trained), so the VQ stays that shallow conv stack — within the
    /// recipe's budget it learns faster than the deep one (measured in
    /// docs/pretraining.md).
    pub freeze_residual: bool,
    /// With `freeze_residual`: train the decoder's zeroed branches anyway
    /// (the encoder's stay frozen), so the decoder can paint sub-patch
    /// detail that a linear stack cannot.
    pub train_decoder_residual: bool,
    pub seed: u64,
    /// Checkpoint every this many steps (0 = only at the end).
    pub save_steps: usize,
    pub save_total_limit: usize,
    #[serde(flatten)]
    pub optimizer: AdamWConfig,
}

impl Default for VqTrainConfig {
    fn default() -> Self {
        VqTrainConfig {
            method: VqMethod::StraightThrough,
            code_loss_weight: 0.1,
            max_steps: 300,
            batch_size: 8,
            learning_rate: 2e-3,
            warmup_steps: 10,
            lr_scheduler_type: SchedulerType::Cosine,
            beta: 0.25,
            foreground_weight: 1.0,
            crop_size: 0,
            crop_until: 0.0,
            restart_every: 50,
            restart_until: 0.7,
            zero_init_residual: false,
            freeze_residual: false,
            train_decoder_residual: false,
            seed: 0,
            save_steps: 0,
            save_total_limit: 2,
            optimizer: AdamWConfig {
                max_grad_norm: None,
                ..AdamWConfig::default()
            },
        }
    }
}

/// How the codebook is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VqMethod {
    StraightThrough,
    PatchKmeans,
}

pub use super::vq_loss::{VqMetrics, evaluate, to_tensor};
use super::vq_loss::{l2norm, psnr};

fn check_loss(step: usize, loss: f64) -> Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    Err(RlError::NonFinite {
        what: "loss".into(),
        detail: format!("VQ step {step}: loss {loss}"),
    })
}

/// Where a stage writes checkpoints and whether it resumes from them.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub output_dir: PathBuf,
    pub resume: bool,
}

/// Trains `model.vqmodel` on `images` (the rest of the model is carried
/// along untouched, so checkpoints are whole HF Janus checkpoints);
/// `on_step(step, metrics)` after every step. Returns the model with a
/// unit-norm codebook.
pub fn train<B: AutodiffBackend>(
    mut model: Janus<B>,
    model_cfg: &JanusConfig,
    images: &[RgbImage],
    cfg: &VqTrainConfig,
    run: Option<&RunDir>,
    mut on_step: impl FnMut(usize, VqMetrics),
) -> Result<Janus<B>> {
    let device = model.lm_head.weight.device();
    let k = model.vqmodel.quantize.embedding.weight.dims()[0];
    let mut optim = AdamW::<B::InnerBackend>::new(cfg.optimizer.clone());
    let mut usage = vec![0u32; k];
    let mut start = 0;
    let mut history = Vec::new();
    if let Some(dir) = run
        .filter(|r| r.resume)
        .and_then(|r| latest(&r.output_dir).transpose())
    {
        let dir = dir?;
        let state = read_state(&dir)?;
        let (_, loaded) = duet_model::checkpoint::load::<B>(&dir, &device)?;
        model = loaded;
        optim = AdamW::load(cfg.optimizer.clone(), &model, &dir.join(OPTIMIZER), &device)?;
        usage = serde_json::from_value(state.extra["code_usage"].clone()).map_err(|e| {
            RlError::Checkpoint {
                path: dir.display().to_string(),
                message: format!("extra.code_usage: {e}"),
            }
        })?;
        start = state.global_step;
        history = state.log_history;
    }
    // Frozen branches are frozen again after a resume: loaded parameters
    // are trainable (and still zero, so this changes no value).
    if cfg.zero_init_residual {
        let freeze_decoder = cfg.freeze_residual && !cfg.train_decoder_residual;
        // At the start every side is zeroed; after a resume only the frozen
        // sides (their loaded branches are zero) are frozen again.
        let side = |freeze: bool| (start == 0 || freeze).then_some(freeze);
        model.vqmodel = super::vq_init::zero_residuals(
            model.vqmodel,
            side(cfg.freeze_residual),
            side(freeze_decoder),
        );
    }
    let restart_stop = (cfg.restart_until * cfg.max_steps as f64) as usize;
    let mut code_accuracy = f64::NAN;
    let patch = (cfg.method == VqMethod::PatchKmeans).then(|| {
        let q = &model_cfg.vq_config;
        let grid = 1u32 << (q.channel_multiplier.len().saturating_sub(1));
        super::vq_codes::fit(images, grid, q.num_embeddings, q.embed_dim, cfg.seed)
    });
    if let Some(pc) = patch.as_ref().filter(|_| start == 0) {
        // The content-derived start of the codebook; a resumed run keeps
        // the trained one it loaded.
        let p = model.vqmodel.quantize.embedding.weight.clone();
        let w = Tensor::<B, 2>::from_data(
            TensorData::new(pc.codebook.clone(), [pc.k, pc.embed_dim]),
            &device,
        );
        model.vqmodel.quantize.embedding.weight = p.clone().transform_for_load(w, p.id);
    }
    // Crops are aligned to the code grid so every crop is whole tokens.
    let grid = 1usize
        << (model_cfg
            .vq_config
            .channel_multiplier
            .len()
            .saturating_sub(1));
    for step in start..cfg.max_steps {
        let t_step = std::time::Instant::now();
        let mut rng = step_rng(cfg.seed, step);
        let cropping = cfg.crop_size > 0 && (step as f64) < cfg.crop_until * cfg.max_steps as f64;
        let mut picks = Vec::with_capacity(cfg.batch_size);
        let batch: Vec<RgbImage> = (0..cfg.batch_size)
            .map(|_| {
                let i = rng.random_range(0..images.len());
                let img = &images[i];
                let (out, at) = if cropping {
                    super::vq_crop::crop(img, cfg.crop_size, grid, &mut rng)
                } else {
                    (img.clone(), (0, 0))
                };
                picks.push((i, at));
                out
            })
            .collect();
        let batch: Vec<&RgbImage> = batch.iter().collect();
        let (grads, loss, rec, latents): (_, f64, f64, Option<Tensor<B::InnerBackend, 2>>) =
            if let Some(pc) = &patch {
                // Each (cropped) image's part of its code grid.
                let targets: Vec<Vec<u32>> = picks
                    .iter()
                    .zip(&batch)
                    .map(|(&(i, at), img)| {
                        super::vq_crop::crop_codes(&pc.codes[i], &images[i], img, at, grid)
                    })
                    .collect();
                for t in &targets {
                    for &c in t.iter() {
                        usage[c as usize] += 1;
                    }
                }
                let targets: Vec<&Vec<u32>> = targets.iter().collect();
                let cut = batch.len().div_ceil(2);
                let n = batch.len() as f64;
                let (grads, a, b) = grads_of_two(
                    &model,
                    super::vq_codes::half_batch(&batch[..cut], &targets[..cut], n, cfg),
                    super::vq_codes::half_batch(&batch[cut..], &targets[cut..], n, cfg),
                )?;
                code_accuracy = a.code_accuracy + b.code_accuracy;
                let loss = a.loss + b.loss;
                check_loss(step, loss)?;
                (grads, loss, a.reconstruction + b.reconstruction, None)
            } else {
                // The batch in two halves on two threads (crate::parallel),
                // each half's loss weighted by its share of the images.
                let cut = batch.len().div_ceil(2);
                let n = batch.len() as f64;
                let (grads, a, b) = grads_of_two(
                    &model,
                    super::vq_loss::half_batch(&batch[..cut], n, cfg),
                    super::vq_loss::half_batch(&batch[cut..], n, cfg),
                )?;
                for &c in a.codes.iter().chain(&b.codes) {
                    usage[c as usize] += 1;
                }
                let loss = a.loss + b.loss;
                check_loss(step, loss)?;
                let latents = match (a.latents, b.latents) {
                    (Some(x), Some(y)) => Some(Tensor::cat(vec![x, y], 0)),
                    (x, y) => x.or(y),
                };
                (grads, loss, a.reconstruction + b.reconstruction, latents)
            };
        let lr = learning_rate(
            cfg.lr_scheduler_type,
            cfg.learning_rate,
            step,
            cfg.warmup_steps,
            cfg.max_steps,
        );
        let (m, stats) = optim.update(lr, model, grads)?;
        model = m;
        if cfg.restart_every > 0 && (step + 1) % cfg.restart_every == 0 {
            if step < restart_stop
                && let Some(latents) = latents
            {
                model.vqmodel = restart_dead_codes(model.vqmodel, &usage, latents, &mut rng);
            }
            usage.iter_mut().for_each(|u| *u = 0);
        }
        let metrics = VqMetrics {
            loss,
            reconstruction: rec,
            psnr: psnr(rec),
            usage: usage.iter().filter(|u| **u > 0).count() as f64 / k as f64,
        };
        history.push(serde_json::json!({
            "step": step + 1, "step_time_s": t_step.elapsed().as_secs_f64(), "loss": loss, "reconstruction": rec,
            "learning_rate": lr, "grad_norm": stats.grad_norm, "code_accuracy": code_accuracy,
        }));
        on_step(step, metrics);
        let policy = SavePolicy {
            max_steps: cfg.max_steps,
            save_steps: cfg.save_steps,
            save_total_limit: cfg.save_total_limit,
            seed: cfg.seed,
        };
        let dir = run.map(|r| r.output_dir.as_path());
        checkpoint::save_if_due(
            dir,
            &policy,
            step + 1,
            &history,
            serde_json::json!({ "code_usage": usage }),
            |dir| {
                if step + 1 == cfg.max_steps {
                    // The finished tokenizer is stored as it is used: encoding
                    // (transformers' nearest-code search, no normalisation)
                    // must see the unit-norm codebook that training compared
                    // latents with. Earlier checkpoints keep the raw state so
                    // that a resumed run continues bit for bit.
                    let mut done = model.clone();
                    done.vqmodel = unit_norm_codebook(done.vqmodel);
                    duet_model::checkpoint::save(&done, model_cfg, None, None, dir)?;
                } else {
                    duet_model::checkpoint::save(&model, model_cfg, None, None, dir)?;
                }
                optim.save::<Janus<B>, B>(&model, &dir.join(OPTIMIZER))
            },
        )?;
    }
    model.vqmodel = unit_norm_codebook(model.vqmodel);
    Ok(model)
}

/// Stores the codebook unit-norm, as it is used (computed off the graph:
/// only leaf tensors can become parameters).
fn unit_norm_codebook<B: AutodiffBackend>(mut vq: VqVae<B>) -> VqVae<B> {
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
#[path = "vq_tests.rs"]
mod tests;
