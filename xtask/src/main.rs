//! `cargo xtask …`: measurements and maintenance that are too long for tests.

mod bench;
mod bench_baseline;
mod detector;
mod pairs;
mod results;

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
    /// Benchmarks against HF transformers + PyTorch (docs/benchmarks.md).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// docs/results.md from a `duet demo` run directory.
    Results(results::Args),
    /// The wgpu smoke test (duet-model's `wgpu_smoke`): CPU vs wgpu forward
    /// and decode; needs a Vulkan driver (lavapipe works).
    TestWgpu,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Detector(a) => detector::run(a),
        Cmd::PairsInputs(a) => pairs::inputs::run(a),
        Cmd::PairsReport(a) => pairs::report::run(a),
        Cmd::PairsRecall(a) => pairs::recall::run(a),
        Cmd::Results(a) => results::run(a),
        Cmd::Bench(c) => bench::run(c),
        Cmd::TestWgpu => {
            let status =
                std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
                    .args([
                        "test",
                        "-p",
                        "duet-model",
                        "--features",
                        "wgpu",
                        "--test",
                        "wgpu_smoke",
                        "--",
                        "--nocapture",
                    ])
                    .status()?;
            anyhow::ensure!(status.success(), "the wgpu smoke test failed ({status})");
            Ok(())
        }
    }
}
