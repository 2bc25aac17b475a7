//! `duet eval …`

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use duet_data::io::{read_jsonl, write_json, write_jsonl};
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::ShapeWorldConfig;
use duet_data::shapeworld::dataset::{guard_against_train_prompts, train_file_for};
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::{Summary, Thresholds, score_dir};
use duet_eval::mmmu;

use duet_rl::eval::{EvalConfig, Split, evaluate_with, write_outputs};

use crate::progress::bar;

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Score images in GenEval's folder layout with GenEval's rules and the
    /// ShapeWorld detector.
    Geneval(GenevalArgs),
    /// Score MMMU-format predictions against an MMMU answer file.
    Mmmu(MmmuArgs),
    /// Run a checkpoint over a ShapeWorld split: answer every MC item,
    /// draw every GenEval prompt, and write GenEval's image folder, MMMU's
    /// output files and the scores.
    Model(ModelArgs),
}

#[derive(Args)]
pub struct ModelArgs {
    /// Checkpoint, `duet pretrain` run or `duet rl` output directory.
    #[arg(long)]
    model: PathBuf,
    /// Split directory (understanding.jsonl, evaluation_metadata.jsonl);
    /// default: `<model>/data/test` when `--model` is a pretrain run.
    #[arg(long)]
    split: Option<PathBuf>,
    /// Output directory: geneval/, mmmu/<subject>/output.json, scores.json.
    #[arg(long)]
    out: PathBuf,
    /// MC items to answer (0 = all).
    #[arg(long, default_value_t = 0)]
    max_mc_items: usize,
    /// GenEval prompts to draw (0 = all).
    #[arg(long, default_value_t = 0)]
    max_prompts: usize,
    #[arg(long, default_value_t = 4)]
    images_per_prompt: usize,
    #[arg(long, default_value_t = 5.0)]
    cfg_scale: f64,
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Test scenes to caption and to draw from their reference captions
    /// (needs the split's scenes.jsonl; 0 = skip).
    #[arg(long, default_value_t = 0)]
    caption_scenes: usize,
}

#[derive(Args)]
pub struct GenevalArgs {
    /// Directory of prompt folders (00000/metadata.jsonl, 00000/samples/0000.png, …).
    #[arg(long)]
    images: PathBuf,
    /// The prompt suite (evaluation_metadata.jsonl): every folder's metadata
    /// must be one of its lines. When it lies in a ShapeWorld dataset, its
    /// training split is checked for overlap automatically.
    #[arg(long)]
    metadata: Option<PathBuf>,
    /// A training file (JSONL with `prompt`) whose prompts must not be
    /// evaluated on; repeatable.
    #[arg(long)]
    train: Vec<PathBuf>,
    /// Per-image results (GenEval's JSONL); default `<images>/results.jsonl`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Image side the scenes were drawn at (sets the detector's noise floor).
    #[arg(long, default_value_t = 64)]
    size: u32,
}

#[derive(Args)]
pub struct MmmuArgs {
    /// MMMU answer file (id → {question_type, ground_truth}).
    #[arg(long)]
    answers: PathBuf,
    /// Predictions: a JSON file (id → answer) or a directory of
    /// `<Subject>/output.json` lists with raw responses.
    #[arg(long)]
    predictions: PathBuf,
    /// Also write the scores as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(cmd: EvalCmd, backend: crate::backend::BackendKind) -> anyhow::Result<()> {
    match cmd {
        EvalCmd::Geneval(a) => geneval(a),
        EvalCmd::Model(a) => {
            crate::backend::with_backend!(backend, B, dev => model_eval::<B>(a, &dev))
        }
        EvalCmd::Mmmu(a) => {
            let answers = mmmu::read_answers(&a.answers)?;
            let preds = mmmu::read_predictions(&a.predictions)?;
            let report = mmmu::score(&preds, &answers, &a.answers)?;
            println!("{report}");
            if let Some(out) = a.out {
                write_json(&out, &report).with_context(|| format!("writing {}", out.display()))?;
            }
            Ok(())
        }
    }
}

