//! Tests of the VQ trainer.
use super::*;
use burn::backend::Autodiff;
use duet_data::records::Task;
use duet_data::shapeworld::prompts::prompt_space;
use duet_data::shapeworld::{ShapeWorldConfig, realise, render};
use duet_model::Cpu;
use duet_model::config::VqConfig;
use rand::SeedableRng;

/// A model whose VQ trains in seconds: 16-px images, 2× down.
pub(crate) fn small() -> JanusConfig {
    let (cfg, _) = JanusConfig::preset("shapeworld").unwrap();
    JanusConfig {
        vq_config: VqConfig {
            num_embeddings: 32,
            latent_channels: 32,
            channel_multiplier: vec![1, 1],
            num_res_blocks: 1,
            ..cfg.vq_config
        },
        ..cfg
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
    let model_cfg = small();
    let model = model_cfg.init::<Autodiff<Cpu>>(&dev);
    let cfg = VqTrainConfig {
        max_steps: 40,
        warmup_steps: 0,
        lr_scheduler_type: SchedulerType::Constant,
        batch_size: 8,
        learning_rate: 3e-3,
        restart_every: 10,
        ..Default::default()
    };
    let mut losses = Vec::new();
    let model = train(model, &model_cfg, &images, &cfg, None, |_, m| {
        losses.push(m.reconstruction)
    })
    .unwrap();
    let vq = model.vqmodel;
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

fn small_images(n: usize) -> Vec<RgbImage> {
    let sw = ShapeWorldConfig::with_size(16);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let space = prompt_space();
    (0..n)
        .map(|i| {
            let task = Task::ALL[i % 6];
            let m = space.iter().find(|m| m.tag == task).unwrap();
            render(&realise(m, &sw, &mut rng).unwrap(), &sw)
        })
        .collect()
}

#[test]
fn patch_kmeans_codes_name_patches_and_its_codebook_starts_from_their_content() {
    let images = small_images(12);
    let pc = super::super::vq_codes::fit(&images, 2, 32, 8, 0);
    // Identical patches, anywhere in any image, carry the same code.
    let mut seen: std::collections::HashMap<Vec<u32>, u32> = Default::default();
    for (img, codes) in images.iter().zip(&pc.codes) {
        for (p, &c) in super::super::vq_codes::patches(img, 2).iter().zip(codes) {
            let key: Vec<u32> = p.iter().map(|v| (v * 255.0).round() as u32).collect();
            assert_eq!(*seen.entry(key).or_insert(c), c, "one patch, two codes");
        }
    }
    // Unit rows, and distinct codes in use have distinct vectors.
    let row = |i: usize| &pc.codebook[i * 8..(i + 1) * 8];
    for i in 0..pc.k {
        let n: f32 = row(i).iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4, "row {i} norm² {n}");
    }
    let used: std::collections::BTreeSet<u32> = pc.codes.iter().flatten().copied().collect();
    for &a in &used {
        for &b in used.iter().filter(|&&b| b > a) {
            let d: f32 = row(a as usize)
                .iter()
                .zip(row(b as usize))
                .map(|(x, y)| (x - y).powi(2))
                .sum();
            assert!(d > 1e-8, "codes {a} and {b} share a vector");
        }
    }
}

#[test]
fn patch_kmeans_training_resumes_to_the_same_weights_with_trained_or_frozen_branches() {
    for (freeze, train_decoder) in [(false, false), (true, false), (true, true)] {
        kill_and_resume(freeze, train_decoder);
    }
}

fn kill_and_resume(freeze: bool, train_decoder: bool) {
    let images = small_images(16);
    let dev = Default::default();
    let model_cfg = small();
    let cfg = VqTrainConfig {
        method: VqMethod::PatchKmeans,
        max_steps: 4,
        batch_size: 4,
        save_steps: 2,
        zero_init_residual: true,
        freeze_residual: freeze,
        train_decoder_residual: train_decoder,
        ..Default::default()
    };
    let weights = |m: &Janus<Autodiff<Cpu>>| -> Vec<f32> {
        let vq = &m.vqmodel;
        let mut v: Vec<f32> = vq
            .quantize
            .embedding
            .weight
            .val()
            .inner()
            .into_data()
            .to_vec()
            .unwrap();
        v.extend(
            vq.decoder
                .conv_out
                .weight
                .val()
                .inner()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
        );
        v.extend(
            vq.encoder
                .conv_in
                .weight
                .val()
                .inner()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
        );
        v
    };
    let a = tempfile::tempdir().unwrap();
    let run_a = RunDir {
        output_dir: a.path().to_path_buf(),
        resume: false,
    };
    let init = || {
        <Autodiff<Cpu> as burn::tensor::backend::Backend>::seed(&dev, 7);
        model_cfg.init::<Autodiff<Cpu>>(&dev)
    };
    let model = init();
    let mut losses = vec![];
    let whole = train(model, &model_cfg, &images, &cfg, Some(&run_a), |_, m| {
        losses.push(m.loss)
    })
    .unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    // Zero-initialised residual branches train unless frozen (they once
    // stayed frozen by accident: `zeros_like` drops `require_grad`).
    let nonzero = |c: &burn::nn::conv::Conv2d<Autodiff<Cpu>>| {
        let v: Vec<f32> = c.weight.val().inner().into_data().to_vec().unwrap();
        v.iter().any(|v| *v != 0.0)
    };
    let vq = &whole.vqmodel;
    assert_eq!(
        nonzero(&vq.decoder.mid.block_1.conv2),
        !freeze || train_decoder,
        "decoder.mid.block_1.conv2 (freeze_residual = {freeze}, train_decoder_residual = {train_decoder})"
    );
    assert_eq!(
        nonzero(&vq.encoder.mid.block_1.conv2),
        !freeze,
        "encoder.mid.block_1.conv2 (freeze_residual = {freeze})"
    );

    let b = tempfile::tempdir().unwrap();
    let mut run_b = RunDir {
        output_dir: b.path().to_path_buf(),
        resume: false,
    };
    let model = init();
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(model, &model_cfg, &images, &cfg, Some(&run_b), |s, _| {
            assert!(s < 2, "simulated kill after the step-2 checkpoint")
        })
    }));
    assert!(killed.is_err());
    run_b.resume = true;
    // A differently initialised model: everything must come from the
    // checkpoint.
    <Autodiff<Cpu> as burn::tensor::backend::Backend>::seed(&dev, 8);
    let model = model_cfg.init::<Autodiff<Cpu>>(&dev);
    let resumed = train(model, &model_cfg, &images, &cfg, Some(&run_b), |_, _| {}).unwrap();
    let (w, r) = (weights(&whole), weights(&resumed));
    let worst = w
        .iter()
        .zip(&r)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let first = w.iter().zip(&r).position(|(a, b)| a != b);
    assert!(
        worst == 0.0,
        "resumed weights differ: max |Δ| {worst}, first at {first:?} of {}",
        w.len()
    );
}
