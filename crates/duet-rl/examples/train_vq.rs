//! Trains the `shapeworld` preset's VQ-VAE on fresh ShapeWorld scenes and
//! reports held-out PSNR, codebook usage and exact-scene recovery by the
//! ShapeDetector on reconstructions:
//! `cargo run --release -p duet-rl --example train_vq -- STEPS [BATCH] [LR]`.

use std::time::Instant;

use burn::backend::Autodiff;
use duet_data::records::Task;
use duet_data::shapeworld::prompts::prompt_space;
use duet_data::shapeworld::{Scene, ShapeWorldConfig, realise, render};
use duet_model::{Cpu, JanusConfig};
use duet_rl::pretrain::vq::{VqTrainConfig, evaluate, to_tensor, train};
use rand::SeedableRng;
use rand::seq::IndexedRandom;

/// The world: free layout, or the 8×8 grid layout with `DUET_GRID=1`.
fn world() -> ShapeWorldConfig {
    if std::env::var("DUET_GRID").is_ok() {
        ShapeWorldConfig::grid(64)
    } else {
        ShapeWorldConfig::default()
    }
}

fn scenes(n: usize, seed: u64) -> Vec<(Scene, image::RgbImage)> {
    let cfg = world();
    let space = prompt_space();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let task = *Task::ALL.choose(&mut rng).unwrap();
            let pool: Vec<_> = space.iter().filter(|m| m.tag == task).collect();
            let s = realise(pool.choose(&mut rng).unwrap(), &cfg, &mut rng).unwrap();
            let img = render(&s, &cfg);
            (s, img)
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let lr: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2e-3);
    let (mut cfg, _) = JanusConfig::preset("shapeworld").unwrap();
    if let Ok(m) = std::env::var("DUET_VQ_MULT") {
        cfg.vq_config.channel_multiplier = m.split(',').map(|x| x.parse().unwrap()).collect();
    }
    if let Ok(e) = std::env::var("DUET_VQ_EMBED") {
        cfg.vq_config.embed_dim = e.parse().unwrap();
    }
    if let Ok(r) = std::env::var("DUET_VQ_RES") {
        cfg.vq_config.num_res_blocks = r.parse().unwrap();
    }
    let dev = Default::default();
    // A fixed initialisation, so runs differ only in what they set.
    <Autodiff<Cpu> as burn::tensor::backend::Backend>::seed(&dev, 0);
    let model = cfg.init::<Autodiff<Cpu>>(&dev);
    let train_set: Vec<image::RgbImage> = scenes(2000, 1).into_iter().map(|x| x.1).collect();
    let held_out = scenes(200, 2);
    let held_imgs: Vec<image::RgbImage> = held_out.iter().map(|x| x.1.clone()).collect();
    let t0 = Instant::now();
    let tcfg = VqTrainConfig {
        max_steps: steps,
        batch_size: batch,
        learning_rate: lr,
        method: if std::env::var("DUET_VQ_METHOD").as_deref() == Ok("patch") {
            duet_rl::pretrain::vq::VqMethod::PatchKmeans
        } else {
            duet_rl::pretrain::vq::VqMethod::StraightThrough
        },
        crop_size: std::env::var("DUET_VQ_CROP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        crop_until: std::env::var("DUET_VQ_CROP_UNTIL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.8),
        optimizer: duet_rl::optim::AdamWConfig {
            max_grad_norm: std::env::var("DUET_VQ_CLIP")
                .ok()
                .and_then(|v| v.parse().ok()),
            ..Default::default()
        },
        // DUET_VQ_ZERO=1: zeroed residual branches, frozen; =train: trained;
        // =dec: the decoder's trained, the encoder's frozen.
        zero_init_residual: std::env::var("DUET_VQ_ZERO").is_ok(),
        freeze_residual: std::env::var("DUET_VQ_ZERO").is_ok_and(|v| v != "train"),
        train_decoder_residual: std::env::var("DUET_VQ_ZERO").is_ok_and(|v| v == "dec"),
        foreground_weight: std::env::var("DUET_VQ_FG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0),
        ..Default::default()
    };
    let model = train(model, &cfg, &train_set, &tcfg, None, |s, m| {
        if s % 25 == 0 || s + 1 == steps {
            println!(
                "step {s:>5} loss {:.4} rec {:.4} psnr {:.2} usage {:.2} ({:.1}s)",
                m.loss,
                m.reconstruction,
                m.psnr,
                m.usage,
                t0.elapsed().as_secs_f64()
            );
        }
    })
    .unwrap();
    let vq = duet_rl::pretrain::vq::inference(&model.vqmodel);
    let m = evaluate(&vq, &held_imgs, 32);
    println!(
        "held-out (200 scenes): psnr {:.2} dB, codebook usage {:.2}",
        m.psnr, m.usage
    );
    // Exact-scene recovery on reconstructions (through codes, as generation decodes).
    let det = duet_eval::detector::ShapeDetector::new(&world());
    let mut exact = 0;
    let mut why = [0f64; 5];
    // How consistently codes name patch contents: H(code | patch) in nats.
    let mut by_patch: std::collections::HashMap<Vec<u8>, std::collections::HashMap<i64, usize>> =
        Default::default();
    for (scene, img) in &held_out {
        let x = to_tensor::<Cpu>(&[img], &dev);
        let codes = vq.encode(x).codes;
        let cv: Vec<i64> = codes.clone().into_data().iter::<i64>().collect();
        for (p, c) in duet_rl::pretrain::vq_codes::patches(img, 8).iter().zip(&cv) {
            let key: Vec<u8> = p.iter().map(|v| (v * 255.0).round() as u8).collect();
            *by_patch.entry(key).or_default().entry(*c).or_default() += 1;
        }
        let rec = vq.decode_codes(codes).unwrap();
        let v: Vec<f32> = rec.into_data().to_vec().unwrap();
        let (h, w) = (64usize, 64usize);
        let mut out = image::RgbImage::new(64, 64);
        for y in 0..h {
            for xx in 0..w {
                let px: [u8; 3] = std::array::from_fn(|c| {
                    (((v[c * h * w + y * w + xx] + 1.0) * 127.5).clamp(0.0, 255.0)) as u8
                });
                out.put_pixel(xx as u32, y as u32, image::Rgb(px));
            }
        }
        if exact < 8 && std::env::var("DUET_VQ_DUMP").is_ok() {
            let n = held_out
                .iter()
                .position(|h| std::ptr::eq(h.0.objects.as_ptr(), scene.objects.as_ptr()))
                .unwrap_or(0);
            img.save(format!("/tmp/vqdump_{n}_a.png")).unwrap();
            out.save(format!("/tmp/vqdump_{n}_b.png")).unwrap();
        }
        use duet_eval::detector::Detector;
        // Where the error is (DUET_VQ_WHY=1): background pixels, and the
        // image after removing its mean background offset (a tint).
        if std::env::var("DUET_VQ_WHY").is_ok() {
            let bg = img.get_pixel(0, 0).0;
            let mut off = [0f64; 3];
            let mut nbg = 0usize;
            for (a, b) in img.pixels().zip(out.pixels()) {
                if a.0 == bg {
                    nbg += 1;
                    for (o, (x, y)) in off.iter_mut().zip(b.0.iter().zip(a.0)) {
                        *o += *x as f64 - y as f64;
                    }
                }
            }
            off.iter_mut().for_each(|o| *o /= nbg.max(1) as f64);
            for (a, b) in img.pixels().zip(out.pixels()) {
                for (o, (x, y)) in off.iter().zip(b.0.iter().zip(a.0)) {
                    let d = *x as f64 - y as f64;
                    why[0] += d * d;
                    why[1] += (d - o).powi(2);
                    if a.0 == bg {
                        why[2] += d * d;
                    }
                }
            }
            why[3] += (64 * 64 * 3) as f64;
            why[4] += (nbg * 3) as f64;
        }
        match duet_eval::detector::match_scene(&det.detect(&out), scene, 2.0) {
            duet_eval::detector::SceneMatch::Exact => exact += 1,
            // What the detector missed (DUET_VQ_WHY=1): the failure modes.
            miss if std::env::var("DUET_VQ_WHY").is_ok() => println!("miss: {miss:?}"),
            _ => {}
        }
    }
    if why[3] > 0.0 {
        let p = |mse: f64| 10.0 * (255.0f64 * 255.0 / mse).log10();
        println!(
            "8-bit PSNR {:.2} dB, without each image's background offset {:.2} dB, background pixels only {:.2} dB",
            p(why[0] / why[3]),
            p(why[1] / why[3]),
            p(why[2] / why[4])
        );
    }
    let total: usize = by_patch.values().flat_map(|m| m.values()).sum();
    let h: f64 = by_patch
        .values()
        .map(|m| {
            let n: usize = m.values().sum();
            let hp: f64 = m
                .values()
                .map(|&c| {
                    let p = c as f64 / n as f64;
                    -p * p.ln()
                })
                .sum();
            hp * n as f64 / total as f64
        })
        .sum();
    println!(
        "{} patch contents, H(code | patch) = {h:.3} nats",
        by_patch.len()
    );
    println!(
        "ShapeDetector exact recovery on code reconstructions: {exact}/{}",
        held_out.len()
    );
    println!("wall time {:.1}s", t0.elapsed().as_secs_f64());
}
