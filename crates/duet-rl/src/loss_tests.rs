//! The RL math against hand-computed values, and a finite-difference check
//! of the loss gradient on a toy policy.
use super::*;
use crate::advantage::{Aggregation, PairWeightFn, ScaleRewards, advantages, combined_advantages};
use burn::backend::Autodiff;
use burn::tensor::activation::log_softmax;
use duet_data::pairs::PairType;
use duet_model::Cpu;

type A = Autodiff<Cpu>;

fn t2(v: &[&[f32]]) -> Tensor<Cpu, 2> {
    let rows = v.len();
    let cols = v[0].len();
    let flat: Vec<f32> = v.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows, cols]), &Default::default())
}

fn t1(v: &[f32]) -> Tensor<Cpu, 1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Default::default())
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    to_vec(t)[0] as f64
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

#[test]
fn advantages_in_every_scale_mode() {
    let r = [
        Some(1.0),
        Some(0.0),
        Some(0.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(0.5),
        None,
        Some(1.5),
    ];
    let g = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2];
    let eps = 1e-4;
    // Group 0: mean 0.5, unbiased std sqrt(1/3).
    let s0 = (1.0f64 / 3.0).sqrt() + eps;
    // Group 2: [0.5, 1.5], mean 1, std sqrt(0.5).
    let s2 = 0.5f64.sqrt() + eps;
    let a = advantages(&r, &g, ScaleRewards::Group, eps);
    let want = [
        0.5 / s0,
        -0.5 / s0,
        -0.5 / s0,
        0.5 / s0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.5 / s2,
        0.0,
        0.5 / s2,
    ];
    for (x, y) in a.values.iter().zip(want) {
        close(*x, y, 1e-12);
    }
    assert_eq!(a.zero_std, vec![false, true, false]);
    close(a.frac_zero_std(), 1.0 / 3.0, 1e-12);
    // Batch: the ten scored rewards have mean 0.8 and unbiased std
    // sqrt(Σ(r−0.8)²/9) = sqrt(2.1/9).
    let sb = (2.1f64 / 9.0).sqrt() + eps;
    let b = advantages(&r, &g, ScaleRewards::Batch, eps);
    close(b.values[0], 0.5 / sb, 1e-12);
    close(b.values[8], -0.5 / sb, 1e-12);
    close(b.values[5], 0.0, 0.0);
    // None: centred only.
    let n = advantages(&r, &g, ScaleRewards::None, eps);
    assert_eq!(
        n.values,
        vec![0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0, -0.5, 0.0, 0.5]
    );
}

#[test]
fn zero_variance_and_singleton_groups_give_zero_not_nan() {
    for scale in [ScaleRewards::Group, ScaleRewards::Batch, ScaleRewards::None] {
        let a = advantages(
            &[Some(2.0), Some(2.0), Some(7.0), None],
            &[0, 0, 1, 1],
            scale,
            0.0,
        );
        assert_eq!(a.values, vec![0.0, 0.0, 0.0, 0.0], "{scale:?}");
        assert!(a.values.iter().all(|v| v.is_finite()));
        assert_eq!(a.zero_std, vec![true, true]);
    }
}

#[test]
fn pair_weights() {
    for f in [PairWeightFn::One, PairWeightFn::Linear, PairWeightFn::Sqrt] {
        assert_eq!(f.weight(PairType::Aligned, 0.3), 1.0);
    }
    assert_eq!(PairWeightFn::One.weight(PairType::Retrieved, 0.64), 1.0);
    close(
        PairWeightFn::Linear.weight(PairType::Retrieved, 0.64),
        0.64,
        1e-12,
    );
    close(
        PairWeightFn::Sqrt.weight(PairType::Retrieved, 0.64),
        0.8,
        1e-12,
    );
    assert_eq!(PairWeightFn::Sqrt.weight(PairType::Retrieved, -0.2), 0.0);
}

#[test]
fn aggregation_modes() {
    // Two samples in one group; components: binary [1, 0] (weight 1) and
    // dense [0.2, 0.4] (weight 1).
    let comps = vec![vec![Some(1.0), Some(0.0)], vec![Some(0.2), Some(0.4)]];
    let w = [1.0, 1.0];
    // Sum then normalise: rewards [1.2, 0.4], mean 0.8, std sqrt(0.32).
    let a = combined_advantages(
        &comps,
        &w,
        &[0, 0],
        Aggregation::SumThenNormalize,
        ScaleRewards::Group,
        0.0,
    );
    close(a.values[0], 0.4 / 0.32f64.sqrt(), 1e-12);
    // Normalise then sum: each component gives ±1/√2 → sums [0, 0].
    let b = combined_advantages(
        &comps,
        &w,
        &[0, 0],
        Aggregation::NormalizeThenSum,
        ScaleRewards::Group,
        0.0,
    );
    close(b.values[0], 0.0, 1e-12);
    close(b.values[1], 0.0, 1e-12);
}

