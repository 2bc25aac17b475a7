//! Image-token generation throughput on the `shapeworld` preset: batch 16,
//! CFG on (32 decoder rows), 64 image tokens, with and without the KV cache.
//! `cargo bench -p duet-model --bench sampling`; tokens/s = 16 × 64 / time.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duet_model::generate::{ImageGenConfig, generate_image_tokens};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, JanusConfig};

fn bench(c: &mut Criterion) {
    let (cfg, ids) = JanusConfig::preset("shapeworld").expect("preset");
    let model = cfg.init::<Cpu>(&Default::default());
    let boi = ids.generation_kwargs.boi_token_id.expect("preset has BOI");
    let prompts: Vec<Vec<u32>> = (0..16u32)
        .map(|i| vec![ids.bos_token_id, 20 + i, 40, 41, boi])
        .collect();
    let mut group = c.benchmark_group("sampling");
    group.sample_size(10);
    group.throughput(Throughput::Elements(16 * 64));
    for use_cache in [true, false] {
        let gen_cfg = ImageGenConfig {
            num_tokens: 64,
            cfg_scale: 5.0,
            pad_id: ids.pad_token_id,
            bos_id: ids.bos_token_id,
            boi_id: boi,
            sampling: SamplingConfig {
                seed: 1,
                ..Default::default()
            },
            use_cache,
        };
        let name = if use_cache {
            "image_tokens_b16_cfg_64/kv_cache"
        } else {
            "image_tokens_b16_cfg_64/no_cache"
        };
        group.bench_function(name, |b| {
            b.iter(|| generate_image_tokens(&model, &prompts, &gen_cfg).expect("generation"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
