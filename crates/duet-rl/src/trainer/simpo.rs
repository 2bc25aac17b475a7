//! Online SimPO on self-rewarded rollouts (SUDER's option A): per group,
//! the best- and worst-rewarded rollouts (ties skipped) as chosen and
//! rejected, `−log σ(β·mean log π(y_w) − β·mean log π(y_l) − γ)`.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::Janus;

use super::batch::{Experience, StepCtx};
use super::config::Algorithm;
use super::update::{Task, UpdateReport, host_rows, logprobs, nonfinite};
use crate::error::Result;
use crate::loss::{LossStats, simpo_loss};

/// Online SimPO: per group, the best- and worst-rewarded rollouts (skipped
/// when they tie) as chosen and rejected.
pub fn simpo<B: AutodiffBackend>(
    model: Janus<B>,
    ctx: &StepCtx<B::InnerBackend>,
    exp: &Experience,
    step: usize,
    mut apply: impl FnMut(Janus<B>, GradientsParams) -> Result<(Janus<B>, f64)>,
) -> Result<(Janus<B>, UpdateReport)> {
    let cfg = ctx.cfg;
    debug_assert_eq!(cfg.algorithm, Algorithm::Simpo);
    let weights = ctx.weights;
    let reward_of = |row: usize| -> Option<f64> {
        let mut any = false;
        let mut s = 0.0;
        for (c, w) in exp.components.iter().zip(weights) {
            if let Some(v) = c[row] {
                any = true;
                s += w * v;
            }
        }
        any.then_some(s)
    };
    let und_rows = exp.und.len();
    // (task, chosen row, rejected row) per informative group.
    let mut pairs: Vec<(Task, usize, usize)> = Vec::new();
    let row_groups = exp.row_groups();
    for g in 0..exp.groups.len() {
        let rows: Vec<usize> = (0..row_groups.len())
            .filter(|&r| row_groups[r] == g)
            .collect();
        let scored: Vec<(usize, f64)> = rows
            .iter()
            .filter_map(|&r| reward_of(r).map(|v| (r, v)))
            .collect();
        let best = scored.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        let worst = scored.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(b), Some(w)) = (best, worst)
            && b.1 > w.1
        {
            let task = if b.0 < und_rows { Task::Und } else { Task::Gen };
            let off = if b.0 < und_rows { 0 } else { und_rows };
            pairs.push((task, b.0 - off, w.0 - off));
        }
    }
    if pairs.is_empty() {
        return Ok((model, UpdateReport::default()));
    }
    let mut acc = GradientsAccumulator::<Janus<B>>::new();
    let mut total = 0.0;
    let mut stats = LossStats::default();
    let per_task = |t: Task| {
        pairs
            .iter()
            .filter(|p| matches!((p.0, t), (Task::Und, Task::Und) | (Task::Gen, Task::Gen)))
            .count()
    };
    for task in [Task::Und, Task::Gen] {
        let mine: Vec<&(Task, usize, usize)> = pairs
            .iter()
            .filter(|p| matches!((p.0, task), (Task::Und, Task::Und) | (Task::Gen, Task::Gen)))
            .collect();
        let n = per_task(task);
        if n == 0 {
            continue;
        }
        let weight = match task {
            Task::Und => cfg.understanding_loss_weight,
            Task::Gen => cfg.generation_loss_weight,
        };
        for chunk in mine.chunks((cfg.micro_batch_size / 2).max(1)) {
            let rows: Vec<usize> = chunk
                .iter()
                .map(|p| p.1)
                .chain(chunk.iter().map(|p| p.2))
                .collect();
            let lp = logprobs(&model, ctx, exp, task, &rows)?;
            let [b, t] = lp.logprobs.dims();
            let k = chunk.len();
            let (c_lp, r_lp) = (
                lp.logprobs.clone().slice([0..k, 0..t]),
                lp.logprobs.slice([k..b, 0..t]),
            );
            let (c_m, r_m) = (
                lp.mask.clone().slice([0..k, 0..t]),
                lp.mask.slice([k..b, 0..t]),
            );
            let lpv = host_rows(c_lp.clone().detach());
            let mv = host_rows(c_m.clone());
            for (x, m) in lpv.iter().zip(&mv) {
                stats.tokens += *m as f64;
                stats.neg_logp -= (*x * *m) as f64;
            }
            if !stats.neg_logp.is_finite() {
                return Err(nonfinite(
                    "log-prob",
                    format!("step {step}: a rollout's log-probability is not finite"),
                ));
            }
            let loss = simpo_loss(
                c_lp,
                c_m,
                r_lp,
                r_m,
                cfg.simpo_beta,
                cfg.simpo_gamma,
                cfg.simpo_nll_weight,
            ) * (k as f64 / n as f64)
                * weight;
            let v: f64 = loss.clone().into_scalar().elem();
            if !v.is_finite() {
                return Err(nonfinite("loss", format!("step {step}: {v}")));
            }
            total += v;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            acc.accumulate(&model, grads);
        }
    }
    let (model, norm) = apply(model, acc.grads())?;
    Ok((
        model,
        UpdateReport {
            loss: total,
            stats,
            grad_norm: norm,
            ..Default::default()
        },
    ))
}
