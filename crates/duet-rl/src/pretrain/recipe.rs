//! The pretraining recipe: one TOML file that fixes the data, the model
//! preset and the settings of every stage, and the runner that executes
//! the stages in order — data → tokenizer → VQ → contrastive encoder → SFT —
//! each in its own directory under the run directory, each resumable, and
//! each skipped when its final checkpoint is already there.

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use duet_data::shapeworld::{GenerateOptions, Layout, OptionOrder, SceneRecord, ShapeWorldConfig};
use duet_model::contrastive;
use duet_model::prompts::JanusTokenizer;
use duet_model::{GenerationIds, Janus, JanusConfig};
use serde::{Deserialize, Serialize};

use super::encoder::{self, EncoderTrainConfig, Pair};
use super::sft::{self, ModelFiles, SftTrainConfig};
use super::vq::{self, RunDir, VqTrainConfig};
use crate::checkpoint;
use crate::error::{Result, RlError};
use crate::eval::EvalConfig;

/// `[data]`: the ShapeWorld dataset the stages train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Scenes to generate (80 % train, 10 % val, 10 % test; prompts disjoint).
    pub n: usize,
    pub seed: u64,
    /// Object layout: `free` (default) or `grid` (objects on whole 8-px cells).
    #[serde(default)]
    pub layout: Layout,
    /// Multiple-choice options: `shuffled` (default) or `canonical`
    /// (vocabulary order, closed sets in full; see `OptionOrder`).
    #[serde(default)]
    pub option_order: OptionOrder,
    /// Fresh scenes of the training prompts in a separate `rl` split (0 =
    /// none): items for RL that SFT never saw (`dataset_train_split = "rl"`).
    #[serde(default)]
    pub rl: usize,
}

/// The whole recipe file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Model preset name (`JanusConfig::preset`).
    pub preset: String,
    pub data: DataSection,
    pub vq: VqTrainConfig,
    pub encoder: EncoderTrainConfig,
    /// Held-out encoder retrieval is measured on this many val scenes.
    #[serde(default = "default_retrieval")]
    pub encoder_eval_scenes: usize,
    /// Copy the encoder's image tower into the unified model before SFT.
    #[serde(default = "yes")]
    pub init_vision_from_encoder: bool,
    pub sft: SftTrainConfig,
    pub eval: EvalConfig,
}

fn default_retrieval() -> usize {
    500
}
fn yes() -> bool {
    true
}

impl Recipe {
    pub fn from_file(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path).map_err(|e| RlError::io(path, e))?;
        toml::from_str(&text).map_err(|e| RlError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// Which stages to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Vq,
    Encoder,
    Sft,
}

/// What the runner reports while it works.
pub trait Progress {
    /// A stage starts with `total` steps (already-done steps are skipped).
    fn stage(&mut self, name: &str, total: usize, done: usize);
    /// One step of the current stage finished, with a short metrics line.
    fn step(&mut self, step: usize, message: String);
    fn finish(&mut self, message: String);
}

/// Paths of a run directory.
pub struct RunLayout {
    pub root: PathBuf,
}

impl RunLayout {
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }
    pub fn stage(&self, s: Stage) -> PathBuf {
        self.root.join(match s {
            Stage::Vq => "vq",
            Stage::Encoder => "encoder",
            Stage::Sft => "sft",
        })
    }
}

/// The newest checkpoint of a stage if it has finished `max_steps`.
fn finished(dir: &Path, max_steps: usize) -> Result<Option<PathBuf>> {
    Ok(checkpoint::latest(dir)?
        .filter(|d| checkpoint::read_state(d).is_ok_and(|s| s.global_step >= max_steps)))
}

