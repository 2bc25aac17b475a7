//! The RL trainer's TOML config. Knob names are TRL's `GRPOConfig` names
//! where TRL has the knob (methods.md §6 lists the union); presets are TOML
//! files under `recipes/rl/` that a config names with `preset = "…"` and
//! overrides key by key.

use std::path::{Path, PathBuf};

use duet_model::logprobs::GenLogprobMode;
use serde::{Deserialize, Serialize};

use super::balance::McDraws;
use super::data::{GenPrompt, UndTask};
use crate::advantage::{Aggregation, PairWeightFn, ScaleRewards};
use crate::error::{Result, RlError};
use crate::eval::EvalConfig;
use crate::loss::{IsLevel, KlEstimator, LossType, PolicyLossConfig};
use crate::optim::{AdamWConfig, SchedulerType};
use crate::rewards::{DualGenForm, RewardKind, RewardSpec};

/// Policy-gradient (GRPO family) or preference (online SimPO) updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    Grpo,
    /// Per group: best vs worst rollout by reward, SimPO loss (DSR option A).
    Simpo,
}

/// The built-in presets, by name.
pub const PRESETS: [(&str, &str); 5] = [
    ("grpo", include_str!("../../../../recipes/rl/grpo.toml")),
    (
        "pairgrpo",
        include_str!("../../../../recipes/rl/pairgrpo.toml"),
    ),
    (
        "dual-grpo",
        include_str!("../../../../recipes/rl/dual-grpo.toml"),
    ),
    (
        "dual-simpo",
        include_str!("../../../../recipes/rl/dual-simpo.toml"),
    ),
    ("lvrpo", include_str!("../../../../recipes/rl/lvrpo.toml")),
];

/// Everything `duet rl` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RlConfig {
    /// The preset this config starts from (informational once merged).
    pub preset: Option<String>,
    /// A `duet pretrain` run directory: the model defaults to its final SFT
    /// checkpoint, the dataset to its `data/`, encoders to its encoder.
    pub base: Option<PathBuf>,
    /// A Janus-layout checkpoint directory (overrides `base`).
    pub model_name_or_path: Option<PathBuf>,
    /// A ShapeWorld-layout dataset root with `train/`, `val/`, `test/`.
    pub dataset: Option<PathBuf>,
    /// The split RL draws its items from (TRL's `dataset_train_split`):
    /// `train`, or `rl` for fresh scenes that SFT never saw.
    pub dataset_train_split: String,
    /// A pairs file (`duet pairs build`); enables PairGRPO batching.
    /// Relative paths are resolved against `base`.
    pub pairs: Option<PathBuf>,
    pub output_dir: PathBuf,
    pub algorithm: Algorithm,
    /// Which tasks are trained.
    pub train_understanding: bool,
    pub train_generation: bool,
    pub understanding_task: UndTask,
    /// What generation items ask for: the split's GenEval `prompt`s, or
    /// each training scene's `caption` (the dual presets: the inverse of
    /// captioning).
    pub generation_prompt: GenPrompt,
    /// Keep the understanding encoder (`vision_model`) fixed, as VLM-R1's
    /// `freeze_vision_modules` does, so RL cannot rewrite the features the
    /// contrastive encoder learned (on the ShapeWorld base it does not stop
    /// held-out MC from falling; docs/rl.md).
    pub freeze_vision_modules: bool,
    /// How multiple-choice items (pairs: by their understanding half) are
    /// drawn: `uniform`, `letters` (every gold letter equally likely within
    /// a subject) or `split` (pairs resampled to the training split's
    /// subject × letter mix), so the policy is not paid for letter
    /// preferences the test split does not share ([`super::balance`]).
    pub mc_draws: McDraws,

    // Optimisation (HF TrainingArguments names).
    pub max_steps: usize,
    pub learning_rate: f64,
    pub lr_scheduler_type: SchedulerType,
    pub warmup_steps: usize,
    pub seed: u64,
    pub save_steps: usize,
    pub save_total_limit: usize,
    #[serde(flatten)]
    pub optimizer: AdamWConfig,

    // Sampling.
    /// Items per task per step (pairs per step with `pairs`).
    pub prompts_per_step: usize,
    /// Group size G.
    pub num_generations: usize,
    /// Rows per forward/backward pass.
    pub micro_batch_size: usize,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    /// CFG weight for image rollouts.
    pub cfg_weight: f64,
    /// Text tokens per understanding rollout.
    pub max_completion_length: usize,

    // Advantages.
    pub scale_rewards: ScaleRewards,
    /// Added to the standard deviation (TRL: 1e-4).
    pub reward_std_eps: f64,
    pub multi_objective_aggregation: Aggregation,
    pub pair_weight: PairWeightFn,
    /// Drop groups whose rewards are all equal and draw more (DAPO).
    pub dynamic_sampling: bool,
    /// Extra draws per step when dynamic sampling leaves too few groups.
    pub max_refill_rounds: usize,

    // Loss.
    pub loss_type: LossType,
    pub importance_sampling_level: IsLevel,
    pub epsilon: f64,
    pub epsilon_high: Option<f64>,
    pub delta: Option<f64>,
    pub beta: f64,
    pub kl_estimator: KlEstimator,
    /// Optimiser steps per rollout batch (old log-probs are stored).
    pub num_iterations: usize,
    pub understanding_loss_weight: f64,
    pub generation_loss_weight: f64,
    pub gen_logprob_mode: GenLogprobMode,
    pub simpo_beta: f64,
    pub simpo_gamma: f64,
    /// Weight of the chosen samples' NLL added to SimPO's loss (0 = plain
    /// SimPO; CPO's behaviour-cloning term).
    pub simpo_nll_weight: f64,

    pub rewards: Vec<RewardSpec>,

    /// Held-out evaluation every N steps on `eval_split` (0 = never), and on
    /// `final_eval_split` before (if `eval_on_start`) and after training.
    pub eval_steps: usize,
    pub eval_split: String,
    pub final_eval_split: String,
    pub eval_on_start: bool,
    /// Settings of the periodic evaluation (a subset keeps it cheap).
    pub eval: EvalConfig,
    /// Settings of the before/after evaluation.
    pub final_eval: EvalConfig,
}

