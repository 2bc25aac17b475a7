//! Rewards: a score per sample, or `None` when a reward does not apply to a
//! sample (an accuracy reward on a generated image) — such samples are left
//! out of that component's statistics, as TRL does with `None`.
//!
//! Rewards that need the model (dual self-rewards, self-consistency) receive
//! the rollout-time policy snapshot, without autodiff, and the frozen
//! initial model when one is loaded, through [`ScoreCtx`].

pub mod builtin;
pub mod command;
pub mod dual;
pub mod lvrpo;

use burn::prelude::*;
use duet_model::prompts::JanusTokenizer;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};
use crate::trainer::data::{GenItem, UndItem};

/// One rollout to score.
#[derive(Debug, Clone, Copy)]
pub enum Sample<'a> {
    Understanding {
        item: &'a UndItem,
        image: &'a RgbImage,
        /// VQ codes of `image`.
        codes: &'a [u32],
        /// The decoded response (up to EOS).
        response: &'a str,
    },
    Generation {
        item: &'a GenItem,
        codes: &'a [u32],
        /// The VQ-decoded image.
        image: &'a RgbImage,
    },
}

/// Models and ids a reward may use.
pub struct ScoreCtx<'a, B: Backend> {
    /// The policy as it was when the rollouts were drawn.
    pub policy: &'a Janus<B>,
    /// The initial model, if the run loaded one.
    pub frozen: Option<&'a Janus<B>>,
    pub tokenizer: &'a JanusTokenizer,
    pub ids: &'a GenerationIds,
}

/// A reward function.
pub trait Reward<B: Backend> {
    /// The name in the metrics (`rewards/<name>/mean`).
    fn name(&self) -> &str;
    /// One entry per sample.
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>>;
}

/// Which model scores a self-reward (methods.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// The policy at rollout time, without gradient (= the rollout
    /// snapshot: scoring happens before the update).
    #[default]
    Policy,
    /// The frozen initial model.
    FrozenInit,
}

/// How R_U puts a sampled caption to the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CaptionPrompt {
    /// The caption itself is the text-to-image prompt (SUDER's form, for a
    /// generator trained on free-form prompts).
    #[default]
    Caption,
    /// Restated as a GenEval prompt ("a photo of two red squares and a blue
    /// circle": places dropped, kinds counted), the only prompt language the
    /// ShapeWorld base's generator is trained on; with the caption itself
    /// its likelihood barely depends on the text (docs/rl.md).
    Geneval,
}

/// How R_G measures p(prompt | image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DualGenForm {
    /// Mean log-probability of the prompt's tokens as the image's caption
    /// (SUDER's form, for a captioner that writes prompts).
    #[default]
    Likelihood,
    /// The share of `samples` captions, sampled from the scorer for the
    /// image, whose objects pass GenEval's rules for the prompt: a Monte
    /// Carlo estimate of p(prompt | image) with the prompt read as the set of
    /// captions consistent with it. For a captioner whose language is not
    /// the prompts' (the ShapeWorld base writes places, the prompts do not).
    SelfCheck,
    /// The prompt's likelihood against the other prompts of the step:
    /// `ℓ(own) − log mean_j exp ℓ(p_j)` over the own prompt and the step's
    /// other distinct prompts (per-token means `ℓ`). An image that makes
    /// every prompt likely (the hack the plain likelihood invites: a blank
    /// or object-less picture) scores 0; only images that the judge reads
    /// as *this* prompt rather than the others score above it. Needs at least
    /// two distinct prompts per step; an image without one is unscorable.
    Contrastive,
}