fn batch(old: Option<Tensor<Cpu, 2>>) -> PolicyBatch<Cpu> {
    PolicyBatch {
        logp: t2(&[&[-1.0, -1.0, 0.0], &[-2.0, -2.0, -2.0]]),
        old_logp: old,
        ref_logp: None,
        mask: t2(&[&[1.0, 1.0, 0.0], &[1.0, 1.0, 1.0]]),
        advantages: t1(&[1.0, -2.0]),
    }
}

#[test]
fn each_loss_type_aggregates_as_specified() {
    // Ratio 1 everywhere: per-token loss −A = [−1, −1 | 2, 2, 2].
    let norm = Normalizer {
        sequences: 2,
        tokens: 10.0, // as if the step had more micro-batches: dapo divides by it
        micro_batches: 1,
        max_completion_length: 3,
    };
    let want = [
        (LossType::Grpo, 0.5), // mean(−1, 2)
        (LossType::Bnpo, 0.8), // 4 / 5 local tokens
        (LossType::DrGrpo, 4.0 / 6.0),
        (LossType::Dapo, 0.4), // 4 / 10
    ];
    for (lt, v) in want {
        let cfg = PolicyLossConfig {
            loss_type: lt,
            ..Default::default()
        };
        let (loss, s) = policy_loss(batch(None), &cfg, &norm);
        close(scalar(loss), v, 1e-6);
        assert_eq!(s.tokens, 5.0);
        assert_eq!(s.clip_region, 0.0);
    }
}

#[test]
fn clipping_when_the_ratio_has_moved() {
    // Four one-token rows: ratios 1.5, 0.5, 0.5, 1.5 with A = +1, +1, −1, −1.
    let l15 = 1.5f32.ln();
    let l05 = 0.5f32.ln();
    let b = PolicyBatch {
        logp: t2(&[&[l15], &[l05], &[l05], &[l15]]),
        old_logp: Some(t2(&[&[0.0], &[0.0], &[0.0], &[0.0]])),
        ref_logp: None,
        mask: t2(&[&[1.0], &[1.0], &[1.0], &[1.0]]),
        advantages: t1(&[1.0, 1.0, -1.0, -1.0]),
    };
    let cfg = PolicyLossConfig {
        loss_type: LossType::Grpo,
        epsilon: 0.2,
        ..Default::default()
    };
    let norm = Normalizer {
        sequences: 4,
        tokens: 4.0,
        micro_batches: 1,
        max_completion_length: 1,
    };
    let (loss, s) = policy_loss(b, &cfg, &norm);
    // Per-row losses: −min(1.5, 1.2) = −1.2; −min(0.5, 0.8) = −0.5;
    // −min(−0.5, −0.8) = 0.8; −min(−1.5, −1.2) = 1.5.
    close(scalar(loss), (-1.2 - 0.5 + 0.8 + 1.5) / 4.0, 1e-6);
    assert_eq!((s.clip_high, s.clip_low, s.clip_region), (1.0, 1.0, 2.0));
    // Clip-higher: ε_high = 0.6 lets the first row through (1.5 < 1.6).
    let b2 = PolicyBatch {
        logp: t2(&[&[l15]]),
        old_logp: Some(t2(&[&[0.0]])),
        ref_logp: None,
        mask: t2(&[&[1.0]]),
        advantages: t1(&[1.0]),
    };
    let cfg2 = PolicyLossConfig {
        epsilon_high: Some(0.6),
        ..cfg
    };
    let (loss2, _) = policy_loss(
        b2,
        &cfg2,
        &Normalizer {
            sequences: 1,
            tokens: 1.0,
            ..norm
        },
    );
    close(scalar(loss2), -1.5, 1e-6);
}

#[test]
fn kl_estimators() {
    let lp = t2(&[&[0.5f32.ln()]]);
    let rf = t2(&[&[0.25f32.ln()]]);
    let ln2 = 2f64.ln();
    let k = |e| to_vec(kl_estimate(lp.clone(), rf.clone(), e))[0] as f64;
    close(k(KlEstimator::K1), ln2, 1e-6);
    close(k(KlEstimator::K2), 0.5 * ln2 * ln2, 1e-6);
    close(k(KlEstimator::K3), 0.5 + ln2 - 1.0, 1e-6);
}

