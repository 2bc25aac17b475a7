//! Policy losses on per-token log-probs: the clipped surrogate of GRPO with
//! TRL's `loss_type` aggregations, token- or sequence-level (GSPO)
//! importance ratios, asymmetric clipping, the k1/k2/k3 KL estimators, and
//! SimPO for preference-style optimisation of self-rewards.
//!
//! Shapes: log-probs and masks are `[rows, tokens]` (mask 1 on real tokens),
//! advantages `[rows]`. Losses are minimised.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

use crate::tensors::to_vec;

/// How per-token losses are reduced (TRL `loss_type`; methods.md §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// Mean over sequences of each sequence's token mean (DeepSeekMath).
    Grpo,
    /// Token mean over each micro-batch (T2I-R1's Janus trainer).
    Bnpo,
    /// Token sum over (sequences × max completion length) (Dr. GRPO).
    DrGrpo,
    /// Token mean over every active token of the step (DAPO; TRL default).
    #[default]
    Dapo,
}

/// Where the importance ratio lives (TRL `importance_sampling_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IsLevel {
    #[default]
    Token,
    /// GSPO: `exp(mean_t log ρ_t)` per sequence.
    Sequence,
}

/// Per-token estimators of KL(π_θ ‖ π_ref) (Schulman).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `log π − log π_ref`.
    K1,
    /// `½ (log π_ref − log π)²`.
    K2,
    /// `exp(log π_ref − log π) − (log π_ref − log π) − 1` (TRL's).
    #[default]
    K3,
}

/// Clipped-surrogate settings (TRL names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PolicyLossConfig {
    pub loss_type: LossType,
    pub importance_sampling_level: IsLevel,
    /// Lower clip: ratios below `1 − epsilon` stop pushing down.
    pub epsilon: f64,
    /// Upper clip `1 + epsilon_high` (DAPO's clip-higher); `epsilon` if unset.
    pub epsilon_high: Option<f64>,
    /// Two-sided clip: ratios capped at `delta` (INTELLECT-2); off if unset.
    pub delta: Option<f64>,
    /// KL coefficient; 0 means no reference model is needed.
    pub beta: f64,
    pub kl_estimator: KlEstimator,
}

impl Default for PolicyLossConfig {
    fn default() -> Self {
        PolicyLossConfig {
            loss_type: LossType::Dapo,
            importance_sampling_level: IsLevel::Token,
            epsilon: 0.2,
            epsilon_high: None,
            delta: None,
            beta: 0.0,
            kl_estimator: KlEstimator::K3,
        }
    }
}

/// What a micro-batch's loss is normalised by: the totals of its task's
/// rows in the whole optimiser step (so micro-batches add up to the step's
/// loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalizer {
    /// Sequences of this task in the step.
    pub sequences: usize,
    /// Active (masked-in) tokens of this task in the step.
    pub tokens: f64,
    /// Micro-batches of this task in the step (for `bnpo`).
    pub micro_batches: usize,
    /// The longest completion allowed (for `dr_grpo`): max new text tokens,
    /// or the image token count.
    pub max_completion_length: usize,
}

impl Normalizer {
    /// The normaliser of a step made of a single micro-batch.
    pub fn single<B: Backend>(mask: &Tensor<B, 2>, max_completion_length: usize) -> Self {
        let [rows, _] = mask.dims();
        Normalizer {
            sequences: rows,
            tokens: to_vec(mask.clone()).iter().map(|&x| x as f64).sum(),
            micro_batches: 1,
            max_completion_length,
        }
    }
}

/// Inputs of the clipped surrogate for one micro-batch.
pub struct PolicyBatch<B: Backend> {
    /// Current log-probs (with gradient).
    pub logp: Tensor<B, 2>,
    /// Log-probs at rollout time; `None` = `logp` detached (one update per
    /// rollout batch, where the ratio is 1 and only its gradient matters).
    pub old_logp: Option<Tensor<B, 2>>,
    /// Reference-model log-probs (needed when `beta > 0`).
    pub ref_logp: Option<Tensor<B, 2>>,
    pub mask: Tensor<B, 2>,
    pub advantages: Tensor<B, 1>,
}

/// Host-side numbers about one micro-batch, for the metrics log.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossStats {
    /// Active tokens.
    pub tokens: f64,
    /// Token-weighted sums (divide by `tokens`): ratio below `1 − ε` with a
    /// negative advantage, above `1 + ε_high` with a positive one, either.
    pub clip_low: f64,
    pub clip_high: f64,
    pub clip_region: f64,
    /// Token-weighted sum of the KL estimate (0 when `beta = 0`).
    pub kl: f64,
    /// Token-weighted sum of `−log π` of the sampled tokens: an unbiased
    /// estimate of the policy's entropy on-policy.
    pub neg_logp: f64,
}

impl LossStats {
    pub fn add(&mut self, o: &LossStats) {
        self.tokens += o.tokens;
        self.clip_low += o.clip_low;
        self.clip_high += o.clip_high;
        self.clip_region += o.clip_region;
        self.kl += o.kl;
        self.neg_logp += o.neg_logp;
    }
}

/// The per-token KL estimate from `logp` (policy) and `ref_logp`.
pub fn kl_estimate<B: Backend>(
    logp: Tensor<B, 2>,
    ref_logp: Tensor<B, 2>,
    estimator: KlEstimator,
) -> Tensor<B, 2> {
    let log_r = ref_logp - logp; // log(π_ref / π)
    match estimator {
        KlEstimator::K1 => log_r.neg(),
        KlEstimator::K2 => log_r.powf_scalar(2.0) * 0.5,
        KlEstimator::K3 => log_r.clone().exp() - log_r - 1.0,
    }
}

