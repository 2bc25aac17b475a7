//! `cargo xtask …`: measurements and maintenance that are too long for tests.

mod detector;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Detector(a) => detector::run(a),
    }
}