/// Data and tokenizer: generated once, reused after.
pub fn prepare(recipe: &Recipe, run: &RunLayout) -> Result<JanusTokenizer> {
    if !run.data().join("manifest.json").is_file() {
        let mut opts = GenerateOptions::new(recipe.data.n, recipe.data.seed);
        opts.config = ShapeWorldConfig::with_layout(opts.config.image_size, recipe.data.layout);
        opts.config.option_order = recipe.data.option_order;
        opts.rl_n = recipe.data.rl;
        duet_data::shapeworld::generate(&run.data(), &opts, |_, _| {})?;
    } else if recipe.data.rl > 0 && !run.data().join("rl").join("scenes.jsonl").is_file() {
        // A run made before its recipe asked for the rl split.
        duet_data::shapeworld::add_rl_split(&run.data(), recipe.data.rl, |_, _| {})?;
    }
    if !run.tokenizer().is_file() {
        let tok = super::tokenizer::shapeworld_tokenizer()
            .map_err(|e| RlError::Tokenizer(e.to_string()))?;
        super::tokenizer::save(&tok, &run.tokenizer())
            .map_err(|e| RlError::Tokenizer(e.to_string()))?;
    }
    JanusTokenizer::from_file(&run.tokenizer()).map_err(RlError::from)
}

fn train_images(run: &RunLayout) -> Result<Vec<(SceneRecord, image::RgbImage)>> {
    let split = run.data().join("train");
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&split.join("scenes.jsonl"))?;
    scenes
        .into_iter()
        .map(|s| {
            let img = duet_data::shapeworld::load_png(&split.join(&s.image))?;
            Ok((s, img))
        })
        .collect()
}

/// Runs the requested stages (in order) and returns the SFT model's
/// directory when SFT ran or was already done.
pub fn run<B: AutodiffBackend>(
    recipe: &Recipe,
    run: &RunLayout,
    stages: &[Stage],
    resume: bool,
    device: &B::Device,
    progress: &mut dyn Progress,
) -> Result<Option<PathBuf>> {
    let tok = prepare(recipe, run)?;
    let (model_cfg, ids) = JanusConfig::preset(&recipe.preset)?;
    let images = train_images(run)?;
    let dir_of = |s: Stage| RunDir {
        output_dir: run.stage(s),
        resume,
    };
    if stages.contains(&Stage::Vq)
        && finished(&run.stage(Stage::Vq), recipe.vq.max_steps)?.is_none()
    {
        let rd = dir_of(Stage::Vq);
        let done = start_step(&rd)?;
        progress.stage("vq", recipe.vq.max_steps, done);
        let imgs: Vec<image::RgbImage> = images.iter().map(|x| x.1.clone()).collect();
        B::seed(device, recipe.vq.seed);
        let model = model_cfg.init::<B>(device);
        vq::train(model, &model_cfg, &imgs, &recipe.vq, Some(&rd), |s, m| {
            progress.step(
                s,
                format!(
                    "rec {:.4} psnr {:.2} usage {:.2}",
                    m.reconstruction, m.psnr, m.usage
                ),
            )
        })?;
        progress.finish("vq done".into());
    }
    if stages.contains(&Stage::Encoder)
        && finished(&run.stage(Stage::Encoder), recipe.encoder.max_steps)?.is_none()
    {
        let rd = dir_of(Stage::Encoder);
        let done = start_step(&rd)?;
        progress.stage("encoder", recipe.encoder.max_steps, done);
        let pairs = pairs(&tok, &images)?;
        let enc_cfg = encoder::encoder_config(&model_cfg, ids.pad_token_id);
        B::seed(device, recipe.encoder.seed);
        let enc = enc_cfg.init::<B>(device);
        encoder::train(enc, &enc_cfg, &pairs, &recipe.encoder, Some(&rd), |s, l| {
            progress.step(s, format!("loss {l:.4}"))
        })?;
        progress.finish("encoder done".into());
    }
    if stages.contains(&Stage::Sft)
        && finished(&run.stage(Stage::Sft), recipe.sft.max_steps)?.is_none()
    {
        let vq_dir = finished(&run.stage(Stage::Vq), recipe.vq.max_steps)?.ok_or_else(|| {
            RlError::Data(format!(
                "SFT needs the finished VQ stage in {}",
                run.stage(Stage::Vq).display()
            ))
        })?;
        let (_, mut model) = duet_model::checkpoint::load::<B>(&vq_dir, device)?;
        if recipe.init_vision_from_encoder {
            let enc_dir = finished(&run.stage(Stage::Encoder), recipe.encoder.max_steps)?
                .ok_or_else(|| {
                    RlError::Data(format!(
                        "init_vision_from_encoder needs the finished encoder stage in {}",
                        run.stage(Stage::Encoder).display()
                    ))
                })?;
            let (_, enc) = contrastive::load::<B>(&enc_dir, device)?;
            model.vision_model = enc.vision_model;
        }
        let rd = dir_of(Stage::Sft);
        let done = start_step(&rd)?;
        progress.stage("sft", recipe.sft.max_steps, done);
        // Encoding the images needs no autodiff graph (which would be kept alive).
        let data = sft::build_data(
            &run.data().join("train"),
            &tok,
            &ids,
            &model.valid(),
            recipe.sft.mc_target,
        )?;
        let files = ModelFiles {
            config: &model_cfg,
            ids: &ids,
            tokenizer: &run.tokenizer(),
        };
        sft::train(model, &files, &data, &recipe.sft, Some(&rd), |s, m| {
            progress.step(
                s,
                format!(
                    "und {:.3} gen {:.3} lr {:.1e}",
                    m.understanding_loss, m.generation_loss, m.learning_rate
                ),
            )
        })?;
        progress.finish("sft done".into());
    }
    finished(&run.stage(Stage::Sft), recipe.sft.max_steps)
}