impl Default for RlConfig {
    fn default() -> Self {
        RlConfig {
            preset: None,
            base: None,
            model_name_or_path: None,
            dataset: None,
            dataset_train_split: "train".into(),
            pairs: None,
            output_dir: PathBuf::from("runs/rl"),
            algorithm: Algorithm::Grpo,
            train_understanding: true,
            train_generation: true,
            understanding_task: UndTask::Mc,
            generation_prompt: GenPrompt::Prompt,
            freeze_vision_modules: false,
            mc_draws: McDraws::Uniform,
            max_steps: 100,
            learning_rate: 1e-5,
            lr_scheduler_type: SchedulerType::Constant,
            warmup_steps: 0,
            seed: 0,
            save_steps: 25,
            save_total_limit: 2,
            optimizer: AdamWConfig {
                weight_decay: 0.0,
                max_grad_norm: Some(1.0),
                ..AdamWConfig::default()
            },
            prompts_per_step: 4,
            num_generations: 8,
            micro_batch_size: 32,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            cfg_weight: 5.0,
            max_completion_length: 8,
            scale_rewards: ScaleRewards::Group,
            reward_std_eps: 1e-4,
            multi_objective_aggregation: Aggregation::SumThenNormalize,
            pair_weight: PairWeightFn::Sqrt,
            dynamic_sampling: false,
            max_refill_rounds: 2,
            loss_type: LossType::Dapo,
            importance_sampling_level: IsLevel::Token,
            epsilon: 0.2,
            epsilon_high: None,
            delta: None,
            beta: 0.0,
            kl_estimator: KlEstimator::K3,
            num_iterations: 1,
            understanding_loss_weight: 1.0,
            generation_loss_weight: 1.0,
            gen_logprob_mode: GenLogprobMode::Cond,
            simpo_beta: 2.0,
            simpo_gamma: 1.0,
            simpo_nll_weight: 0.0,
            rewards: Vec::new(),
            eval_steps: 0,
            eval_split: "val".into(),
            final_eval_split: "test".into(),
            eval_on_start: true,
            eval: EvalConfig {
                max_mc_items: 200,
                max_prompts: 20,
                images_per_prompt: 2,
                ..EvalConfig::default()
            },
            final_eval: EvalConfig::default(),
        }
    }
}

