//! The gradient side of a step: per-token log-probs of the rollouts under
//! the live policy (with autodiff), the GRPO-family loss or SimPO, and
//! gradient accumulation over micro-batches of each task.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::Janus;
use duet_model::logprobs::{TokenLogprobs, image_logprobs, text_logprobs_from_features};

use super::batch::{Experience, StepCtx};
use super::config::RlConfig;
use super::rollout::image_cfg;
use crate::error::{Result, RlError};
use crate::loss::{LossStats, Normalizer, PolicyBatch, policy_loss};
use crate::parallel::{GradPart, in_pool, join_grads};
use crate::tensors::to_vec;

/// Which rows of a task a micro-batch holds.
#[derive(Clone, Copy)]
pub(super) enum Task {
    Und,
    Gen,
}

/// Log-probs of rows `rows` of `task` under `model`.
pub(super) fn logprobs<B: Backend>(
    model: &Janus<B>,
    ctx: &StepCtx<impl Backend>,
    exp: &Experience,
    task: Task,
    rows: &[usize],
) -> Result<TokenLogprobs<B>> {
    match task {
        Task::Und => {
            let prompts: Vec<Vec<u32>> =
                rows.iter().map(|&r| exp.und[r].0.prompt.clone()).collect();
            let responses: Vec<Vec<u32>> = rows
                .iter()
                .map(|&r| exp.und[r].0.response.clone())
                .collect();
            let imgs: Vec<usize> = rows
                .iter()
                .map(|&r| ctx.data.und[exp.und[r].0.item].image)
                .collect();
            Ok(text_logprobs_from_features(
                model,
                &prompts,
                &responses,
                Some(super::rollout::features(model, ctx.data, &imgs)),
                ctx.ids.pad_token_id,
            )?)
        }
        Task::Gen => {
            let prompts: Vec<Vec<u32>> = rows
                .iter()
                .map(|&r| exp.generation[r].0.prompt.clone())
                .collect();
            let codes: Vec<Vec<u32>> = rows
                .iter()
                .map(|&r| exp.generation[r].0.codes.clone())
                .collect();
            let cfg = image_cfg(codes[0].len(), ctx.ids, ctx.cfg, 0);
            Ok(image_logprobs(
                model,
                &prompts,
                &codes,
                ctx.cfg.gen_logprob_mode,
                &cfg,
            )?)
        }
    }
}

pub(super) fn host_rows<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    to_vec(t)
}

fn tensor_like<B: Backend>(v: &[f32], shape: [usize; 2], device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

/// What one task's micro-batches add up to in one iteration: loss, loss
/// statistics, |log π − log π_old| (sum, count) and the sampler gap (sum,
/// count, max).
#[derive(Default)]
struct TaskOut {
    total: f64,
    stats: LossStats,
    drift: (f64, f64),
    gap: (f64, f64, f64),
}

/// Numbers an update reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateReport {
    pub loss: f64,
    pub stats: LossStats,
    pub grad_norm: f64,
    /// Mean |log π_θ − log π_old| over tokens in the last iteration (0 with
    /// one iteration).
    pub ratio_drift: f64,
    /// |trainer log-prob − sampler log-prob| per token at rollout-time
    /// weights: mean and max (TRL's `sampling/sampling_logp_difference`).
    pub sampler_gap_mean: f64,
    pub sampler_gap_max: f64,
}

/// The sampler's log-probs of rows `rows` of `task`.
fn sampler_logp(exp: &Experience, task: Task, r: usize) -> &[f32] {
    match task {
        Task::Und => &exp.und[r].0.sampler_logp,
        Task::Gen => &exp.generation[r].0.sampler_logp,
    }
}