/// The step a stage starts at. Without `--resume`, leftover checkpoints of
/// an unfinished run are an error (as HF's `overwrite_output_dir`): a fresh
/// run would mix its checkpoints with theirs.
fn start_step(rd: &RunDir) -> Result<usize> {
    match checkpoint::latest(&rd.output_dir)? {
        Some(d) if rd.resume => Ok(checkpoint::read_state(&d)?.global_step),
        Some(d) => Err(RlError::Checkpoint {
            path: d.display().to_string(),
            message: "an unfinished run's checkpoint is here: pass --resume to continue it, \
                      or use another --out"
                .into(),
        }),
        None => Ok(0),
    }
}

/// (image, caption) pairs of the training scenes.
pub fn pairs(tok: &JanusTokenizer, images: &[(SceneRecord, image::RgbImage)]) -> Result<Vec<Pair>> {
    images
        .iter()
        .map(|(s, img)| {
            Ok(Pair {
                image: img.clone(),
                caption: s.caption.clone(),
                tokens: tok.encode(&s.caption).map_err(RlError::from)?,
            })
        })
        .collect()
}

/// Loads the finished base model of a run directory.
pub fn load_base<B: burn::prelude::Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(JanusConfig, GenerationIds, Janus<B>)> {
    let (cfg, model) = duet_model::checkpoint::load::<B>(dir, device)?;
    let ids =
        duet_model::checkpoint::read_generation_ids(dir)?.ok_or_else(|| RlError::Checkpoint {
            path: dir.display().to_string(),
            message: "no generation_config.json".into(),
        })?;
    Ok((cfg, ids, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped recipe parses (unknown keys are errors), and the
    /// default trains the decoder's branches, as the old default did not.
    #[test]
    fn shipped_recipes_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
        for name in [
            "shapeworld-base.toml",
            "shapeworld-base-v1.toml",
            "shapeworld-long.toml",
            "demo/quick.toml",
        ] {
            let r = Recipe::from_file(&dir.join(name));
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        }
        let base = Recipe::from_file(&dir.join("shapeworld-base.toml")).unwrap();
        assert!(base.vq.train_decoder_residual && base.vq.freeze_residual);
        let v1 = Recipe::from_file(&dir.join("shapeworld-base-v1.toml")).unwrap();
        assert!(!v1.vq.train_decoder_residual);
    }
}
