//! The RL trainer: rollouts → rewards → advantages → update, every step,
//! with TRL/verl metric names in `metrics.jsonl`, periodic held-out
//! evaluation independent of the reward, and HF-Trainer-layout checkpoints
//! (model, optimizer, trainer state with the data cursor; the step's RNG is
//! derived from `(seed, step)`) that `--resume` continues from.

pub mod balance;
pub mod batch;
pub mod config;
pub mod data;
pub mod metrics;
pub mod rollout;
pub mod simpo;
pub mod update;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use duet_model::Janus;
use duet_model::prompts::JanusTokenizer;
use rand::Rng;
use serde_json::Value;

use self::batch::{Cursor, StepCtx};
use self::config::{Algorithm, RlConfig};
use crate::checkpoint::{self, OPTIMIZER, SavePolicy, step_rng};
use crate::error::{Result, RlError};
use crate::eval::{EvalReport, Split, evaluate};
use crate::optim::{AdamW, AdamWConfig, learning_rate};
use crate::rewards::{self, Reward, RewardKind};

/// Paths a config resolves to.
#[derive(Debug, Clone)]
pub struct Paths {
    pub model: PathBuf,
    pub dataset: PathBuf,
    pub pairs: Option<PathBuf>,
    pub encoder: Option<PathBuf>,
}

fn latest_in(dir: &Path) -> Result<PathBuf> {
    checkpoint::latest(dir)?.ok_or_else(|| RlError::Checkpoint {
        path: dir.display().to_string(),
        message: "no finished checkpoint here (run `duet pretrain` first)".into(),
    })
}

/// Resolves the model, dataset, pairs and encoder paths of `cfg`.
pub fn resolve(cfg: &RlConfig) -> Result<Paths> {
    let base = cfg.base.as_deref();
    let cfg_err = |m: &str| RlError::Config {
        path: "rl config".into(),
        message: m.into(),
    };
    let model = match (&cfg.model_name_or_path, base) {
        (Some(p), _) => p.clone(),
        (None, Some(b)) => latest_in(&b.join("sft"))?,
        (None, None) => return Err(cfg_err("set `base` or `model_name_or_path`")),
    };
    let dataset = match (&cfg.dataset, base) {
        (Some(p), _) => p.clone(),
        (None, Some(b)) => b.join("data"),
        (None, None) => return Err(cfg_err("set `base` or `dataset`")),
    };
    let pairs = cfg.pairs.as_ref().map(|p| match base {
        Some(b) if p.is_relative() && !p.exists() => b.join(p),
        _ => p.clone(),
    });
    let encoder = match base {
        Some(b) if b.join("encoder").is_dir() => checkpoint::latest(&b.join("encoder"))?,
        _ => None,
    };
    Ok(Paths {
        model,
        dataset,
        pairs,
        encoder,
    })
}

/// A reward function written in Rust and its weight.
pub type WeightedReward<B> = (Box<dyn Reward<B>>, f64);

/// What a finished run reports.
pub struct RunSummary {
    pub before: Option<EvalReport>,
    pub after: EvalReport,
    pub steps: usize,
    pub output_dir: PathBuf,
}

/// Called after every step with its metrics line, and with messages.
pub trait RlProgress {
    fn start(&mut self, total: usize, done: usize);
    fn step(&mut self, step: usize, metrics: &Value);
    fn message(&mut self, text: &str);
}

/// No progress output.
pub struct Quiet;
impl RlProgress for Quiet {
    fn start(&mut self, _: usize, _: usize) {}
    fn step(&mut self, _: usize, _: &Value) {}
    fn message(&mut self, _: &str) {}
}

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).expect("plain data");
    Ok(duet_data::io::write_atomic(path, text.as_bytes())?)
}

/// Runs (or with `resume`, continues) the RL run `cfg` describes.
pub fn train<B: AutodiffBackend>(
    cfg: &RlConfig,
    resume: bool,
    device: &B::Device,
    progress: &mut dyn RlProgress,
) -> Result<RunSummary> {
    train_with::<B>(cfg, resume, device, progress, Vec::new())
}

