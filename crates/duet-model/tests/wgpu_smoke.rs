//! The same checkpoint on the wgpu backend and on the CPU backend: forward
//! logits of an understanding prompt (image + text) and a few greedy
//! image-token decode steps with CFG and the KV cache must agree.
//! Tolerance: 1e-3 absolute on logits of order 1 (f32 on different kernels and
//! reduction orders), identical greedy tokens.
//!
//! Needs `--features wgpu` and a Vulkan (or Metal/DX12) driver; without a GPU
//! on Linux, Mesa's software driver lavapipe works (`apt-get install
//! mesa-vulkan-drivers`). Run with `cargo xtask test-wgpu`.
#![cfg(feature = "wgpu")]

use burn::backend::Wgpu;
use burn::backend::wgpu::WgpuDevice;
use burn::prelude::*;
use duet_model::generate::{ImageGenConfig, generate_image_tokens};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, JanusConfig, checkpoint};

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn wgpu_matches_cpu_on_forward_and_decode() {
    let (cfg, ids) = JanusConfig::preset("shapeworld").unwrap();
    let cpu_dev = Default::default();
    let cpu = cfg.init::<Cpu>(&cpu_dev);
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(&cpu, &cfg, Some(&ids), None, dir.path()).unwrap();
    let gpu_dev = WgpuDevice::default();
    let (_, gpu) = checkpoint::load::<Wgpu>(dir.path(), &gpu_dev).unwrap();

    // Forward: 64 image placeholders (id 6) + text, with pixels.
    let mut prompt: Vec<u32> = vec![1, 10, 11];
    prompt.extend(std::iter::repeat_n(6, 64));
    prompt.extend([12, 13, 14]);
    let pixels: Vec<f32> = (0..3 * 64 * 64)
        .map(|i| ((i % 97) as f32 / 48.0) - 1.0)
        .collect();
    let (c, _) = cpu
        .forward_understanding(
            &prompt,
            1,
            Some(Tensor::<Cpu, 4>::from_data(
                TensorData::new(pixels.clone(), [1, 3, 64, 64]),
                &cpu_dev,
            )),
            false,
        )
        .unwrap();
    let (g, _) = gpu
        .forward_understanding(
            &prompt,
            1,
            Some(Tensor::<Wgpu, 4>::from_data(
                TensorData::new(pixels, [1, 3, 64, 64]),
                &gpu_dev,
            )),
            false,
        )
        .unwrap();
    let c = c.into_data().to_vec::<f32>().unwrap();
    let g = g.into_data().to_vec::<f32>().unwrap();
    let d = max_diff(&c, &g);
    println!(
        "forward logits: {} values, max |cpu - wgpu| = {d:.2e}",
        c.len()
    );
    assert!(d < 1e-3, "forward logits differ by {d}");

    // Decode: 8 greedy image tokens with CFG 5 and the KV cache.
    let gen_cfg = ImageGenConfig {
        num_tokens: 8,
        cfg_scale: 5.0,
        pad_id: 3,
        bos_id: 1,
        boi_id: 4,
        sampling: SamplingConfig::greedy(),
        use_cache: true,
    };
    let prompts = vec![vec![1, 20, 21, 22, 4], vec![1, 30, 31, 4]];
    let tc = generate_image_tokens(&cpu, &prompts, &gen_cfg).unwrap();
    let tg = generate_image_tokens(&gpu, &prompts, &gen_cfg).unwrap();
    println!("greedy image tokens: cpu {tc:?} wgpu {tg:?}");
    assert_eq!(tc, tg);
}
