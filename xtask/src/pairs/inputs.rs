//! `cargo xtask pairs-inputs`: understanding and generation files from one
//! ShapeWorld split whose images do not overlap, so that retrieval has to
//! find similar scenes rather than the same ones (as between PairUni's
//! Orsta and BLIP3o sets).

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, ensure};
use duet_data::io::{read_jsonl, write_jsonl};
use serde_json::Value;

#[derive(clap::Args)]
pub struct Args {
    /// A split directory of a ShapeWorld dataset (holds understanding.jsonl,
    /// generation.jsonl, scenes.jsonl).
    #[arg(long)]
    split: PathBuf,
    /// Understanding items to take, in file order.
    #[arg(long, default_value_t = 5000)]
    und: usize,
    /// Generation items to take, in file order, among scenes no understanding
    /// item uses.
    #[arg(long = "gen", default_value_t = 5000)]
    gens: usize,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let und: Vec<Value> = read_jsonl(&a.split.join("understanding.jsonl"))?;
    let gens: Vec<Value> = read_jsonl(&a.split.join("generation.jsonl"))?;
    let image = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let und: Vec<Value> = und.into_iter().take(a.und).collect();
    let used: HashSet<String> = und.iter().map(|v| image(v, "image_1")).collect();
    let gens: Vec<Value> = gens
        .into_iter()
        .filter(|v| !used.contains(&image(v, "image")))
        .take(a.gens)
        .collect();
    ensure!(
        und.len() == a.und && gens.len() == a.gens,
        "{} has {} understanding and {} disjoint generation items; generate a larger dataset",
        a.split.display(),
        und.len(),
        gens.len()
    );
    let (uf, gf) = (
        a.split.join(format!("und{}.jsonl", a.und)),
        a.split.join(format!("gen{}.jsonl", a.gens)),
    );
    write_jsonl(&uf, &und).with_context(|| format!("writing {}", uf.display()))?;
    write_jsonl(&gf, &gens).with_context(|| format!("writing {}", gf.display()))?;
    println!(
        "{} understanding items on {} images → {}\n{} generation items on other images → {}",
        und.len(),
        used.len(),
        uf.display(),
        gens.len(),
        gf.display()
    );
    Ok(())
}