/// Overlays `top` on `base`, table by table.
fn merge(base: &mut toml::Value, top: toml::Value) {
    match (base, top) {
        (toml::Value::Table(b), toml::Value::Table(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_table() && v.is_table() => merge(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

fn parse(text: &str, origin: &str) -> Result<toml::Value> {
    toml::from_str(text).map_err(|e| RlError::Config {
        path: origin.to_string(),
        message: e.to_string(),
    })
}

impl RlConfig {
    /// A preset by name.
    pub fn preset(name: &str) -> Result<RlConfig> {
        Self::from_str(&format!("preset = \"{name}\""), "<preset>")
    }

    /// Reads a config file (merged over its preset, if it names one).
    pub fn from_file(path: &Path) -> Result<RlConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| RlError::io(path, e))?;
        Self::from_str(&text, &path.display().to_string())
    }

    pub fn from_str(text: &str, origin: &str) -> Result<RlConfig> {
        let value = Self::layered(text, origin, 0)?;
        let cfg: RlConfig = value
            .try_into()
            .map_err(|e: toml::de::Error| RlError::Config {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// The TOML of `text` over its preset chain (a preset may name another).
    fn layered(text: &str, origin: &str, depth: usize) -> Result<toml::Value> {
        let top = parse(text, origin)?;
        let mut value =
            match top.get("preset").and_then(|p| p.as_str()) {
                Some(name) if depth < 8 => {
                    let (_, body) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                        RlError::Config {
                            path: origin.to_string(),
                            message: format!(
                                "unknown preset `{name}` (known: {})",
                                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                            ),
                        }
                    })?;
                    Self::layered(body, &format!("preset {name}"), depth + 1)?
                }
                Some(_) => {
                    return Err(RlError::Config {
                        path: origin.to_string(),
                        message: "presets nest too deeply (a cycle?)".into(),
                    });
                }
                None => toml::Value::Table(Default::default()),
            };
        merge(&mut value, top);
        Ok(value)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |m: String| {
            Err(RlError::Config {
                path: origin.to_string(),
                message: m,
            })
        };
        if self.num_generations < 2 {
            return bad(format!(
                "num_generations must be ≥ 2 (a group needs a baseline), got {}",
                self.num_generations
            ));
        }
        if self.prompts_per_step == 0 || self.micro_batch_size == 0 || self.num_iterations == 0 {
            return bad("prompts_per_step, micro_batch_size and num_iterations must be ≥ 1".into());
        }
        if !self.train_understanding && !self.train_generation {
            return bad("train_understanding and train_generation are both false".into());
        }
        if self.epsilon < 0.0 || self.epsilon_high.is_some_and(|e| e < 0.0) {
            return bad("epsilon and epsilon_high must be ≥ 0".into());
        }
        let contrastive = self.rewards.iter().any(|r| {
            matches!(
                r.kind,
                RewardKind::DualGeneration {
                    form: DualGenForm::Contrastive,
                    ..
                }
            )
        });
        if contrastive && self.prompts_per_step < 2 {
            return bad(format!(
                "dual_generation form = \"contrastive\" scores each image against the step's other prompts: prompts_per_step must be ≥ 2, got {}",
                self.prompts_per_step
            ));
        }
        Ok(())
    }

    /// The loss settings.
    pub fn policy_loss(&self) -> PolicyLossConfig {
        PolicyLossConfig {
            loss_type: self.loss_type,
            importance_sampling_level: self.importance_sampling_level,
            epsilon: self.epsilon,
            epsilon_high: self.epsilon_high,
            delta: self.delta,
            beta: self.beta,
            kl_estimator: self.kl_estimator,
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