#[test]
fn gspo_sequence_ratio() {
    let r = importance_ratio(
        t2(&[&[2f32.ln(), 0.0, 5.0]]),
        t2(&[&[0.0, 0.0, 0.0]]),
        t2(&[&[1.0, 1.0, 0.0]]),
        IsLevel::Sequence,
    );
    let v = to_vec(r);
    // exp(mean(ln 2, 0)) = √2 on every token; the masked token is ignored.
    for x in v {
        close(x as f64, 2f64.sqrt(), 1e-6);
    }
}

#[test]
fn simpo_loss_value() {
    // Chosen mean log-prob −1, rejected −2, β = 2, γ = 1: margin 1; the NLL
    // term adds w × the chosen mean NLL (1).
    for w in [0.0, 0.5] {
        let l = simpo_loss(
            t2(&[&[-0.5, -1.5]]),
            t2(&[&[1.0, 1.0]]),
            t2(&[&[-2.0, 9.0]]),
            t2(&[&[1.0, 0.0]]),
            2.0,
            1.0,
            w,
        );
        close(scalar(l), (1.0 + (-1f64).exp()).ln() + w, 1e-6);
    }
}

/// Log-probs of fixed tokens under logits `θ` `[rows, T, V]`.
fn toy_logp<B: Backend>(
    theta: Tensor<B, 3>,
    tokens: &[i64],
    rows: usize,
    t: usize,
) -> Tensor<B, 2> {
    let dev = theta.device();
    let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(tokens.to_vec(), [rows, t, 1]), &dev);
    log_softmax(theta, 2).gather(2, idx).reshape([rows, t])
}

#[test]
fn gradient_matches_finite_differences() {
    let (rows, t, v) = (3usize, 4usize, 5usize);
    let dev = Default::default();
    let theta0: Vec<f32> = (0..rows * t * v)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 6.0)
        .collect();
    let tokens: Vec<i64> = (0..rows * t).map(|i| (i * 3 % v) as i64).collect();
    let cur = Tensor::<Cpu, 3>::from_data(TensorData::new(theta0.clone(), [rows, t, v]), &dev);
    let base = toy_logp(cur, &tokens, rows, t);
    // Old log-probs offset so ratios sit inside and outside the clip range,
    // away from its edges; a reference for the k3 term.
    let offs: Vec<f32> = (0..rows * t)
        .map(|i| [0.05, -0.4, 0.0, 0.4, -0.05][i % 5])
        .collect();
    let old = base.clone() + Tensor::from_data(TensorData::new(offs, [rows, t]), &dev);
    let reference = base.clone() * 1.1 - 0.05;
    let mask = t2(&[
        &[1.0, 1.0, 1.0, 0.0],
        &[1.0, 1.0, 1.0, 1.0],
        &[1.0, 1.0, 0.0, 0.0],
    ]);
    let adv = t1(&[1.3, -0.7, 0.4]);
    let cfg = PolicyLossConfig {
        loss_type: LossType::Grpo,
        beta: 0.1,
        kl_estimator: KlEstimator::K3,
        ..Default::default()
    };
    let norm = Normalizer::single(&mask, t);
    let loss_at = |theta: Vec<f32>| -> f64 {
        let th = Tensor::<Cpu, 3>::from_data(TensorData::new(theta, [rows, t, v]), &dev);
        let b = PolicyBatch {
            logp: toy_logp(th, &tokens, rows, t),
            old_logp: Some(old.clone()),
            ref_logp: Some(reference.clone()),
            mask: mask.clone(),
            advantages: adv.clone(),
        };
        scalar(policy_loss(b, &cfg, &norm).0)
    };
    // Analytic gradient through autodiff.
    let th = Tensor::<A, 3>::from_data(TensorData::new(theta0.clone(), [rows, t, v]), &dev)
        .require_grad();
    let b = PolicyBatch::<A> {
        logp: toy_logp(th.clone(), &tokens, rows, t),
        old_logp: Some(Tensor::from_inner(old.clone())),
        ref_logp: Some(Tensor::from_inner(reference.clone())),
        mask: Tensor::from_inner(mask.clone()),
        advantages: Tensor::from_inner(adv.clone()),
    };
    let (loss, stats) = policy_loss(b, &cfg, &norm);
    assert!(stats.clip_region > 0.0, "some tokens must be clipped");
    let grads = loss.backward();
    let g = to_vec(th.grad(&grads).unwrap());
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    for i in 0..theta0.len() {
        let mut p = theta0.clone();
        p[i] += h;
        let mut m = theta0.clone();
        m[i] -= h;
        let fd = (loss_at(p) - loss_at(m)) / (2.0 * h as f64);
        worst = worst.max((fd - g[i] as f64).abs());
    }
    assert!(worst < 2e-3, "max |finite difference − autodiff| = {worst}");
    assert!(
        g.iter().any(|x| x.abs() > 1e-2),
        "the gradient is not trivially zero"
    );
}
