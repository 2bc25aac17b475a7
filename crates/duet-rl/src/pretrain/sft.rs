//! Supervised fine-tuning of the unified model on ShapeWorld: captioning and
//! multiple-choice VQA (understanding: cross-entropy on the response tokens)
//! and text-to-image (next VQ code, with a fraction of prompts replaced by
//! the unconditional prompt so classifier-free guidance has something to
//! contrast with), both in every step.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::generate::uncond_prompt;
use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
use duet_model::{GenerationIds, Janus, JanusConfig};
use image::RgbImage;
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use super::sft_data::{GenExample, SftData, UndExample, build_data};
use super::vq::RunDir;
use crate::checkpoint::{self, OPTIMIZER, SavePolicy, step_rng};
use crate::error::{Result, RlError};
use crate::optim::{AdamW, AdamWConfig, SchedulerType, learning_rate};
use crate::parallel::{Part, grads_of_two};
use crate::tasks;

/// SFT settings (TRL `SFTConfig` names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftTrainConfig {
    pub max_steps: usize,
    /// Understanding examples per micro-batch.
    pub understanding_batch_size: usize,
    /// Text-to-image examples per micro-batch.
    pub generation_batch_size: usize,
    pub gradient_accumulation_steps: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub lr_scheduler_type: SchedulerType,
    /// Fraction of understanding examples that are captions (rest:
    /// questions).
    pub caption_fraction: f64,
    /// Fraction of the questions asked open-ended (LLaVA's "single word or
    /// phrase" VQA, the answer option's text as the target) instead of as
    /// multiple choice: it teaches reading the asked-about object out of
    /// the image without MC's extra hop from the answer to its letter.
    pub short_answer_fraction: f64,
    /// Text-only MC examples per micro-batch besides the image ones: the
    /// question and options without the image, the `option_then_letter`
    /// target. With the option's text given, the letter is a copy from the
    /// prompt that needs no image, and ~45-token sequences teach it at a
    /// third of an image example's cost.
    pub mc_drill_batch_size: usize,
    /// What an MC example's target holds: `letter` (`<answer>X</answer>`)
    /// or `option_then_letter` (`red <answer>X</answer>`).
    pub mc_target: tasks::McTarget,
    /// Fraction of text-to-image examples prompted with the scene's dense
    /// caption instead of its short GenEval-style prompt (recaptioning, as
    /// Janus-Pro and DALL-E 3 train): every caption names each object's
    /// colour, shape and place, so the model sees far more combinations
    /// than the few hundred distinct short prompts hold.
    pub t2i_caption_fraction: f64,
    /// Fraction of text-to-image prompts replaced by the CFG prompt.
    pub prompt_dropout: f64,
    /// Weight of the generation loss (understanding has weight 1).
    pub generation_loss_weight: f64,
    /// Keep the understanding encoder (`vision_model`) as initialised — the
    /// contrastive encoder's image tower — and train everything else, as
    /// LLaVA's and Janus's early stages do: gradients from a randomly
    /// initialised aligner and LLM would otherwise rewrite features the
    /// encoder stage already learned.
    pub freeze_vision_tower: bool,
    pub seed: u64,
    pub save_steps: usize,
    pub save_total_limit: usize,
    #[serde(flatten)]
    pub optimizer: AdamWConfig,
}

impl Default for SftTrainConfig {
    fn default() -> Self {
        SftTrainConfig {
            max_steps: 400,
            understanding_batch_size: 16,
            generation_batch_size: 16,
            gradient_accumulation_steps: 1,
            learning_rate: 2e-3,
            warmup_steps: 20,
            lr_scheduler_type: SchedulerType::Cosine,
            caption_fraction: 0.3,
            short_answer_fraction: 0.0,
            mc_target: tasks::McTarget::Letter,
            mc_drill_batch_size: 0,
            t2i_caption_fraction: 0.0,
            prompt_dropout: 0.1,
            generation_loss_weight: 1.0,
            freeze_vision_tower: false,
            seed: 0,
            save_steps: 0,
            save_total_limit: 2,
            optimizer: AdamWConfig {
                weight_decay: 0.01,
                ..AdamWConfig::default()
            },
        }
    }
}

