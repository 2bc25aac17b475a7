//! How well 8×8 patch k-means codes can describe ShapeWorld scenes: each
//! held-out patch painted with its nearest centroid, then PSNR and exact-scene
//! recovery by the ShapeDetector:
//! `cargo run --release -p duet-rl --example patch_codes -- [K]`.

use duet_data::pairs::kmeans::{KMeansOptions, minibatch_kmeans};
use duet_data::pairs::matrix::Features;
use duet_data::records::Task;
use duet_data::shapeworld::prompts::prompt_space;
use duet_data::shapeworld::{Scene, ShapeWorldConfig, realise, render};
use duet_eval::detector::{Detector, SceneMatch, ShapeDetector, match_scene};
use duet_rl::pretrain::vq_codes::patches;
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
    let k: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let t0 = std::time::Instant::now();
    let train = scenes(2000, 1);
    let rows: Vec<Vec<f32>> = train.iter().flat_map(|(_, i)| patches(i, 8)).collect();
    let x = Features::from_rows(&rows);
    let all: Vec<usize> = (0..x.rows()).collect();
    let mut opts = KMeansOptions::new(k);
    opts.steps = 300;
    let km = minibatch_kmeans(&x, &all, opts);
    println!(
        "k-means of {} patches into {k}: {:.1}s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    );
    let det = ShapeDetector::new(&world());
    let held = scenes(200, 2);
    let (mut se, mut n, mut exact) = (0.0f64, 0usize, 0);
    for (scene, img) in &held {
        let mut out = img.clone();
        for (i, p) in patches(img, 8).iter().enumerate() {
            let c = (0..km.centroids.rows())
                .min_by(|&a, &b| {
                    let d = |j: usize| {
                        km.centroids
                            .row(j)
                            .iter()
                            .zip(p)
                            .map(|(u, v)| (u - v) * (u - v))
                            .sum::<f32>()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            let (gx, gy) = ((i % 8) as u32, (i / 8) as u32);
            let row = km.centroids.row(c);
            for y in 0..8u32 {
                for xx in 0..8u32 {
                    let o = ((y * 8 + xx) * 3) as usize;
                    let px: [u8; 3] = std::array::from_fn(|ch| {
                        (row[o + ch] * 255.0).round().clamp(0.0, 255.0) as u8
                    });
                    let orig = img.get_pixel(gx * 8 + xx, gy * 8 + y).0;
                    for (a, b) in px.iter().zip(orig) {
                        let d = (*a as f64 - b as f64) / 255.0;
                        se += d * d;
                        n += 1;
                    }
                    out.put_pixel(gx * 8 + xx, gy * 8 + y, image::Rgb(px));
                }
            }
        }
        if match_scene(&det.detect(&out), scene, 2.0) == SceneMatch::Exact {
            exact += 1;
        }
    }
    println!(
        "centroid painting: PSNR {:.2} dB, exact {exact}/200",
        10.0 * (1.0 / (se / n as f64)).log10()
    );
}