/// Task, micro-batches of row indices, and the task's normaliser.
fn plan(
    exp: &Experience,
    cfg: &RlConfig,
    n_img: usize,
) -> Vec<(Task, Vec<Vec<usize>>, Normalizer, f64)> {
    let mut out = Vec::new();
    let mb = cfg.micro_batch_size;
    let und_tokens: f64 = exp.und.iter().map(|r| r.0.response.len() as f64).sum();
    if !exp.und.is_empty() {
        let chunks: Vec<Vec<usize>> = (0..exp.und.len())
            .collect::<Vec<_>>()
            .chunks(mb)
            .map(<[usize]>::to_vec)
            .collect();
        let norm = Normalizer {
            sequences: exp.und.len(),
            tokens: und_tokens,
            micro_batches: chunks.len(),
            max_completion_length: cfg.max_completion_length,
        };
        out.push((Task::Und, chunks, norm, cfg.understanding_loss_weight));
    }
    if !exp.generation.is_empty() {
        let chunks: Vec<Vec<usize>> = (0..exp.generation.len())
            .collect::<Vec<_>>()
            .chunks(mb)
            .map(<[usize]>::to_vec)
            .collect();
        let norm = Normalizer {
            sequences: exp.generation.len(),
            tokens: (exp.generation.len() * n_img) as f64,
            micro_batches: chunks.len(),
            max_completion_length: n_img,
        };
        out.push((Task::Gen, chunks, norm, cfg.generation_loss_weight));
    }
    out
}

pub(super) fn nonfinite(what: &str, detail: String) -> RlError {
    RlError::NonFinite {
        what: what.into(),
        detail,
    }
}

/// Each micro-batch's log-probs on the host, with their `[rows, tokens]` shape.
type HostChunks = Vec<(Vec<f32>, [usize; 2])>;

