//! Finding and loading a model for the inference commands: a checkpoint
//! directory (HF layout: config.json, safetensors, tokenizer.json,
//! generation_config.json), a `duet pretrain` run directory (its newest SFT
//! checkpoint) or a `duet rl` output directory (its newest checkpoint).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Backend;
use duet_model::prompts::JanusTokenizer;
use duet_model::{GenerationIds, Janus, JanusConfig};

/// A loaded model with what sampling needs.
pub struct Loaded<B: Backend> {
    pub dir: PathBuf,
    pub cfg: JanusConfig,
    pub model: Janus<B>,
    pub tok: JanusTokenizer,
    pub ids: GenerationIds,
}

/// The checkpoint directory `path` stands for.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join("config.json").is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        bail!("{}: no such directory", path.display());
    }
    let run = path.join("sft");
    let dir = if run.is_dir() {
        run
    } else {
        path.to_path_buf()
    };
    duet_rl::checkpoint::latest(&dir)?.with_context(|| {
        format!(
            "{}: not a checkpoint (no config.json) and no checkpoint-N inside",
            dir.display()
        )
    })
}

/// Loads the model, tokenizer and generation ids of `path`.
pub fn load<B: Backend>(path: &Path, device: &B::Device) -> Result<Loaded<B>> {
    let dir = resolve(path)?;
    let (cfg, model) = duet_model::checkpoint::load::<B>(&dir, device)
        .with_context(|| format!("loading {}", dir.display()))?;
    let tok_path = dir.join("tokenizer.json");
    let tok = JanusTokenizer::from_file(&tok_path)
        .with_context(|| format!("loading {}", tok_path.display()))?;
    let ids = duet_model::checkpoint::read_generation_ids(&dir)?.with_context(|| {
        format!(
            "{}: no generation_config.json (bos/eos/pad ids and boi_token_id are read from it)",
            dir.display()
        )
    })?;
    Ok(Loaded {
        dir,
        cfg,
        model,
        tok,
        ids,
    })
}

/// The dataset split next to a `duet pretrain` run, when `model` is one.
pub fn default_split(model: &Path, split: &str) -> Option<PathBuf> {
    let d = model.join("data").join(split);
    d.join("understanding.jsonl").is_file().then_some(d)
}