/// A reward as written in the trainer's TOML (`[[rewards]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardKind {
    /// 1 when the parsed answer letter is the gold one (MMMU's parser,
    /// `<answer>` tags first), else 0.
    McAccuracy,
    /// 1 when a caption names the same objects (colour, shape, count) as
    /// the item's reference caption; an oracle reward, for comparison with
    /// the dual self-reward R_U.
    CaptionMatch,
    /// 1 when an MC response is exactly `<answer>X</answer>` with a valid
    /// letter, else 0.
    Format,
    /// GenEval's binary correctness of the decoded image (the ShapeDetector
    /// and GenEval's rules) — LVRPO's rule satisfaction.
    Geneval,
    /// The dense GenEval score in [0, 1] (the reward-server variant).
    GenevalDense,
    /// R_U: mean log p(original image codes | sampled caption), generation
    /// mode.
    DualUnderstanding {
        #[serde(default)]
        scorer: Scorer,
        /// How the caption is put to the generator.
        #[serde(default)]
        prompt: CaptionPrompt,
    },
    /// R_G: how likely the scorer finds the original prompt given the
    /// generated image, understanding mode with the caption instruction.
    DualGeneration {
        #[serde(default)]
        scorer: Scorer,
        #[serde(default)]
        form: DualGenForm,
        /// Captions sampled per image (`self_check`).
        #[serde(default = "four")]
        samples: usize,
    },
    /// LVRPO's semantic reward: cosine of the contrastive encoder's image
    /// and prompt embeddings.
    ContrastiveCosine {
        #[serde(default)]
        encoder: std::path::PathBuf,
    },
    /// LVRPO's dense grounding: mean over the prompt's object phrases of the
    /// best patch–phrase cosine.
    DenseGrounding {
        #[serde(default)]
        encoder: std::path::PathBuf,
    },
    /// LVRPO's consistency: the policy answers an oracle question about its
    /// own image (a count question built from the prompt); 1 if right.
    SelfConsistency,
    /// A user's program over JSON lines (protocol in docs/rl.md).
    Command {
        command: String,
        #[serde(default = "default_timeout")]
        timeout_s: f64,
    },
}

fn four() -> usize {
    4
}

fn default_timeout() -> f64 {
    60.0
}

/// A weighted reward entry of the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardSpec {
    #[serde(flatten)]
    pub kind: RewardKind,
    #[serde(default = "one")]
    pub weight: f64,
    /// Metric name; defaults to the type.
    #[serde(default)]
    pub name: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl RewardSpec {
    pub fn metric_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let v = serde_json::to_value(&self.kind).expect("plain data");
            v["type"].as_str().unwrap_or("reward").to_string()
        })
    }

    /// Whether this reward needs the frozen initial model.
    pub fn needs_frozen(&self) -> bool {
        matches!(
            self.kind,
            RewardKind::DualUnderstanding {
                scorer: Scorer::FrozenInit,
                ..
            } | RewardKind::DualGeneration {
                scorer: Scorer::FrozenInit,
                ..
            }
        )
    }
}

/// Builds the reward functions of a config.
pub fn build<B: Backend>(
    specs: &[RewardSpec],
    device: &B::Device,
) -> Result<Vec<Box<dyn Reward<B>>>> {
    specs
        .iter()
        .map(|s| -> Result<Box<dyn Reward<B>>> {
            let name = s.metric_name();
            Ok(match &s.kind {
                RewardKind::McAccuracy => Box::new(builtin::McAccuracy { name }),
                RewardKind::Format => Box::new(builtin::Format { name }),
                RewardKind::CaptionMatch => Box::new(builtin::CaptionMatch { name }),
                RewardKind::Geneval => Box::new(builtin::GenevalReward::new(name, false)),
                RewardKind::GenevalDense => Box::new(builtin::GenevalReward::new(name, true)),
                RewardKind::DualUnderstanding { scorer, prompt } => {
                    Box::new(dual::DualUnderstanding {
                        name,
                        scorer: *scorer,
                        prompt: *prompt,
                    })
                }
                RewardKind::DualGeneration {
                    scorer,
                    form,
                    samples,
                } => Box::new(dual::DualGeneration {
                    name,
                    scorer: *scorer,
                    form: *form,
                    samples: *samples,
                }),
                RewardKind::ContrastiveCosine { encoder } => {
                    Box::new(lvrpo::ContrastiveCosine::load(name, encoder, device)?)
                }
                RewardKind::DenseGrounding { encoder } => {
                    Box::new(lvrpo::DenseGrounding::load(name, encoder, device)?)
                }
                RewardKind::SelfConsistency => Box::new(lvrpo::SelfConsistency { name }),
                RewardKind::Command { command, timeout_s } => {
                    Box::new(command::CommandReward::spawn(name, command, *timeout_s)?)
                }
            })
        })
        .collect()
}

/// Refuses a NaN or infinite score, naming the reward and the sample.
pub fn check_finite(name: &str, scores: &[Option<f64>], samples: &[Sample]) -> Result<()> {
    for (s, sample) in scores.iter().zip(samples) {
        if let Some(v) = s
            && !v.is_finite()
        {
            let id = match sample {
                Sample::Understanding { item, .. } => &item.id,
                Sample::Generation { item, .. } => &item.id,
            };
            return Err(RlError::NonFinite {
                what: format!("reward `{name}`"),
                detail: format!("{v} for a rollout of item `{id}`"),
            });
        }
    }
    Ok(())
}
