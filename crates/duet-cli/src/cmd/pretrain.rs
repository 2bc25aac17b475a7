//! `duet pretrain`: the stages that build the embedded ShapeWorld base
//! model from a recipe file, each resumable with `--resume`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use duet_rl::pretrain::recipe::{self, Progress, Recipe, RunLayout, Stage};
use indicatif::ProgressBar;

#[derive(Subcommand)]
pub enum PretrainCmd {
    /// Train the VQ-VAE image tokenizer.
    Vq(StageArgs),
    /// Train the contrastive image–text encoder.
    Encoder(StageArgs),
    /// Supervised fine-tuning of the unified model (needs vq and encoder).
    Sft(StageArgs),
    /// Every stage in order, then the held-out evaluation of the base.
    All(StageArgs),
}

#[derive(Args)]
pub struct StageArgs {
    /// Recipe file (TOML).
    #[arg(long, default_value = "recipes/shapeworld-base.toml")]
    pub recipe: PathBuf,
    /// Run directory: data, tokenizer and one checkpoint folder per stage.
    #[arg(long, default_value = "runs/base")]
    pub out: PathBuf,
    /// Continue from the newest checkpoint of each stage.
    #[arg(long)]
    pub resume: bool,
}

/// Progress bars with the last metrics as the message.
struct Bars {
    bar: Option<ProgressBar>,
    name: String,
    start: Instant,
}

impl Progress for Bars {
    fn stage(&mut self, name: &str, total: usize, done: usize) {
        let bar = crate::progress::bar(name, total);
        bar.set_position(done as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} {msg} ({elapsed} elapsed, {eta} left)",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        self.bar = Some(bar);
        self.name = name.to_string();
        self.start = Instant::now();
    }
    fn step(&mut self, _step: usize, message: String) {
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(message);
        }
    }
    fn finish(&mut self, message: String) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("{message} ({:.1} s)", self.start.elapsed().as_secs_f64());
    }
}

pub fn run(cmd: PretrainCmd, backend: crate::backend::BackendKind) -> Result<()> {
    crate::backend::with_backend!(backend, B, dev => run_on::<B>(cmd, &dev))
}

fn run_on<B: burn::prelude::Backend>(cmd: PretrainCmd, device: &B::Device) -> Result<()> {
    let measure = matches!(cmd, PretrainCmd::All(_));
    let (args, stages): (StageArgs, &[Stage]) = match cmd {
        PretrainCmd::Vq(a) => (a, &[Stage::Vq]),
        PretrainCmd::Encoder(a) => (a, &[Stage::Encoder]),
        PretrainCmd::Sft(a) => (a, &[Stage::Sft]),
        PretrainCmd::All(a) => (a, &[Stage::Vq, Stage::Encoder, Stage::Sft]),
    };
    let recipe = Recipe::from_file(&args.recipe)?;
    let layout = RunLayout {
        root: args.out.clone(),
    };
    let mut bars = Bars {
        bar: None,
        name: String::new(),
        start: Instant::now(),
    };
    let t0 = Instant::now();
    let base = recipe::run::<burn::backend::Autodiff<B>>(
        &recipe,
        &layout,
        stages,
        args.resume,
        device,
        &mut bars,
    )
    .with_context(|| format!("pretraining with {}", args.recipe.display()))?;
    eprintln!("stages done in {:.1} s", t0.elapsed().as_secs_f64());
    if let Some(dir) = base {
        println!("base model: {}", dir.display());
    }
    if measure {
        let t = Instant::now();
        let r = duet_rl::pretrain::report::measure::<B>(&recipe, &layout, device)
            .context("measuring the run")?;
        let path = args.out.join("report.json");
        let text = serde_json::to_string_pretty(&r).expect("plain data");
        duet_data::io::write_atomic(&path, text.as_bytes())?;
        println!(
            "VQ ({} held-out scenes): PSNR {:.2} dB, codebook usage {:.2}, exact-scene recovery {:.1} %",
            r.vq.scenes,
            r.vq.psnr_db,
            r.vq.codebook_usage,
            100.0 * r.vq.exact_recovery
        );
        println!(
            "encoder: image→caption top-1 {:.1} % among {} held-out scenes",
            100.0 * r.encoder_retrieval_top1,
            r.encoder_retrieval_scenes
        );
        println!(
            "base MC accuracy {:.3} ({} unparsed)",
            r.base.mc_accuracy, r.base.mc_unparsed
        );
        for (k, v) in &r.mc_accuracy_by_type {
            println!("  {k:<16} {v:.3}");
        }
        println!("base GenEval overall {:.3}", r.base.geneval.overall);
        for (k, v) in &r.geneval_by_task {
            println!("  {k:<16} {v:.3}");
        }
        println!(
            "report: {} (measured in {:.1} s)",
            path.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
