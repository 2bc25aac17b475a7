//! Tests of the optimizer against hand-computed values.
use super::*;
use burn::backend::Autodiff;
use burn::nn::{Linear, LinearConfig};
use duet_model::Cpu;

type B = Autodiff<Cpu>;

fn weights(l: &Linear<B>) -> Vec<f32> {
    tensors::to_vec(l.weight.val().inner())
}

/// One parameter w = [1, -2] (as a 2×1 linear without bias), loss = Σ x·w
/// with x = [3, 4]: gradient = x.
fn step_once(cfg: AdamWConfig, lr: f64, steps: usize) -> (Vec<f32>, f64) {
    let dev = Default::default();
    let mut l: Linear<B> = LinearConfig::new(2, 1).with_bias(false).init(&dev);
    l.weight = Param::from_tensor(Tensor::from_floats([[1.0], [-2.0]], &dev));
    let mut opt = AdamW::<Cpu>::new(cfg);
    let mut norm = 0.0;
    for _ in 0..steps {
        let x = Tensor::<B, 2>::from_floats([[3.0, 4.0]], &dev);
        let loss = l.forward(x).sum();
        let g = GradientsParams::from_grads(loss.backward(), &l);
        let (m, s) = opt.update(lr, l, g).unwrap();
        l = m;
        norm = s.grad_norm;
    }
    (weights(&l), norm)
}

#[test]
fn first_adamw_step_moves_each_weight_by_lr_and_decays() {
    // Bias-corrected m/√v = sign(g) on step 1: w − lr·(1 + wd·w) per weight.
    let cfg = AdamWConfig {
        weight_decay: 0.1,
        max_grad_norm: None,
        ..Default::default()
    };
    let (w, norm) = step_once(cfg, 0.01, 1);
    assert!((norm - 5.0).abs() < 1e-6, "‖(3, 4)‖ = 5, got {norm}");
    let expect = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) - 0.01];
    for (a, b) in w.iter().zip(expect) {
        assert!((*a as f64 - b).abs() < 1e-6, "{w:?} vs {expect:?}");
    }
}

#[test]
fn clipping_scales_the_gradient_not_the_adam_direction_and_reports_the_raw_norm() {
    // With clipping the moments see g·(1/5): after two steps with the
    // same gradient, m̂/√v̂ is still 1, so the weights match the unclipped run
    // to within epsilon's effect, while the reported norm stays 5.
    let clipped = AdamWConfig {
        max_grad_norm: Some(1.0),
        adam_epsilon: 1e-12,
        ..Default::default()
    };
    let free = AdamWConfig {
        max_grad_norm: None,
        adam_epsilon: 1e-12,
        ..Default::default()
    };
    let (a, na) = step_once(clipped, 0.01, 2);
    let (b, nb) = step_once(free, 0.01, 2);
    assert!((na - 5.0).abs() < 1e-6 && (nb - 5.0).abs() < 1e-6);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn a_non_finite_gradient_is_refused() {
    let dev = Default::default();
    let l: Linear<B> = LinearConfig::new(2, 1).with_bias(false).init(&dev);
    let x = Tensor::<B, 2>::from_floats([[f32::NAN, 1.0]], &dev);
    let g = GradientsParams::from_grads(l.forward(x).sum().backward(), &l);
    let mut opt = AdamW::<Cpu>::new(AdamWConfig::default());
    let err = opt.update(0.01, l, g).unwrap_err();
    assert!(err.to_string().contains("non-finite gradient"), "{err}");
    assert_eq!(opt.step, 0, "a refused update does not count");
}

#[test]
fn state_round_trips_through_safetensors_by_parameter_path() {
    let dev = Default::default();
    let mut l: Linear<B> = LinearConfig::new(2, 3).init(&dev);
    let mut opt = AdamW::<Cpu>::new(AdamWConfig::default());
    let x = Tensor::<B, 2>::from_floats([[1.0, 2.0]], &dev);
    let g = GradientsParams::from_grads(l.forward(x).sum().backward(), &l);
    l = opt.update(0.01, l, g).unwrap().0;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    opt.save::<Linear<B>, B>(&l, &path).unwrap();
    let (t, meta) = tensors::read_safetensors(&path).unwrap();
    assert_eq!(meta["step"], "1");
    let mut keys: Vec<_> = t.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bias.exp_avg",
            "bias.exp_avg_sq",
            "weight.exp_avg",
            "weight.exp_avg_sq"
        ]
    );
    let back = AdamW::<Cpu>::load::<Linear<B>, B>(AdamWConfig::default(), &l, &path, &dev).unwrap();
    assert_eq!(back.step, 1);
    // A model of another shape is refused with the tensor named.
    let other: Linear<B> = LinearConfig::new(2, 4).init(&dev);
    let err = AdamW::<Cpu>::load::<Linear<B>, B>(AdamWConfig::default(), &other, &path, &dev)
        .err()
        .unwrap();
    assert!(err.to_string().contains(".exp_avg` has"), "{err}");
}

#[test]
fn schedules_warm_up_then_decay_like_hf() {
    let lr = |k, s| learning_rate(k, 1.0, s, 10, 110);
    assert!((lr(SchedulerType::Cosine, 0) - 0.1).abs() < 1e-12);
    assert!((lr(SchedulerType::Cosine, 9) - 1.0).abs() < 1e-12);
    assert!((lr(SchedulerType::Cosine, 60) - 0.5).abs() < 1e-12);
    assert!(lr(SchedulerType::Cosine, 110).abs() < 1e-12);
    assert!((lr(SchedulerType::Linear, 60) - 0.5).abs() < 1e-12);
    assert!((lr(SchedulerType::Constant, 100) - 1.0).abs() < 1e-12);
}