/// The importance ratio per token `[rows, tokens]`: token-level, or GSPO's
/// sequence-level ratio broadcast over the sequence's tokens.
pub fn importance_ratio<B: Backend>(
    logp: Tensor<B, 2>,
    old_logp: Tensor<B, 2>,
    mask: Tensor<B, 2>,
    level: IsLevel,
) -> Tensor<B, 2> {
    let log_ratio = (logp - old_logp) * mask.clone();
    match level {
        IsLevel::Token => log_ratio.exp(),
        IsLevel::Sequence => {
            let [_, t] = log_ratio.dims();
            let len = mask.sum_dim(1).clamp_min(1.0);
            (log_ratio.sum_dim(1) / len).exp().repeat_dim(1, t)
        }
    }
}

/// The clipped-surrogate loss of one micro-batch (plus `beta`·KL), reduced
/// per `cfg.loss_type` against `norm`.
pub fn policy_loss<B: Backend>(
    batch: PolicyBatch<B>,
    cfg: &PolicyLossConfig,
    norm: &Normalizer,
) -> (Tensor<B, 1>, LossStats) {
    let PolicyBatch {
        logp,
        old_logp,
        ref_logp,
        mask,
        advantages,
    } = batch;
    let [rows, t] = logp.dims();
    let old = old_logp.unwrap_or_else(|| logp.clone().detach());
    let ratio = importance_ratio(
        logp.clone(),
        old,
        mask.clone(),
        cfg.importance_sampling_level,
    );
    let adv = advantages.reshape([rows, 1]).repeat_dim(1, t);
    let lo = 1.0 - cfg.epsilon;
    let hi = 1.0 + cfg.epsilon_high.unwrap_or(cfg.epsilon);
    let coef1 = match cfg.delta {
        Some(d) => ratio.clone().clamp_max(d),
        None => ratio.clone(),
    };
    let coef2 = ratio.clone().clamp(lo, hi);
    let surrogate = (coef1 * adv.clone()).min_pair(coef2 * adv.clone());
    let mut per_token = surrogate.neg();
    let mut kl_sum = 0.0;
    if cfg.beta != 0.0
        && let Some(r) = ref_logp
    {
        let kl = kl_estimate(logp.clone(), r, cfg.kl_estimator);
        kl_sum = masked_sum(kl.clone().detach(), &mask);
        per_token = per_token + kl * cfg.beta;
    }
    let weighted = per_token * mask.clone();
    let loss = match cfg.loss_type {
        LossType::Grpo => {
            let len = mask.clone().sum_dim(1).clamp_min(1.0);
            (weighted.sum_dim(1) / len).sum() / norm.sequences.max(1) as f64
        }
        LossType::Bnpo => {
            let local = mask.clone().sum().clamp_min(1.0);
            weighted.sum() / local / norm.micro_batches.max(1) as f64
        }
        LossType::DrGrpo => {
            weighted.sum() / (norm.sequences.max(1) * norm.max_completion_length.max(1)) as f64
        }
        LossType::Dapo => weighted.sum() / norm.tokens.max(1.0),
    };
    // Host statistics (no gradient).
    let r = to_vec(ratio.detach());
    let a = to_vec(adv.detach());
    let m = to_vec(mask.clone());
    let lp = to_vec(logp.detach());
    let mut s = LossStats {
        kl: kl_sum,
        ..Default::default()
    };
    for i in 0..m.len() {
        if m[i] == 0.0 {
            continue;
        }
        let w = m[i] as f64;
        let low = (r[i] as f64) < lo && a[i] < 0.0;
        let high = (r[i] as f64) > hi && a[i] > 0.0;
        s.tokens += w;
        s.clip_low += w * low as u8 as f64;
        s.clip_high += w * high as u8 as f64;
        s.clip_region += w * (low || high) as u8 as f64;
        s.neg_logp -= w * lp[i] as f64;
    }
    (loss, s)
}

fn masked_sum<B: Backend>(x: Tensor<B, 2>, mask: &Tensor<B, 2>) -> f64 {
    to_vec(x * mask.clone()).iter().map(|&v| v as f64).sum()
}

/// SimPO (Meng et al. 2024) on chosen/rejected pairs, one per row:
/// `−log σ(β·mean log π(y_w) − β·mean log π(y_l) − γ)`, averaged over rows,
/// plus `nll_weight` × the chosen samples' mean negative log-likelihood
/// (CPO's behaviour-cloning term): SimPO has no reference model, and
/// pushing rejected samples down alone can drag the chosen ones with them.
pub fn simpo_loss<B: Backend>(
    chosen_logp: Tensor<B, 2>,
    chosen_mask: Tensor<B, 2>,
    rejected_logp: Tensor<B, 2>,
    rejected_mask: Tensor<B, 2>,
    beta: f64,
    gamma: f64,
    nll_weight: f64,
) -> Tensor<B, 1> {
    let avg = |lp: Tensor<B, 2>, m: Tensor<B, 2>| {
        let len = m.clone().sum_dim(1).clamp_min(1.0);
        (lp * m).sum_dim(1) / len
    };
    let chosen = avg(chosen_logp, chosen_mask);
    let margin = (chosen.clone() - avg(rejected_logp, rejected_mask)) * beta - gamma;
    let loss = log_sigmoid(margin).neg().mean();
    if nll_weight == 0.0 {
        loss
    } else {
        loss - chosen.mean() * nll_weight
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
