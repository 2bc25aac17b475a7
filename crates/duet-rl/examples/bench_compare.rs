//! duet's side of `cargo xtask bench compare` (docs/benchmarks.md): the
//! workloads that xtask/bench/hf_bench.py runs in HF transformers + PyTorch,
//! on the same checkpoint, thread count, batch, CFG and dtype (f32).
//!
//! (a) image-token generation, batch B with CFG (2B decoder rows), KV cache,
//!     temperature-1 sampling: tokens/s = B × image tokens / time;
//! (b) forward + backward of a GRPO surrogate on one batch of B teacher-forced
//!     image-token sequences (conditional branch, as the trainers score them):
//!     L = −mean_t(A · exp(logp − sg(logp))); duet runs the two halves of the
//!     batch on two threads and sums their gradients (`parallel::grads_of_two`,
//!     as its update runs two tasks or a lone task's micro-batches), PyTorch
//!     its intra-op threads; `DUET_BENCH_SPLIT=0` times one thread's pass;
//! (c) peak RSS of the process; plus f32 GEMM 1024³ GFLOP/s as the machine's
//!     reference peak and the GFLOP/s (a) achieves.
//!
//! `cargo run --release -p duet-rl --example bench_compare -- PRESET SAVE_DIR
//! [BATCH] [REPEATS]` saves the preset's randomly initialised checkpoint to
//! SAVE_DIR (for the Python side) and prints one JSON line.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::prelude::*;
use duet_model::generate::{ImageGenConfig, generate_image_tokens};
use duet_model::logprobs::{GenLogprobMode, image_logprobs};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, JanusConfig, checkpoint};
use duet_rl::parallel::grads_of_two;

type Ad = Autodiff<Cpu>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    let _ = f(); // warm-up (allocator, caches)
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                let _ = f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("shapeworld", String::as_str);
    let save = std::path::PathBuf::from(
        args.get(1)
            .ok_or("usage: PRESET SAVE_DIR [BATCH] [REPEATS]")?,
    );
    let batch: usize = args.get(2).map_or(Ok(16), |s| s.parse())?;
    let repeats: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let (cfg, ids) = JanusConfig::preset(preset)?;
    let dev = Default::default();
    <Cpu as Backend>::seed(&dev, 7);
    let model = cfg.init::<Cpu>(&dev);
    checkpoint::save(&model, &cfg, Some(&ids), None, &save)?;
    let n_tok = cfg
        .vq_config
        .num_patches
        .unwrap_or(cfg.vision_config.num_image_tokens);
    let boi = ids
        .generation_kwargs
        .boi_token_id
        .ok_or("preset without BOI")?;
    let prompts: Vec<Vec<u32>> = (0..batch as u32)
        .map(|i| vec![ids.bos_token_id, 20 + i % 8, 40, 41, boi])
        .collect();
    let gen_cfg = ImageGenConfig {
        num_tokens: n_tok,
        cfg_scale: 5.0,
        pad_id: ids.pad_token_id,
        bos_id: ids.bos_token_id,
        boi_id: boi,
        sampling: SamplingConfig {
            seed: 1,
            ..Default::default()
        },
        use_cache: true,
    };
    // DUET_BENCH_ONLY=b skips (a), for profiling the update alone.
    let gen_s = if std::env::var("DUET_BENCH_ONLY").as_deref() == Ok("b") {
        f64::NAN
    } else {
        time(repeats, || {
            generate_image_tokens(&model, &prompts, &gen_cfg).unwrap()
        })
    };

    // (b) on the autodiff backend, same weights.
    let ad = checkpoint::load::<Ad>(&save, &dev)?.1;
    let codes: Vec<Vec<u32>> = (0..batch)
        .map(|r| {
            (0..n_tok)
                .map(|k| ((r * 31 + k * 17) % cfg.vq_config.num_embeddings) as u32)
                .collect()
        })
        .collect();
    let adv: Vec<f32> = (0..batch)
        .map(|r| if r % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    // The loss of rows `rows`, normalised by the whole batch's token count,
    // so the losses of disjoint row sets add up to the batch's.
    let part_loss = |m: &duet_model::Janus<Ad>, rows: std::ops::Range<usize>| {
        let n = rows.len();
        let lp = image_logprobs(
            m,
            &prompts[rows.clone()],
            &codes[rows.clone()],
            GenLogprobMode::Cond,
            &gen_cfg,
        )
        .unwrap();
        let a = Tensor::<Ad, 1>::from_data(TensorData::new(adv[rows].to_vec(), [n]), &dev)
            .reshape([n, 1]);
        let ratio = (lp.logprobs.clone() - lp.logprobs.detach()).exp();
        (ratio * a).sum().neg() / (batch * n_tok) as f32
    };
    // Two halves need two threads: not with RAYON_NUM_THREADS=1 (the
    // comparison's "1 thread each").
    let split = batch >= 2
        && std::env::var("DUET_BENCH_SPLIT").as_deref() != Ok("0")
        && std::env::var("RAYON_NUM_THREADS").as_deref() != Ok("1");
    let grpo_s = if split {
        // One half of the batch per core, as the trainer's update runs.
        time(repeats, || {
            let half = batch / 2;
            grads_of_two(
                &ad,
                |m| Ok((Some(part_loss(m, 0..half)), ())),
                |m| Ok((Some(part_loss(m, half..batch)), ())),
            )
            .unwrap()
        })
    } else {
        time(repeats, || part_loss(&ad, 0..batch).backward())
    };

    // Reference: f32 GEMM 1024³.
    let x = Tensor::<Cpu, 2>::random([1024, 1024], burn::tensor::Distribution::Default, &dev);
    let gemm_s = time(repeats, || x.clone().matmul(x.clone()).into_data());
    let gemm_gflops = 2.0 * 1024f64.powi(3) / gemm_s / 1e9;

    // FLOPs of (a): 2 per weight per decoder row-token through the decoder,
    // the generation head and the generation aligner (attention over the
    // cache and the prompt prefill left out: small at these lengths).
    let active = model.language_model.layers.num_params()
        + model.generation_head.num_params()
        + model.generation_aligner.num_params();
    let gen_flops = 2.0 * active as f64 * (2 * batch * n_tok) as f64;
    println!(
        "{}",
        serde_json::json!({
            "framework": "duet (burn 0.21, burn-flex)",
            "preset": preset,
            "threads": std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
            "batch": batch,
            "image_tokens": n_tok,
            "gen_s": gen_s,
            "gen_tokens_per_s": (batch * n_tok) as f64 / gen_s,
            "gen_gflops": gen_flops / gen_s / 1e9,
            "grpo_fwd_bwd_s": grpo_s,
            "grpo_halves_on_two_threads": split,
            "gemm_gflops": gemm_gflops,
            "peak_rss_mb": peak_rss_kb() as f64 / 1024.0,
        })
    );
    Ok(())
}
