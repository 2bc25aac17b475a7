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
