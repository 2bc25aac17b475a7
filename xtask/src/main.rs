//! `cargo xtask …`: measurements and maintenance that are too long for tests.

mod detector;
mod pairs;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "duet project automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measures ShapeDetector's exact-scene recovery on fresh scenes, clean
    /// and after blur + noise + JPEG.
    Detector(detector::Args),
    /// Understanding and generation subsets of a ShapeWorld split on
    /// disjoint images, as inputs for `duet pairs build`.
    PairsInputs(pairs::inputs::Args),
    /// Checks a pairs file's rules and compares shared scene attributes of
    /// retrieved pairs with random pairs.
    PairsReport(pairs::report::Args),
    /// HNSW recall@1 against exact search on ShapeWorld pixel features.
    PairsRecall(pairs::recall::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Detector(a) => detector::run(a),
        Cmd::PairsInputs(a) => pairs::inputs::run(a),
        Cmd::PairsReport(a) => pairs::report::run(a),
        Cmd::PairsRecall(a) => pairs::recall::run(a),
    }
}
