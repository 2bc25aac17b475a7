//! Exact-scene recovery of ShapeDetector (the foundation issue's acceptance).

use duet_data::perturb::{gaussian_blur, gaussian_noise, jpeg_round_trip, standard_corruption};
use duet_data::records::Task;
use duet_data::shapeworld::prompts::prompt_space;
use duet_data::shapeworld::{ShapeWorldConfig, realise, render};
use duet_eval::detector::{Detector, SceneMatch, ShapeDetector, match_scene};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

#[derive(clap::Args)]
pub struct Args {
    /// Fresh scenes to draw.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    #[arg(long, default_value_t = 20261122)]
    seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Print the first few failures of each condition.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = ShapeWorldConfig::with_size(a.size);
    let det = ShapeDetector::new(&cfg);
    let space = prompt_space();
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let conditions = [
        "clean",
        "blur σ=1px",
        "noise σ=8/255",
        "jpeg q75",
        "blur+noise+jpeg",
    ];
    let mut ok = [0usize; 5];
    let mut shown = [0usize; 5];
    let t0 = std::time::Instant::now();
    for i in 0..a.n {
        // Task first, then prompt: the space is mostly color_attr otherwise.
        let task = *Task::ALL.choose(&mut rng).expect("six tasks");
        let pool: Vec<_> = space.iter().filter(|m| m.tag == task).collect();
        let meta = *pool.choose(&mut rng).expect("every task has prompts");
        let scene = realise(meta, &cfg, &mut rng)?;
        let img = render(&scene, &cfg);
        let variants = [
            img.clone(),
            gaussian_blur(&img, 1.0),
            gaussian_noise(&img, 8.0, &mut rng),
            jpeg_round_trip(&img, 75),
            standard_corruption(&img, &mut rng),
        ];
        for (k, v) in variants.iter().enumerate() {
            match match_scene(&det.detect(v), &scene, 2.0) {
                SceneMatch::Exact => ok[k] += 1,
                SceneMatch::Mismatch(why) => {
                    if shown[k] < a.show {
                        shown[k] += 1;
                        println!("[{}] scene {i} ({}): {why}", conditions[k], meta.prompt);
                    }
                }
            }
        }
    }
    println!(
        "ShapeDetector exact-scene recovery, {} fresh scenes at {}x{} (seed {}), {:.1}s:",
        a.n,
        a.size,
        a.size,
        a.seed,
        t0.elapsed().as_secs_f64()
    );
    for (k, c) in conditions.iter().enumerate() {
        println!(
            "  {c:<18} {:>5}/{} = {:.2}%",
            ok[k],
            a.n,
            100.0 * ok[k] as f64 / a.n as f64
        );
    }
    Ok(())
}
