//! `duet rl`: RL post-training (GRPO, PairGRPO, dual self-rewards, LVRPO)
//! from a TOML config or a built-in preset, resumable with `--resume`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use duet_rl::caption_eval::CaptionReport;
use duet_rl::eval::EvalReport;
use duet_rl::trainer::config::{PRESETS, RlConfig};
use duet_rl::trainer::{RlProgress, train};
use indicatif::ProgressBar;
use serde_json::Value;

#[derive(Args)]
pub struct RlArgs {
    /// Config file (TOML; may name a `preset` and override its keys).
    #[arg(long, conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// A built-in preset: grpo, pairgrpo, dual-grpo, dual-simpo, lvrpo.
    #[arg(long)]
    pub preset: Option<String>,
    /// Continue from the newest checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Overrides `output_dir`.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Overrides `base` (a `duet pretrain` run directory).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Overrides `max_steps`.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Overrides `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Skip the evaluation before training (its numbers depend only on the
    /// base, `seed` and `[final_eval]`, so one run of a comparison suffices).
    #[arg(long)]
    pub no_eval_on_start: bool,
    /// Print the merged config as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
}

struct Bar {
    bar: Option<ProgressBar>,
    t0: Instant,
}

fn short(m: &Value) -> String {
    let f = |k: &str| m.get(k).and_then(Value::as_f64);
    let mut s = format!("reward {:.3}", f("reward").unwrap_or(f64::NAN));
    if let Some(v) = f("understanding/reward") {
        s.push_str(&format!(" und {v:.3}"));
    }
    if let Some(v) = f("generation/reward") {
        s.push_str(&format!(" gen {v:.3}"));
    }
    if let Some(v) = f("eval/geneval_overall") {
        s.push_str(&format!(
            " | eval geneval {v:.3} mc {:.3}",
            f("eval/mc_accuracy").unwrap_or(f64::NAN)
        ));
    }
    s
}

impl RlProgress for Bar {
    fn start(&mut self, total: usize, done: usize) {
        let bar = crate::progress::bar("rl", total);
        bar.set_position(done as u64);
        self.bar = Some(bar);
        self.t0 = Instant::now();
    }
    fn step(&mut self, step: usize, m: &Value) {
        let msg = short(m);
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(msg.clone());
            if b.is_hidden() {
                eprintln!(
                    "step {:>4}: {msg} ({:.0} s)",
                    step + 1,
                    self.t0.elapsed().as_secs_f64()
                );
            }
        }
    }
    fn message(&mut self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }
}

fn table(before: Option<&EvalReport>, after: &EvalReport) {
    let b =
        |f: &dyn Fn(&EvalReport) -> f64| before.map_or("-".to_string(), |r| format!("{:.3}", f(r)));
    println!("{:<24} {:>8} {:>8}", "held-out", "before", "after");
    println!(
        "{:<24} {:>8} {:>8.3}",
        "GenEval overall",
        b(&|r| r.geneval.overall),
        after.geneval.overall
    );
    for (task, t) in &after.geneval.tasks {
        let name = format!(
            "  {}",
            serde_json::to_value(task)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        );
        println!(
            "{:<24} {:>8} {:>8.3}",
            name,
            b(&|r| r.geneval.tasks.get(task).map_or(f64::NAN, |x| x.acc())),
            t.acc()
        );
    }
    println!(
        "{:<24} {:>8} {:>8.3}",
        "MC accuracy",
        b(&|r| r.mc_accuracy),
        after.mc_accuracy
    );
    for (ty, t) in &after.mc_by_type {
        println!(
            "{:<24} {:>8} {:>8.3}",
            format!("  {ty}"),
            b(&|r| r.mc_by_type.get(ty).map_or(f64::NAN, |x| x.acc())),
            t.acc()
        );
    }
    if let Some(c) = &after.captions {
        type Pick = fn(&CaptionReport) -> f64;
        let rows: [(&str, Pick); 5] = [
            ("caption correct", |c| c.caption.acc()),
            ("caption exact", |c| c.caption_exact.acc()),
            ("caption sampled correct", |c| c.caption_sampled.acc()),
            ("caption -> image", |c| c.caption_to_image.acc()),
            ("caption -> image dense", |c| c.caption_to_image_dense),
        ];
        for (name, f) in rows {
            println!(
                "{:<24} {:>8} {:>8.3}",
                name,
                b(&|r| r.captions.as_ref().map_or(f64::NAN, f)),
                f(c)
            );
        }
    }
}

pub fn run(args: RlArgs, backend: crate::backend::BackendKind) -> Result<()> {
    let mut cfg = match (&args.config, &args.preset) {
        (Some(path), _) => RlConfig::from_file(path)?,
        (None, Some(name)) => RlConfig::preset(name)?,
        (None, None) => bail!(
            "give --config FILE or --preset NAME (presets: {})",
            PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        ),
    };
    if let Some(d) = args.output_dir {
        cfg.output_dir = d;
    }
    if let Some(b) = args.base {
        cfg.base = Some(b);
    }
    if let Some(n) = args.max_steps {
        cfg.max_steps = n;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if args.no_eval_on_start {
        cfg.eval_on_start = false;
    }
    if args.print_config {
        println!(
            "{}",
            serde_json::to_string_pretty(&cfg).expect("plain data")
        );
        return Ok(());
    }
    let mut bar = Bar {
        bar: None,
        t0: Instant::now(),
    };
    let t0 = Instant::now();
    let summary = crate::backend::with_backend!(backend, B, dev => {
        Ok::<_, anyhow::Error>(train::<burn::backend::Autodiff<B>>(&cfg, args.resume, &dev, &mut bar))
    })?
    .with_context(|| format!("RL run into {}", cfg.output_dir.display()))?;
    if let Some(b) = bar.bar.take() {
        b.finish_and_clear();
    }
    eprintln!(
        "{} steps in {:.1} s",
        summary.steps,
        t0.elapsed().as_secs_f64()
    );
    table(summary.before.as_ref(), &summary.after);
    println!(
        "metrics: {}",
        summary.output_dir.join("metrics.jsonl").display()
    );
    Ok(())
}
