//! `duet data …`

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use duet_data::io::read_jsonl;
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::{
    GenerateOptions, Layout, OptionOrder, ShapeWorldConfig, generate, realise, render,
};
use duet_eval::geneval::write_prompt_folder;
use rand::SeedableRng;

use crate::progress::bar;

#[derive(Subcommand)]
pub enum DataCmd {
    /// Generate a ShapeWorld dataset: train/val/test splits of PNG scenes with
    /// GenEval prompts, MMMU-style questions and captions.
    Shapeworld(ShapeworldArgs),
    /// Render ground-truth images for GenEval prompts into GenEval's folder
    /// layout (an oracle generator: every image satisfies its prompt).
    RenderGeneval(RenderArgs),
    /// Split a split's items into disjoint halves for pairing: understanding
    /// items of even scenes (und_half.jsonl), generation items of odd scenes
    /// (gen_half.jsonl), written into the split directory.
    Halves(HalvesArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LayoutArg {
    Free,
    Grid,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OptionOrderArg {
    Shuffled,
    Canonical,
}

impl From<OptionOrderArg> for OptionOrder {
    fn from(o: OptionOrderArg) -> OptionOrder {
        match o {
            OptionOrderArg::Shuffled => OptionOrder::Shuffled,
            OptionOrderArg::Canonical => OptionOrder::Canonical,
        }
    }
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Layout {
        match l {
            LayoutArg::Free => Layout::Free,
            LayoutArg::Grid => Layout::Grid,
        }
    }
}

#[derive(Args)]
pub struct HalvesArgs {
    /// Split directory (understanding.jsonl, generation.jsonl).
    #[arg(long)]
    split: PathBuf,
}

#[derive(Args)]
pub struct ShapeworldArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Scenes in all splits together (80 % train, 10 % val, 10 % test).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Object layout: anywhere (`free`) or on whole cells of an 8×8 grid (`grid`).
    #[arg(long, value_enum, default_value = "free")]
    layout: LayoutArg,
    /// Multiple-choice options: at random letters (`shuffled`) or in
    /// vocabulary order with closed sets in full (`canonical`).
    #[arg(long, value_enum, default_value = "shuffled")]
    option_order: OptionOrderArg,
    /// Also write an `rl` split of this many fresh scenes of the training
    /// prompts (not counted in --n; train/val/test are unchanged): RL items
    /// that supervised training never saw.
    #[arg(long, default_value_t = 0)]
    rl: usize,
}

#[derive(Args)]
pub struct RenderArgs {
    /// GenEval metadata (evaluation_metadata.jsonl).
    #[arg(long)]
    metadata: PathBuf,
    /// Output directory (GenEval layout: 00000/metadata.jsonl, samples/0000.png…).
    #[arg(long)]
    out: PathBuf,
    /// Images per prompt (GenEval uses 4).
    #[arg(long, default_value_t = 4)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 64)]
    size: u32,
}

pub fn run(cmd: DataCmd) -> anyhow::Result<()> {
    match cmd {
        DataCmd::Shapeworld(a) => {
            let mut opts = GenerateOptions::new(a.n, a.seed);
            opts.config = ShapeWorldConfig::with_layout(a.size, a.layout.into());
            opts.config.option_order = a.option_order.into();
            opts.rl_n = a.rl;
            let pb = bar("scenes", a.n + a.rl);
            let manifest = generate(&a.out, &opts, |done, _| pb.set_position(done as u64))
                .with_context(|| format!("generating ShapeWorld into {}", a.out.display()))?;
            pb.finish_and_clear();
            for (split, s) in &manifest.splits {
                println!(
                    "{split:>5}: {} scenes, {} distinct prompts, {} MC items",
                    s.scenes, s.prompts, s.mc_items
                );
            }
            println!("wrote {}", a.out.display());
        }
        DataCmd::Halves(a) => {
            let (u, g) = duet_data::shapeworld::halves::write_halves(&a.split)?;
            println!(
                "{}: {u} understanding items (even scenes) in und_half.jsonl, {g} generation items (odd scenes) in gen_half.jsonl",
                a.split.display()
            );
        }
        DataCmd::RenderGeneval(a) => {
            let prompts: Vec<GenEvalMetadata> = read_jsonl(&a.metadata)?;
            let cfg = ShapeWorldConfig::with_size(a.size);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
            let pb = bar("prompts", prompts.len());
            for (i, m) in prompts.iter().enumerate() {
                let images = (0..a.samples)
                    .map(|_| realise(m, &cfg, &mut rng).map(|s| render(&s, &cfg)))
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("{}: prompt {}", a.metadata.display(), i + 1))?;
                write_prompt_folder(&a.out, i, m, &images)?;
                pb.inc(1);
            }
            pb.finish_and_clear();
            println!(
                "wrote {} prompt folders to {}",
                prompts.len(),
                a.out.display()
            );
        }
    }
    Ok(())
}
