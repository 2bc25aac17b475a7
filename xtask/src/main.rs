//! `cargo xtask …`: measurements and maintenance that are too long for tests.

mod detector;
mod reference;

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
    /// Regenerates the committed reference split and checks it is
    /// byte-identical to what is in git.
    ReferenceData(reference::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Detector(a) => detector::run(a),
        Cmd::ReferenceData(a) => reference::run(a),
    }
}
