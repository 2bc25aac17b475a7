//! Model-side benches on the `shapeworld` preset (random weights; speed does
//! not depend on them): image-token decode with CFG and the KV cache at
//! batch 1/16/64, per-token decode time as the image grows (64/256/576
//! tokens), one decode step at a given cache length (also at Janus-Pro-1B's
//! width), text decode, teacher-forced log-probs, VQ decode.
//! `cargo bench -p duet-model --bench sampling`; baselines: docs/benchmarks.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use duet_model::generate::{ImageGenConfig, TextGenConfig, generate_image_tokens, generate_text};
use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, Janus, JanusConfig};

use burn::prelude::*;
use burn::tensor::Distribution;

fn setup(max_pos: usize) -> (Janus<Cpu>, ImageGenConfig) {
    let (mut cfg, ids) = JanusConfig::preset("shapeworld").expect("preset");
    cfg.text_config.max_position_embeddings = max_pos;
    let model = cfg.init::<Cpu>(&Default::default());
    let gen_cfg = ImageGenConfig {
        num_tokens: 64,
        cfg_scale: 5.0,
        pad_id: ids.pad_token_id,
        bos_id: ids.bos_token_id,
        boi_id: ids.generation_kwargs.boi_token_id.expect("preset has BOI"),
        sampling: SamplingConfig {
            seed: 1,
            ..Default::default()
        },
        use_cache: true,
    };
    (model, gen_cfg)
}

fn prompts(n: usize, cfg: &ImageGenConfig) -> Vec<Vec<u32>> {
    (0..n as u32)
        .map(|i| vec![cfg.bos_id, 20 + i % 8, 40, 41, cfg.boi_id])
        .collect()
}

fn image_decode(c: &mut Criterion) {
    let (model, cfg) = setup(256);
    let mut g = c.benchmark_group("image_decode_cfg_64tok");
    g.sample_size(10);
    for batch in [1usize, 16, 64] {
        let p = prompts(batch, &cfg);
        g.throughput(Throughput::Elements((batch * 64) as u64));
        g.bench_with_input(BenchmarkId::new("kv_cache/batch", batch), &p, |b, p| {
            b.iter(|| generate_image_tokens(&model, p, &cfg).expect("generation"))
        });
    }
    let p = prompts(16, &cfg);
    let no_cache = ImageGenConfig {
        use_cache: false,
        ..cfg.clone()
    };
    g.throughput(Throughput::Elements(16 * 64));
    g.bench_function("no_cache/batch/16", |b| {
        b.iter(|| generate_image_tokens(&model, &p, &no_cache).expect("generation"))
    });
    g.finish();
}