fn geneval(a: GenevalArgs) -> anyhow::Result<()> {
    let folders = duet_eval::geneval::read_image_dir(&a.images)?;
    let evaluated: Vec<GenEvalMetadata> = folders.iter().map(|f| f.metadata.clone()).collect();
    let mut train_files = a.train.clone();
    if let Some(meta_path) = &a.metadata {
        let suite: Vec<GenEvalMetadata> = read_jsonl(meta_path)?;
        for f in &folders {
            if !suite.contains(&f.metadata) {
                bail!(
                    "{}: prompt `{}` is not in {}",
                    f.dir.join("metadata.jsonl").display(),
                    f.metadata.prompt,
                    meta_path.display()
                );
            }
        }
        let missing = suite.iter().filter(|m| !evaluated.contains(m)).count();
        if missing > 0 {
            eprintln!(
                "warning: {missing} prompt(s) of {} have no image folder",
                meta_path.display()
            );
        }
        train_files.extend(train_file_for(meta_path));
    }
    for train in &train_files {
        guard_against_train_prompts(&evaluated, &a.images, train)?;
    }
    let det = ShapeDetector::new(&ShapeWorldConfig::with_size(a.size));
    let total: usize = folders.iter().map(|f| f.samples.len()).sum();
    let pb = bar("images", total);
    let (_, results) = score_dir(&a.images, &det, &Thresholds::default(), |d, _| {
        pb.set_position(d as u64)
    })?;
    pb.finish_and_clear();
    let out = a.out.unwrap_or_else(|| a.images.join("results.jsonl"));
    write_jsonl(&out, &results).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", Summary::from_results(&results));
    println!("per-image results: {}", out.display());
    Ok(())
}

fn model_eval<B: burn::prelude::Backend>(a: ModelArgs, device: &B::Device) -> anyhow::Result<()> {
    let split_dir = match a.split {
        Some(s) => s,
        None => super::model::default_split(&a.model, "test").with_context(|| {
            format!(
                "{}: no data/test inside; pass --split DIR",
                a.model.display()
            )
        })?,
    };
    let m = super::model::load::<B>(&a.model, device)?;
    let split = Split::read(&split_dir)?;
    let cfg = EvalConfig {
        max_mc_items: a.max_mc_items,
        max_prompts: a.max_prompts,
        images_per_prompt: a.images_per_prompt,
        cfg_scale: a.cfg_scale,
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
        batch_size: a.batch_size,
        caption_scenes: a.caption_scenes,
    };
    let pb = bar("eval", 0);
    let report = evaluate_with(&m.model, &m.tok, &m.ids, &split, &cfg, &mut |d, t| {
        pb.set_length(t as u64);
        pb.set_position(d as u64);
    })?;
    pb.finish_and_clear();
    write_outputs(&report, cfg.images_per_prompt, &a.out)?;
    println!("model {} on {}", m.dir.display(), split_dir.display());
    println!(
        "MC accuracy {:.3} ({} items)",
        report.mc_accuracy,
        report.mc_outputs.len()
    );
    for (t, tally) in &report.mc_by_type {
        println!(
            "  {t:<16} {:.3} ({}/{})",
            tally.acc(),
            tally.correct,
            tally.num
        );
    }
    println!("{}", report.geneval);
    if let Some(c) = &report.captions {
        println!(
            "captions: correct {:.3} ({}/{}), exact {:.3}, sampled correct {:.3} ({}/{}); caption -> image correct {:.3} (dense {:.3})",
            c.caption.acc(),
            c.caption.correct,
            c.caption.num,
            c.caption_exact.acc(),
            c.caption_sampled.acc(),
            c.caption_sampled.correct,
            c.caption_sampled.num,
            c.caption_to_image.acc(),
            c.caption_to_image_dense
        );
    }
    println!("outputs: {}", a.out.display());
    Ok(())
}