/// Gradients of one micro-batch's loss (scaled by `scale`) and its two
/// parts. The examples are drawn first, in a fixed order; then the
/// understanding and generation losses run on two threads
/// ([`crate::parallel`]).
fn micro_batch<B: AutodiffBackend>(
    model: &Janus<B>,
    data: &SftData,
    cfg: &SftTrainConfig,
    ids: &GenerationIds,
    rng: &mut impl Rng,
    scale: f64,
) -> Result<(GradientsParams, f64, f64)> {
    let device = model.lm_head.weight.device();
    let und: Vec<&UndExample> = (0..cfg.understanding_batch_size)
        .map(|_| {
            let pool = if rng.random_bool(cfg.caption_fraction) || data.mc.is_empty() {
                &data.captions
            } else if cfg.short_answer_fraction > 0.0 && rng.random_bool(cfg.short_answer_fraction)
            {
                &data.short
            } else {
                &data.mc
            };
            &pool[rng.random_range(0..pool.len())]
        })
        .collect();
    let drills: Vec<&UndExample> = if data.mc.is_empty() {
        Vec::new()
    } else {
        (0..cfg.mc_drill_batch_size)
            .map(|_| &data.drills[rng.random_range(0..data.drills.len())])
            .collect()
    };
    let gen_cfg = tasks::cond_image_cfg(ids);
    let batch: Vec<&GenExample> = (0..cfg.generation_batch_size)
        .map(|_| &data.t2i[rng.random_range(0..data.t2i.len())])
        .collect();
    let gen_prompts: Vec<Vec<u32>> = batch
        .iter()
        .map(|e| {
            let prompt =
                if cfg.t2i_caption_fraction > 0.0 && rng.random_bool(cfg.t2i_caption_fraction) {
                    &e.caption_prompt
                } else {
                    &e.prompt
                };
            if rng.random_bool(cfg.prompt_dropout) {
                uncond_prompt(prompt, &gen_cfg)
            } else {
                prompt.clone()
            }
        })
        .collect();
    let understanding = |model: &Janus<B>| -> Part<B, f64> {
        let prompts: Vec<Vec<u32>> = und.iter().map(|e| e.prompt.clone()).collect();
        let responses: Vec<Vec<u32>> = und.iter().map(|e| e.response.clone()).collect();
        let imgs: Vec<&RgbImage> = und.iter().map(|e| &data.images[e.image]).collect();
        let lp = text_logprobs(
            model,
            &prompts,
            &responses,
            Some(tasks::pixels(&imgs, &device)),
            ids.pad_token_id,
        )?;
        let mut loss = lp.logprobs.sum().neg() / lp.mask.sum();
        let u: f64 = loss.clone().into_scalar().elem();
        if !drills.is_empty() {
            let prompts: Vec<Vec<u32>> = drills.iter().map(|e| e.prompt.clone()).collect();
            let responses: Vec<Vec<u32>> = drills.iter().map(|e| e.response.clone()).collect();
            let lp = text_logprobs(model, &prompts, &responses, None, ids.pad_token_id)?;
            loss = loss + lp.logprobs.sum().neg() / lp.mask.sum();
        }
        Ok((Some(loss * scale), u))
    };
    let generation = |model: &Janus<B>| -> Part<B, f64> {
        let codes: Vec<Vec<u32>> = batch.iter().map(|e| e.codes.clone()).collect();
        let glp = image_logprobs(model, &gen_prompts, &codes, GenLogprobMode::Cond, &gen_cfg)?;
        let loss = glp.logprobs.mean().neg();
        let g: f64 = loss.clone().into_scalar().elem();
        Ok((Some(loss * (cfg.generation_loss_weight * scale)), g))
    };
    grads_of_two(model, understanding, generation)
}

