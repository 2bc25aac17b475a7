//! The committed reference split under `datasets/shapeworld/`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use duet_data::shapeworld::{GenerateOptions, generate};

/// The reference split's parameters; `datasets/shapeworld/README.md` quotes them.
pub const N: usize = 300;
pub const SEED: u64 = 0;

#[derive(clap::Args)]
pub struct Args {
    /// Only check: regenerate into a temporary directory and compare.
    #[arg(long)]
    check: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("datasets/shapeworld");
    let opts = GenerateOptions::new(N, SEED);
    if !a.check {
        generate(&target, &opts, |_, _| {})?;
        println!("wrote {}", target.display());
        return Ok(());
    }
    let tmp = std::env::temp_dir().join(format!("duet-reference-{}", std::process::id()));
    generate(&tmp, &opts, |_, _| {})?;
    let status = Command::new("diff")
        .args(["-r", "-x", "README.md"])
        .arg(&tmp)
        .arg(&target)
        .status()
        .context("running diff")?;
    std::fs::remove_dir_all(&tmp).ok();
    if !status.success() {
        bail!(
            "regenerated reference split differs from {}",
            target.display()
        );
    }
    println!("reference split is byte-identical to a fresh regeneration");
    Ok(())
}
