//! One GRPO update on the `shapeworld` preset: teacher-forced log-probs of
//! 16 image-token rollouts (64 tokens) and 16 text answers (8 tokens) on the
//! autodiff backend, the clipped surrogate (dapo), backward, AdamW.
//! `cargo bench -p duet-rl --bench grpo_step`.

use burn::backend::Autodiff;
use burn::optim::GradientsParams;
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use duet_model::generate::ImageGenConfig;
use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, JanusConfig};
use duet_rl::loss::{Normalizer, PolicyBatch, PolicyLossConfig, policy_loss};
use duet_rl::optim::{AdamW, AdamWConfig};

type Ad = Autodiff<Cpu>;

fn bench(c: &mut Criterion) {
    let (cfg, ids) = JanusConfig::preset("shapeworld").expect("preset");
    let dev = Default::default();
    let mut model = Some(cfg.init::<Ad>(&dev));
    let mut opt = AdamW::<Cpu>::new(AdamWConfig::default());
    let boi = ids.generation_kwargs.boi_token_id.expect("BOI");
    let gen_cfg = ImageGenConfig {
        num_tokens: 64,
        cfg_scale: 5.0,
        pad_id: ids.pad_token_id,
        bos_id: ids.bos_token_id,
        boi_id: boi,
        sampling: SamplingConfig::default(),
        use_cache: true,
    };
    let prompts: Vec<Vec<u32>> = (0..16u32)
        .map(|i| vec![1, 20 + i % 8, 40, 41, boi])
        .collect();
    let codes: Vec<Vec<u32>> = (0..16u32)
        .map(|i| (0..64).map(|k| (i * 31 + k * 17) % 512).collect())
        .collect();
    let answers: Vec<Vec<u32>> = (0..16u32)
        .map(|i| (0..8).map(|k| 10 + (i + k) % 40).collect())
        .collect();
    let adv: Vec<f32> = (0..16)
        .map(|r| if r % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let loss_cfg = PolicyLossConfig::default();
    let mut g = c.benchmark_group("grpo_step");
    g.sample_size(10);
    g.bench_function("shapeworld_16img_16text", |b| {
        b.iter(|| {
            let m = model.take().expect("model");
            let a = Tensor::<Ad, 1>::from_data(TensorData::new(adv.clone(), [16]), &dev);
            let img =
                image_logprobs(&m, &prompts, &codes, GenLogprobMode::Cond, &gen_cfg).expect("lp");
            let txt = text_logprobs(&m, &prompts, &answers, None, ids.pad_token_id).expect("lp");
            let mut total = None;
            for lp in [img, txt] {
                let norm = Normalizer::single(&lp.mask, 64);
                let (l, _) = policy_loss(
                    PolicyBatch {
                        logp: lp.logprobs,
                        old_logp: None,
                        ref_logp: None,
                        mask: lp.mask,
                        advantages: a.clone(),
                    },
                    &loss_cfg,
                    &norm,
                );
                total = Some(match total {
                    None => l,
                    Some(t) => t + l,
                });
            }
            let grads = GradientsParams::from_grads(total.expect("loss").backward(), &m);
            let (m, _) = opt.update(1e-5, m, grads).expect("update");
            model = Some(m);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
