//! `cargo xtask pairs-recall`: recall@1 of the HNSW index against exact
//! search on the pixel features of a ShapeWorld split's images, and the time
//! each takes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::ensure;
use duet_data::pairs::embed::l2_normalise;
use duet_data::pairs::hnsw::{HnswIndex, HnswOptions, recall_at_1};
use duet_data::pairs::matrix::Features;
use duet_data::pairs::search::{ExactIndex, NeighbourIndex};
use duet_data::pairs::{ImageEmbedder, PixelEmbedder, read_gen_items};
use rayon::prelude::*;

#[derive(clap::Args)]
pub struct Args {
    /// A split directory with generation.jsonl (one image per scene).
    #[arg(long)]
    split: PathBuf,
    /// Images in the index.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Query images (the ones after the indexed ones).
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    #[arg(long, default_value_t = 64)]
    ef_search: usize,
    #[arg(long, default_value_t = 100)]
    ef_construction: usize,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let items = read_gen_items(&a.split.join("generation.jsonl"))?;
    ensure!(
        items.len() >= a.n + a.queries,
        "{} images; need {}",
        items.len(),
        a.n + a.queries
    );
    let paths: Vec<&std::path::Path> = items[..a.n + a.queries]
        .iter()
        .map(|i| i.image_path())
        .collect();
    let t = Instant::now();
    let mut feats = PixelEmbedder::default().embed(&paths)?;
    l2_normalise(&mut feats, &paths, "pixels")?;
    println!(
        "embedded {} images in {:.1} s",
        paths.len(),
        t.elapsed().as_secs_f64()
    );
    let x = Features::from_rows(&feats);
    let rows: Vec<usize> = (0..a.n).collect();
    let queries: Vec<&[f32]> = (a.n..a.n + a.queries).map(|i| x.row(i)).collect();
    let exact = ExactIndex { x: &x, rows: &rows };
    let t = Instant::now();
    let opts = HnswOptions {
        ef_construction: a.ef_construction,
        ef_search: a.ef_search,
        seed: 0,
    };
    let hnsw = HnswIndex::build(&x, &rows, opts);
    println!(
        "HNSW build ({} points, ef_construction {}): {:.2} s",
        a.n,
        a.ef_construction,
        t.elapsed().as_secs_f64()
    );
    let time = |idx: &dyn NeighbourIndex| {
        let t = Instant::now();
        let _: Vec<_> = queries.par_iter().map(|q| idx.search(q, 1)).collect();
        t.elapsed().as_secs_f64()
    };
    let (te, th) = (time(&exact), time(&hnsw));
    println!(
        "{} queries: exact {:.2} s, HNSW (ef_search {}) {:.2} s",
        queries.len(),
        te,
        a.ef_search,
        th
    );
    let r = recall_at_1(&exact, &hnsw, &queries);
    println!("recall@1 (HNSW top-1 similarity = exact top-1 similarity): {r:.4}");
    Ok(())
}