/// [`train`] with extra reward functions written in Rust (each with its
/// weight), scored after the config's `[[rewards]]`.
pub fn train_with<B: AutodiffBackend>(
    cfg: &RlConfig,
    resume: bool,
    device: &B::Device,
    progress: &mut dyn RlProgress,
    custom: Vec<WeightedReward<B::InnerBackend>>,
) -> Result<RunSummary> {
    let paths = resolve(cfg)?;
    let out = cfg.output_dir.clone();
    std::fs::create_dir_all(&out).map_err(|e| RlError::io(&out, e))?;
    let (jcfg, mut model) = duet_model::checkpoint::load::<B>(&paths.model, device)?;
    let ids = duet_model::checkpoint::read_generation_ids(&paths.model)?.ok_or_else(|| {
        RlError::Checkpoint {
            path: paths.model.display().to_string(),
            message: "no generation_config.json".into(),
        }
    })?;
    let tok_path = paths.model.join("tokenizer.json");
    let tok = JanusTokenizer::from_file(&tok_path)?;
    let needs_frozen = cfg.beta != 0.0 || cfg.rewards.iter().any(|r| r.needs_frozen());
    let frozen: Option<Janus<B::InnerBackend>> = if needs_frozen {
        Some(duet_model::checkpoint::load::<B::InnerBackend>(&paths.model, device)?.1)
    } else {
        None
    };
    // Rewards that read the encoder default to the base's.
    let mut specs = cfg.rewards.clone();
    for s in &mut specs {
        let name = s.metric_name();
        if let RewardKind::ContrastiveCosine { encoder } | RewardKind::DenseGrounding { encoder } =
            &mut s.kind
            && encoder.as_os_str().is_empty()
        {
            *encoder = paths.encoder.clone().ok_or_else(|| RlError::Config {
                path: "rl config".into(),
                message: format!("reward `{name}` needs `encoder` (no base encoder found)"),
            })?;
        }
    }
    let mut reward_fns = rewards::build::<B::InnerBackend>(&specs, device)?;
    let mut weights: Vec<f64> = specs.iter().map(|s| s.weight).collect();
    for (r, w) in custom {
        reward_fns.push(r);
        weights.push(w);
    }
    if reward_fns.is_empty() {
        return Err(RlError::Config {
            path: "rl config".into(),
            message: "no rewards: add [[rewards]]".into(),
        });
    }
    let names: Vec<String> = reward_fns.iter().map(|r| r.name().to_string()).collect();
    let train_dir = paths.dataset.join(&cfg.dataset_train_split);
    if !train_dir.join("scenes.jsonl").is_file() {
        return Err(RlError::Config {
            path: "rl config".into(),
            message: format!(
                "dataset_train_split = \"{}\": {} has no scenes.jsonl (an `rl` split comes from \
                 the recipe's `[data] rl = N` or `duet data shapeworld --rl N`)",
                cfg.dataset_train_split,
                train_dir.display()
            ),
        });
    }
    progress.message(&format!("loading data from {}", train_dir.display()));
    let mut data = data::read_split(
        &train_dir,
        cfg.understanding_task,
        cfg.generation_prompt,
        paths.pairs.as_deref(),
        &model.valid(),
    )?;
    (data.und_draws, data.pair_draws) = balance::draw_lists(&data, cfg.mc_draws, cfg.seed);
    let eval_split = Split::read(&paths.dataset.join(&cfg.eval_split))?;
    let final_split = Split::read(&paths.dataset.join(&cfg.final_eval_split))?;

    // Resume or start.
    let adam = AdamWConfig {
        ..cfg.optimizer.clone()
    };
    let mut optim = AdamW::<B::InnerBackend>::new(adam.clone());
    let mut start = 0;
    let mut history: Vec<Value> = Vec::new();
    let mut cursor = Cursor::default();
    match checkpoint::latest(&out)? {
        Some(dir) if resume => {
            let state = checkpoint::read_state(&dir)?;
            model = duet_model::checkpoint::load::<B>(&dir, device)?.1;
            optim = AdamW::load(adam.clone(), &model, &dir.join(OPTIMIZER), device)?;
            start = state.global_step;
            history = state.log_history;
            cursor = serde_json::from_value(state.extra["cursor"].clone()).map_err(|e| {
                RlError::Checkpoint {
                    path: dir.display().to_string(),
                    message: format!("trainer_state.json: bad `extra.cursor`: {e}"),
                }
            })?;
            progress.message(&format!("resuming from {} (step {start})", dir.display()));
        }
        Some(dir) => {
            return Err(RlError::Checkpoint {
                path: dir.display().to_string(),
                message: "the output directory already has checkpoints; pass --resume to continue, or choose another output_dir".into(),
            });
        }
        None => {}
    }
    if cfg.freeze_vision_modules {
        // No gradients, so AdamW leaves these weights (and keeps no moments).
        model.vision_model = model.vision_model.no_grad();
    }
    metrics::rewrite(&out.join("metrics.jsonl"), &history)?;
    write_json(&out.join("rl_config.json"), cfg)?;

    let before = if cfg.eval_on_start {
        let path = out.join("eval_before.json");
        if resume && path.is_file() {
            None
        } else {
            progress.message(&format!(
                "evaluating the start model on `{}`",
                cfg.final_eval_split
            ));
            let r = evaluate(&model.valid(), &tok, &ids, &final_split, &cfg.final_eval)?;
            write_json(&path, &metrics::eval_json(&r))?;
            Some(r)
        }
    } else {
        None
    };

    let policy_save = SavePolicy {
        max_steps: cfg.max_steps,
        save_steps: cfg.save_steps,
        save_total_limit: cfg.save_total_limit,
        seed: cfg.seed,
    };
    progress.start(cfg.max_steps, start);
    for step in start..cfg.max_steps {
        let t_step = Instant::now();
        let mut rng = step_rng(cfg.seed, step);
        let seed: u64 = rng.random();
        let policy = model.valid();
        let ctx = StepCtx {
            policy: &policy,
            frozen: frozen.as_ref(),
            tokenizer: &tok,
            ids: &ids,
            data: &data,
            cfg,
            weights: &weights,
        };
        let exp = batch::collect(&ctx, &mut reward_fns, &mut cursor, seed)?;
        let t_update = Instant::now();
        let lr = learning_rate(
            cfg.lr_scheduler_type,
            cfg.learning_rate,
            step,
            cfg.warmup_steps,
            cfg.max_steps,
        );
        let apply = |m: Janus<B>, g| -> Result<(Janus<B>, f64)> {
            let (m, s) = optim.update(lr, m, g)?;
            Ok((m, s.grad_norm))
        };
        let (m, report) = match cfg.algorithm {
            Algorithm::Grpo => update::grpo(model, &ctx, &exp, step, apply)?,
            Algorithm::Simpo => simpo::simpo(model, &ctx, &exp, step, apply)?,
        };
        model = m;
        let update_s = t_update.elapsed().as_secs_f64();
        let mut line = metrics::step_line(step + 1, cfg, &exp, &report, lr, &names, &weights);
        line["timing_s/rollout"] = exp.rollout_s.into();
        line["timing_s/reward"] = exp.reward_s.into();
        line["timing_s/update"] = update_s.into();
        if cfg.eval_steps > 0 && (step + 1) % cfg.eval_steps == 0 {
            let t = Instant::now();
            let r = evaluate(&model.valid(), &tok, &ids, &eval_split, &cfg.eval)?;
            metrics::add_eval(&mut line, &r);
            line["timing_s/eval"] = t.elapsed().as_secs_f64().into();
        }
        line["step_time"] = t_step.elapsed().as_secs_f64().into();
        history.push(line.clone());
        metrics::append(&out.join("metrics.jsonl"), &line)?;
        progress.step(step, &line);
        let extra = serde_json::json!({ "cursor": cursor });
        checkpoint::save_if_due(Some(&out), &policy_save, step + 1, &history, extra, |dir| {
            duet_model::checkpoint::save(&model, &jcfg, Some(&ids), Some(&tok_path), dir)?;
            optim.save::<Janus<B>, B>(&model, &dir.join(OPTIMIZER))
        })?;
    }
    progress.message(&format!(
        "evaluating the trained model on `{}`",
        cfg.final_eval_split
    ));
    let after = evaluate(&model.valid(), &tok, &ids, &final_split, &cfg.final_eval)?;
    write_json(&out.join("eval_after.json"), &metrics::eval_json(&after))?;
    Ok(RunSummary {
        before,
        after,
        steps: cfg.max_steps,
        output_dir: out,
    })
}