/// Per-token time should stay flat as the image grows: the cache makes each
/// step O(past) in attention only.
fn per_token(c: &mut Criterion) {
    let (model, cfg) = setup(1024);
    let p = prompts(4, &cfg);
    let mut g = c.benchmark_group("image_decode_cfg_batch4_tokens");
    g.sample_size(10);
    for tokens in [64usize, 256, 576] {
        let cfg = ImageGenConfig {
            num_tokens: tokens,
            ..cfg.clone()
        };
        g.throughput(Throughput::Elements((4 * tokens) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(tokens), &cfg, |b, cfg| {
            b.iter(|| generate_image_tokens(&model, &p, cfg).expect("generation"))
        });
    }
    g.finish();
}

/// Janus-Pro-1B's language-model shape (2048 wide, 16 heads of 128, MLP
/// 5632, 16384 image codes) with `layers` of its 24 layers: each layer's
/// weights and cache are the real model's, only the depth is cut.
fn janus_1b_width(layers: usize) -> JanusConfig {
    let (mut cfg, _) = JanusConfig::preset("shapeworld").expect("preset");
    let t = &mut cfg.text_config;
    (t.hidden_size, t.intermediate_size, t.num_hidden_layers) = (2048, 5632, layers);
    (t.num_attention_heads, t.num_key_value_heads, t.head_dim) = (16, Some(16), Some(128));
    t.max_position_embeddings = 1024;
    cfg.vision_config.projection_dim = 2048;
    let q = &mut cfg.vq_config;
    (q.projection_dim, q.image_token_embed_dim, q.num_embeddings) = (2048, 2048, 16384);
    cfg.validate().expect("valid config");
    cfg
}

/// One image-token decode step (decoder + image head) with `len` positions
/// already cached: the per-token cost at a point of the image, not averaged
/// over it. The cache is filled with random keys/values and cut back to
/// `len` after every step.
fn decode_step_at_len(c: &mut Criterion) {
    let wide_layers: usize = std::env::var("DUET_BENCH_WIDE_LAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let (mut small, _) = JanusConfig::preset("shapeworld").expect("preset");
    small.text_config.max_position_embeddings = 1024;
    let cases = [
        ("shapeworld/rows8".to_string(), small, 8),
        (
            format!("janus1b_width_{wide_layers}layers/rows2"),
            janus_1b_width(wide_layers),
            2,
        ),
        (
            format!("janus1b_width_{wide_layers}layers/rows32"),
            janus_1b_width(wide_layers),
            32,
        ),
    ];
    let dev = Default::default();
    let mut g = c.benchmark_group("decode_step_at_cache_len");
    g.sample_size(10);
    for (name, cfg, rows) in cases {
        let model = cfg.init::<Cpu>(&dev);
        let t = &cfg.text_config;
        let (kv, d) = (t.kv_heads(), t.head_dim());
        let x = Tensor::<Cpu, 3>::random([rows, 1, t.hidden_size], Distribution::Default, &dev);
        for len in [64usize, 256, 576] {
            let mut cache = duet_model::cache::KvCache::with_reserve(t.num_hidden_layers, 1);
            for layer in 0..t.num_hidden_layers {
                let r =
                    || Tensor::<Cpu, 4>::random([rows, kv, len, d], Distribution::Default, &dev);
                cache.append(layer, r(), r());
            }
            g.bench_function(BenchmarkId::new(&name, len), |b| {
                b.iter(|| {
                    let h = model.decode(x.clone(), Some(&mut cache));
                    let logits = model.image_logits(h).into_data();
                    cache.truncate(len);
                    logits
                })
            });
        }
    }
    g.finish();
}

/// The decode step's attention alone (`decode_attention` on views of a
/// filled cache, 576 positions): ShapeWorld's heads (8 rows, 2 KV heads
/// of 32, 2 query heads each) and Janus-Pro-1B's (16 heads of 128) at 2 and
/// 32 rows.
fn attention_only(c: &mut Criterion) {
    let dev = Default::default();
    let mut g = c.benchmark_group("decode_attention_576");
    g.sample_size(20);
    for (name, rows, kv, rep, d) in [
        ("shapeworld/rows8", 8, 2, 2, 32),
        ("janus1b/rows2", 2, 16, 1, 128),
        ("janus1b/rows32", 32, 16, 1, 128),
    ] {
        let len = 576;
        let mut cache = duet_model::cache::KvCache::<Cpu>::with_reserve(1, 1);
        let r = |t| Tensor::<Cpu, 4>::random([rows, kv, t, d], Distribution::Default, &dev);
        cache.append(0, r(len - 1), r(len - 1));
        let (k, v) = cache.append(0, r(1), r(1));
        let q = Tensor::<Cpu, 4>::random([rows, kv, rep, d], Distribution::Default, &dev);
        g.bench_function(name, |b| {
            b.iter(|| {
                duet_model::decode_attention::decode_attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    None,
                )
                .into_data()
            })
        });
    }
    g.finish();
}

fn text_and_logprobs(c: &mut Criterion) {
    let (model, cfg) = setup(256);
    let p = prompts(16, &cfg);
    let tcfg = TextGenConfig {
        max_new_tokens: 16,
        stop_tokens: vec![],
        pad_id: cfg.pad_id,
        sampling: SamplingConfig {
            seed: 1,
            ..Default::default()
        },
    };
    let mut g = c.benchmark_group("text_and_logprobs");
    g.sample_size(10);
    g.throughput(Throughput::Elements(16 * 16));
    g.bench_function("text_decode_b16_16tok", |b| {
        b.iter(|| generate_text(&model, &p, None, &tcfg).expect("generation"))
    });
    let responses: Vec<Vec<u32>> = (0..16u32)
        .map(|i| (0..16).map(|k| 10 + (i + k) % 50).collect())
        .collect();
    g.bench_function("text_logprobs_b16_16tok", |b| {
        b.iter(|| text_logprobs(&model, &p, &responses, None, cfg.pad_id).expect("logprobs"))
    });
    let codes: Vec<Vec<u32>> = (0..16u32)
        .map(|i| (0..64).map(|k| (i * 31 + k * 17) % 512).collect())
        .collect();
    g.throughput(Throughput::Elements(16 * 64));
    g.bench_function("image_logprobs_cond_b16_64tok", |b| {
        b.iter(|| image_logprobs(&model, &p, &codes, GenLogprobMode::Cond, &cfg).expect("logprobs"))
    });
    g.bench_function("image_logprobs_cfg_b16_64tok", |b| {
        b.iter(|| image_logprobs(&model, &p, &codes, GenLogprobMode::Cfg, &cfg).expect("logprobs"))
    });
    let dev = Default::default();
    let flat: Vec<i64> = codes.iter().flatten().map(|&c| c as i64).collect();
    let t = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(flat, [16, 64]), &dev);
    g.throughput(Throughput::Elements(16));
    g.bench_function("vq_decode_b16_64x64", |b| {
        b.iter(|| {
            model
                .vqmodel
                .decode_codes(t.clone())
                .expect("decode")
                .into_data()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    image_decode,
    per_token,
    decode_step_at_len,
    attention_only,
    text_and_logprobs
);
criterion_main!(benches);