/// Per-step SFT metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SftMetrics {
    pub understanding_loss: f64,
    pub generation_loss: f64,
    pub learning_rate: f64,
    pub grad_norm: f64,
}

/// Everything a checkpoint of the unified model carries besides weights.
pub struct ModelFiles<'a> {
    pub config: &'a JanusConfig,
    pub ids: &'a GenerationIds,
    pub tokenizer: &'a std::path::Path,
}

/// Trains `model` on `data`; `on_step(step, metrics)` after each update.
pub fn train<B: AutodiffBackend>(
    mut model: Janus<B>,
    files: &ModelFiles,
    data: &SftData,
    cfg: &SftTrainConfig,
    run: Option<&RunDir>,
    mut on_step: impl FnMut(usize, SftMetrics),
) -> Result<Janus<B>> {
    if data.captions.is_empty() || data.t2i.is_empty() {
        return Err(RlError::Data(
            "SFT needs captions and text-to-image examples".into(),
        ));
    }
    let device = model.lm_head.weight.device();
    let mut optim = AdamW::<B::InnerBackend>::new(cfg.optimizer.clone());
    let mut start = 0;
    let mut history = Vec::new();
    if let Some(run) = run.filter(|r| r.resume)
        && let Some(dir) = checkpoint::latest(&run.output_dir)?
    {
        let state = checkpoint::read_state(&dir)?;
        model = duet_model::checkpoint::load::<B>(&dir, &device)?.1;
        optim = AdamW::load(cfg.optimizer.clone(), &model, &dir.join(OPTIMIZER), &device)?;
        start = state.global_step;
        history = state.log_history;
    }
    if cfg.freeze_vision_tower {
        // No gradients, so AdamW leaves these weights (and keeps no moments).
        model.vision_model = model.vision_model.no_grad();
    }
    let accum = cfg.gradient_accumulation_steps.max(1);
    for step in start..cfg.max_steps {
        let t_step = std::time::Instant::now();
        let mut rng = step_rng(cfg.seed, step);
        let mut acc = GradientsAccumulator::<Janus<B>>::new();
        let (mut u, mut g) = (0.0, 0.0);
        for _ in 0..accum {
            let (grads, lu, lg) =
                micro_batch(&model, data, cfg, files.ids, &mut rng, 1.0 / accum as f64)?;
            if !(lu.is_finite() && lg.is_finite()) {
                return Err(RlError::NonFinite {
                    what: "loss".into(),
                    detail: format!("SFT step {step}: understanding {lu}, generation {lg}"),
                });
            }
            u += lu / accum as f64;
            g += lg / accum as f64;
            acc.accumulate(&model, grads);
        }
        let lr = learning_rate(
            cfg.lr_scheduler_type,
            cfg.learning_rate,
            step,
            cfg.warmup_steps,
            cfg.max_steps,
        );
        let (m, stats) = optim.update(lr, model, acc.grads())?;
        model = m;
        let metrics = SftMetrics {
            understanding_loss: u,
            generation_loss: g,
            learning_rate: lr,
            grad_norm: stats.grad_norm,
        };
        history.push(serde_json::json!({
            "step": step + 1, "step_time_s": t_step.elapsed().as_secs_f64(), "understanding_loss": u, "generation_loss": g,
            "learning_rate": lr, "grad_norm": stats.grad_norm,
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
            serde_json::Value::Null,
            |dir| {
                duet_model::checkpoint::save(
                    &model,
                    files.config,
                    Some(files.ids),
                    Some(files.tokenizer),
                    dir,
                )?;
                optim.save::<Janus<B>, B>(&model, &dir.join(OPTIMIZER))
            },
        )?;
    }
    Ok(model)
}