/// GRPO-family update(s): `num_iterations` optimiser steps on one batch of
/// experience. `apply(grads)` performs one optimiser step and returns the
/// updated model and the gradient norm.
pub fn grpo<B: AutodiffBackend>(
    mut model: Janus<B>,
    ctx: &StepCtx<B::InnerBackend>,
    exp: &Experience,
    step: usize,
    mut apply: impl FnMut(Janus<B>, GradientsParams) -> Result<(Janus<B>, f64)>,
) -> Result<(Janus<B>, UpdateReport)> {
    let cfg = ctx.cfg;
    let n_img = exp.generation.first().map_or(0, |r| r.0.codes.len());
    let plan = plan(exp, cfg, n_img);
    let und_rows = exp.und.len();
    let adv_of = |task: Task, r: usize| -> f32 {
        match task {
            Task::Und => exp.advantages.values[r] as f32,
            Task::Gen => exp.advantages.values[und_rows + r] as f32,
        }
    };
    // Rollout-time log-probs, when the policy will move before they are
    // used, and the reference's, when there is a KL term: each task's on its
    // own thread, as the update's (no-grad forwards; burn-flex runs an op on
    // the calling thread).
    let store_old = cfg.num_iterations > 1;
    let frozen = if cfg.beta != 0.0 {
        Some(
            ctx.frozen
                .ok_or_else(|| nonfinite("setup", "beta > 0 without a reference model".into()))?,
        )
    } else {
        None
    };
    let fixed_logprobs = |t: usize| -> Result<(HostChunks, HostChunks)> {
        let (task, chunks, _, _) = &plan[t];
        let (mut o, mut r) = (Vec::new(), Vec::new());
        for rows in chunks {
            if store_old {
                let lp = logprobs(ctx.policy, ctx, exp, *task, rows)?;
                o.push((host_rows(lp.logprobs.clone()), lp.logprobs.dims()));
            }
            if let Some(frozen) = frozen {
                let lp = logprobs(frozen, ctx, exp, *task, rows)?;
                r.push((host_rows(lp.logprobs.clone()), lp.logprobs.dims()));
            }
        }
        Ok((o, r))
    };
    let fixed: Vec<(HostChunks, HostChunks)> = if !store_old && frozen.is_none() {
        Vec::new()
    } else if plan.len() == 2 {
        let (a, b) = in_pool("log-prob", || fixed_logprobs(0), || fixed_logprobs(1));
        vec![a?, b?]
    } else {
        (0..plan.len()).map(fixed_logprobs).collect::<Result<_>>()?
    };
    let (old, reference): (Vec<HostChunks>, Vec<HostChunks>) = fixed.into_iter().unzip();
    let loss_cfg = cfg.policy_loss();
    let device = model.lm_head.weight.device();
    let mut report = UpdateReport::default();
    let (mut gap_sum, mut gap_n, mut gap_max) = (0.0f64, 0.0f64, 0.0f64);
    for iteration in 0..cfg.num_iterations {
        // Each task's micro-batches on their own thread (crate::parallel);
        // a lone task's micro-batches split between the two threads.
        let task_part = |t: usize, range: std::ops::Range<usize>| {
            let (task, chunks, norm, weight) = &plan[t];
            let (old, reference, device) = (&old, &reference, &device);
            move |model: &Janus<B>| -> GradPart<TaskOut> {
                let mut acc = GradientsAccumulator::<Janus<B>>::new();
                let mut out = TaskOut::default();
                for (c, rows) in chunks.iter().enumerate().take(range.end).skip(range.start) {
                    let lp = logprobs(model, ctx, exp, *task, rows)?;
                    let shape = lp.logprobs.dims();
                    if iteration == 0 {
                        let cur = host_rows(lp.logprobs.clone().detach());
                        for (k, &r) in rows.iter().enumerate() {
                            for (j, &s) in sampler_logp(exp, *task, r).iter().enumerate() {
                                let d = (cur[k * shape[1] + j] - s).abs() as f64;
                                out.gap.0 += d;
                                out.gap.1 += 1.0;
                                out.gap.2 = out.gap.2.max(d);
                            }
                        }
                    }
                    let adv: Vec<f32> = rows.iter().map(|&r| adv_of(*task, r)).collect();
                    let old_t = old
                        .get(t)
                        .and_then(|o| o.get(c))
                        .map(|(v, s)| tensor_like::<B>(v, *s, device));
                    if let Some(o) = &old_t {
                        let cur = host_rows(lp.logprobs.clone().detach());
                        let ov = host_rows(o.clone());
                        let m = host_rows(lp.mask.clone());
                        for i in 0..cur.len() {
                            if m[i] > 0.0 {
                                out.drift.0 += (cur[i] - ov[i]).abs() as f64;
                                out.drift.1 += 1.0;
                            }
                        }
                    }
                    let ref_t = reference
                        .get(t)
                        .and_then(|o| o.get(c))
                        .map(|(v, s)| tensor_like::<B>(v, *s, device));
                    let batch = PolicyBatch {
                        logp: lp.logprobs,
                        old_logp: old_t,
                        ref_logp: ref_t,
                        mask: lp.mask,
                        advantages: Tensor::from_data(TensorData::new(adv, [shape[0]]), device),
                    };
                    let (loss, s) = policy_loss(batch, &loss_cfg, norm);
                    if !s.neg_logp.is_finite() {
                        return Err(nonfinite(
                            "log-prob",
                            format!(
                                "step {step}: a rollout's log-probability is {}",
                                -s.neg_logp
                            ),
                        ));
                    }
                    let v: f64 = loss.clone().into_scalar().elem::<f64>() * weight;
                    if !v.is_finite() {
                        return Err(nonfinite("loss", format!("step {step}: {v}")));
                    }
                    out.total += v;
                    out.stats.add(&s);
                    let grads = GradientsParams::from_grads((loss * *weight).backward(), model);
                    acc.accumulate(model, grads);
                }
                Ok((Some(acc.grads()), out))
            }
        };
        let none = |_: &Janus<B>| -> GradPart<TaskOut> { Ok((None, TaskOut::default())) };
        let all = |t: usize| 0..plan[t].1.len();
        let (grads, a, b) = match plan.len() {
            0 => join_grads(&model, none, none)?,
            1 if plan[0].1.len() > 1 => {
                let cut = plan[0].1.len().div_ceil(2);
                join_grads(
                    &model,
                    task_part(0, 0..cut),
                    task_part(0, cut..plan[0].1.len()),
                )?
            }
            1 => join_grads(&model, task_part(0, all(0)), none)?,
            _ => join_grads(&model, task_part(0, all(0)), task_part(1, all(1)))?,
        };
        let mut stats = LossStats::default();
        stats.add(&a.stats);
        stats.add(&b.stats);
        let total = a.total + b.total;
        let drift = (a.drift.0 + b.drift.0, a.drift.1 + b.drift.1);
        if iteration == 0 {
            gap_sum += a.gap.0 + b.gap.0;
            gap_n += a.gap.1 + b.gap.1;
            gap_max = gap_max.max(a.gap.2).max(b.gap.2);
        }
        let (m, norm) = apply(model, grads)?;
        model = m;
        report = UpdateReport {
            loss: total,
            stats,
            grad_norm: norm,
            ratio_drift: if drift.1 > 0.0 {
                drift.0 / drift.1
            } else {
                0.0
            },
            sampler_gap_mean: if gap_n > 0.0 { gap_sum / gap_n } else { 0.0 },
            sampler_gap_max: gap_max,
        };
    }
    Ok((model, report))
}
