//! `cargo xtask pairs-report`: checks a pairs file against the rules (one
//! use per understanding item, retrieved similarity ≥ δ) and measures how
//! many scene attributes the two images of a retrieved pair share, against
//! the same items paired at random.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use anyhow::{bail, ensure};
use duet_data::pairs::record::resolve_image;
use duet_data::pairs::{Origin, PairType, SceneIndex, read_pairs};
use duet_data::shapeworld::Scene;
use rand::SeedableRng;
use rand::seq::SliceRandom;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pairs: PathBuf,
    /// The scenes.jsonl of the images' split.
    #[arg(long)]
    scenes: Vec<PathBuf>,
    /// δ the file was built with.
    #[arg(long, default_value_t = 0.6)]
    threshold: f32,
    /// Random pairings to average.
    #[arg(long, default_value_t = 20)]
    shuffles: usize,
}

/// Shared shapes, shared colours, same object count.
fn shared(a: &Scene, b: &Scene) -> [f64; 3] {
    let shapes = |s: &Scene| s.objects.iter().map(|o| o.shape).collect::<BTreeSet<_>>();
    let colors = |s: &Scene| s.objects.iter().map(|o| o.color).collect::<BTreeSet<_>>();
    [
        shapes(a).intersection(&shapes(b)).count() as f64,
        colors(a).intersection(&colors(b)).count() as f64,
        (a.objects.len() == b.objects.len()) as u8 as f64,
    ]
}

fn mean(rows: &[[f64; 3]]) -> [f64; 4] {
    let n = rows.len().max(1) as f64;
    let mut m = [0.0; 4];
    for r in rows {
        for k in 0..3 {
            m[k] += r[k] / n;
            m[3] += r[k] / n;
        }
    }
    m
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let pairs = read_pairs(&a.pairs)?;
    let scenes = SceneIndex::load(&a.scenes)?;
    let scene = |p: &str| {
        let path = resolve_image(&a.pairs, p);
        scenes
            .get(&path)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no scene for {}", path.display()))
    };
    let mut used = HashSet::new();
    let (mut aligned_u, mut aligned_g, mut retrieved) = (0, 0, Vec::new());
    for (i, r) in pairs.iter().enumerate() {
        let und_item = match (r.pair_type, r.origin) {
            (PairType::Aligned, Some(Origin::Generation)) => {
                aligned_g += 1;
                None
            }
            (PairType::Aligned, _) => {
                aligned_u += 1;
                Some(&r.understand_ann.id)
            }
            (PairType::Retrieved, _) => {
                ensure!(
                    r.similarity >= a.threshold,
                    "line {}: similarity {} < δ {}",
                    i + 1,
                    r.similarity,
                    a.threshold
                );
                retrieved.push((
                    scene(&r.generate_ann.image_path)?,
                    scene(&r.understand_ann.image_path)?,
                ));
                Some(&r.understand_ann.id)
            }
        };
        if let Some(id) = und_item
            && !used.insert(id.clone())
        {
            bail!("line {}: understanding item `{id}` is used twice", i + 1);
        }
    }
    println!(
        "pairs: {} = {} aligned ({aligned_u} from understanding, {aligned_g} from generation) + {} retrieved",
        pairs.len(),
        aligned_u + aligned_g,
        retrieved.len()
    );
    println!(
        "checked: no understanding item used twice; every retrieved similarity ≥ {}",
        a.threshold
    );
    let real: Vec<[f64; 3]> = retrieved.iter().map(|(g, u)| shared(g, u)).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut random = Vec::new();
    for _ in 0..a.shuffles {
        let mut us: Vec<&Scene> = retrieved.iter().map(|(_, u)| u).collect();
        us.shuffle(&mut rng);
        random.extend(retrieved.iter().zip(us).map(|((g, _), u)| shared(g, u)));
    }
    println!("mean shared attributes per pair   shapes  colours  same count  total");
    for (name, m) in [
        ("retrieved", mean(&real)),
        ("random (same items, shuffled)", mean(&random)),
    ] {
        println!(
            "  {name:<32} {:>6.3} {:>8.3} {:>11.3} {:>6.3}",
            m[0], m[1], m[2], m[3]
        );
    }
    Ok(())
}
