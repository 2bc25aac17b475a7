//! Writing a ShapeWorld dataset to disk (JSONL + PNG folders) and the guard
//! that keeps evaluation prompts out of training.
//!
//! Layout of `DIR`:
//! ```text
//! manifest.json                     seed, sizes, config, the regenerating command
//! <split>/images/000000.png         one image per scene
//! <split>/scenes.jsonl              scene graph, task, prompt, caption per image
//! <split>/generation.jsonl          text-to-image items: id, image + GenEval metadata
//! <split>/evaluation_metadata.jsonl the split's distinct prompts, GenEval's exact schema
//! <split>/understanding.jsonl       4-option MC items in MMMU's record shape
//! <split>/answers.json              MMMU's answer-file format for those items
//! ```
//! The splits draw scenes from disjoint ChaCha streams of one seed and use
//! disjoint prompt sets, so no test prompt occurs in training. An optional
//! fourth split, `rl`, holds fresh scenes of the *training* prompts from a
//! stream of its own: RL prompts that supervised training never saw, while
//! train/val/test stay byte-identical with or without it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::ShapeWorldConfig;
use super::prompts::partition_prompts;
use super::questions::{caption, questions};
use super::render::{png_bytes, render};
use super::scene::{Scene, realise};
use crate::error::{DataError, Result};
use crate::io::{read_json, read_jsonl, write_atomic, write_json, write_jsonl};
use crate::records::{AnswerFile, GenEvalMetadata, McItem, Task, option_letter};

/// The three splits, in stream order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// The optional split of fresh training-prompt scenes (stream 4).
pub const RL_SPLIT: &str = "rl";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// Scenes in all splits together.
    pub n: usize,
    pub seed: u64,
    /// Fractions of the scenes in val and test (train gets the rest).
    pub val_frac: f64,
    pub test_frac: f64,
    pub config: ShapeWorldConfig,
    /// Scenes in the `rl` split (not counted in `n`; 0 = no such split).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rl_n: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl GenerateOptions {
    pub fn new(n: usize, seed: u64) -> Self {
        GenerateOptions {
            n,
            seed,
            val_frac: 0.1,
            test_frac: 0.1,
            config: ShapeWorldConfig::default(),
            rl_n: 0,
        }
    }

    /// Scenes per split.
    pub fn split_sizes(&self) -> [usize; 3] {
        let val = (self.n as f64 * self.val_frac).round() as usize;
        let test = (self.n as f64 * self.test_frac).round() as usize;
        [self.n.saturating_sub(val + test), val, test]
    }
}

/// One line of `scenes.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneRecord {
    pub id: String,
    /// Relative to the split directory.
    pub image: String,
    pub tag: Task,
    pub prompt: String,
    pub caption: String,
    pub scene: Scene,
}

/// One line of `generation.jsonl`: a GenEval prompt with a faithful image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationItem {
    pub id: String,
    pub image: String,
    #[serde(flatten)]
    pub metadata: GenEvalMetadata,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator: String,
    pub command: String,
    pub options: GenerateOptions,
    /// Scenes, distinct prompts and MC items per split.
    pub splits: BTreeMap<String, SplitSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub scenes: usize,
    pub prompts: usize,
    pub mc_items: usize,
}

/// Version tag written into manifests; bump when output bytes change.
pub const GENERATOR: &str = "duet-data shapeworld v1";

/// Generates the dataset into `out`; `progress(done, total)` is called after
/// each scene. Files are written atomically, the manifest last.
pub fn generate(
    out: &Path,
    opts: &GenerateOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    if opts.n < SPLITS.len() {
        return Err(DataError::Config(format!(
            "--n must be at least {}, got {}",
            SPLITS.len(),
            opts.n
        )));
    }
    let sizes = opts.split_sizes();
    if sizes.contains(&0) {
        return Err(DataError::Config(format!(
            "split sizes {sizes:?}: every split needs a scene"
        )));
    }
    let mut part_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    part_rng.set_stream(0);
    let prompts = partition_prompts(&mut part_rng);
    let mut plan: Vec<SplitPlan> = SPLITS
        .iter()
        .enumerate()
        .map(|(k, name)| (*name, k as u64 + 1, k, sizes[k]))
        .collect();
    if opts.rl_n > 0 {
        plan.push(rl_plan(opts.rl_n));
    }
    let splits = write_splits(out, opts, &prompts, &plan, &mut progress)?;
    let manifest = Manifest {
        generator: GENERATOR.to_string(),
        command: command(opts),
        options: opts.clone(),
        splits,
    };
    write_json(&out.join("manifest.json"), &manifest)?;
    Ok(manifest)
}

/// The command line that regenerates a dataset with `opts`.
fn command(opts: &GenerateOptions) -> String {
    format!(
        "duet data shapeworld --out DIR --n {} --seed {} --size {}{}",
        opts.n,
        opts.seed,
        opts.config.image_size,
        if opts.rl_n > 0 {
            format!(" --rl {}", opts.rl_n)
        } else {
            String::new()
        }
    )
}

/// One split to write: name, ChaCha stream, index of its prompt set, scenes.
type SplitPlan<'a> = (&'a str, u64, usize, usize);

/// The `rl` split: its own stream after the three splits', training prompts.
fn rl_plan(scenes: usize) -> SplitPlan<'static> {
    (RL_SPLIT, SPLITS.len() as u64 + 1, 0, scenes)
}

/// Writes the planned splits into `out` and returns their summaries.
fn write_splits(
    out: &Path,
    opts: &GenerateOptions,
    prompts: &[Vec<GenEvalMetadata>],
    plan: &[SplitPlan<'_>],
    progress: &mut impl FnMut(usize, usize),
) -> Result<BTreeMap<String, SplitSummary>> {
    let total: usize = plan.iter().map(|p| p.3).sum();
    let mut done = 0;
    let mut splits = BTreeMap::new();
    for &(name, stream, k, size) in plan {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(stream);
        let dir = out.join(name);
        let mut scenes = Vec::new();
        let mut gens = Vec::new();
        let mut mcs: Vec<McItem> = Vec::new();
        let mut per_subject: BTreeMap<&str, usize> = BTreeMap::new();
        for i in 0..size {
            let task = Task::ALL[i % Task::ALL.len()];
            let pool: Vec<&GenEvalMetadata> = prompts[k].iter().filter(|m| m.tag == task).collect();
            let meta = (*pool.choose(&mut rng).expect("every split has every task")).clone();
            let scene = realise(&meta, &opts.config, &mut rng)?;
            let image = format!("images/{i:06}.png");
            write_atomic(&dir.join(&image), &png_bytes(&render(&scene, &opts.config)))?;
            let id = format!("{name}_{i:06}");
            for q in questions(&scene, opts.config.option_order, &mut rng) {
                let subject = q.kind.subject();
                let n = per_subject.entry(subject).or_default();
                *n += 1;
                mcs.push(McItem {
                    id: format!("{name}_{subject}_{n}"),
                    question: q.question,
                    options: q.options,
                    answer: option_letter(q.answer).to_string(),
                    subject: subject.to_string(),
                    question_type: "multiple-choice".to_string(),
                    image_1: Some(image.clone()),
                });
            }
            gens.push(GenerationItem {
                id: id.clone(),
                image: image.clone(),
                metadata: meta.clone(),
            });
            scenes.push(SceneRecord {
                id,
                image,
                tag: task,
                prompt: meta.prompt.clone(),
                caption: caption(&scene),
                scene,
            });
            done += 1;
            progress(done, total);
        }
        let mut seen = HashSet::new();
        let mut distinct: Vec<&GenEvalMetadata> = gens
            .iter()
            .map(|g| &g.metadata)
            .filter(|m| seen.insert(m.prompt.clone()))
            .collect();
        distinct.sort_by_key(|m| m.tag);
        write_jsonl(&dir.join("scenes.jsonl"), &scenes)?;
        write_jsonl(&dir.join("generation.jsonl"), &gens)?;
        write_jsonl(&dir.join("evaluation_metadata.jsonl"), &distinct)?;
        write_jsonl(&dir.join("understanding.jsonl"), &mcs)?;
        write_json(&dir.join("answers.json"), &AnswerFile::from_items(&mcs))?;
        splits.insert(
            name.to_string(),
            SplitSummary {
                scenes: scenes.len(),
                prompts: distinct.len(),
                mc_items: mcs.len(),
            },
        );
    }
    Ok(splits)
}

/// Adds an `rl` split of `rl_n` fresh training-prompt scenes to a dataset
/// generated without one (train/val/test are not touched) and updates its
/// manifest, so that a run made before the split existed can use it.
pub fn add_rl_split(
    root: &Path,
    rl_n: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    let path = root.join("manifest.json");
    let mut manifest: Manifest = read_json(&path)?;
    if manifest.generator != GENERATOR {
        return Err(DataError::Config(format!(
            "{}: made by `{}`, not `{GENERATOR}`; regenerate the dataset",
            path.display(),
            manifest.generator
        )));
    }
    if rl_n == 0 {
        return Err(DataError::Config(
            "an rl split needs at least one scene".into(),
        ));
    }
    let mut opts = manifest.options.clone();
    opts.rl_n = rl_n;
    let mut part_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    part_rng.set_stream(0);
    let prompts = partition_prompts(&mut part_rng);
    let plan = [rl_plan(rl_n)];
    let splits = write_splits(root, &opts, &prompts, &plan, &mut progress)?;
    manifest.splits.extend(splits);
    manifest.command = command(&opts);
    manifest.options = opts;
    write_json(&path, &manifest)?;
    Ok(manifest)
}

/// The prompts of a JSONL file whose records carry a `prompt` field
/// (`generation.jsonl`, `evaluation_metadata.jsonl`, `scenes.jsonl`).
pub fn read_prompts(path: &Path) -> Result<HashSet<String>> {
    #[derive(Deserialize)]
    struct P {
        prompt: String,
    }
    Ok(read_jsonl::<P>(path)?
        .into_iter()
        .map(|p| p.prompt)
        .collect())
}

/// Refuses (with [`DataError::TrainTestLeak`]) when any evaluation prompt
/// occurs in the training file.
pub fn guard_against_train_prompts(
    eval: &[GenEvalMetadata],
    eval_file: &Path,
    train_file: &Path,
) -> Result<()> {
    let train = read_prompts(train_file)?;
    let leaked: Vec<&str> = eval
        .iter()
        .map(|m| m.prompt.as_str())
        .filter(|p| train.contains(*p))
        .collect();
    match leaked.first() {
        None => Ok(()),
        Some(first) => Err(DataError::TrainTestLeak {
            eval_file: eval_file.to_path_buf(),
            train_file: train_file.to_path_buf(),
            count: leaked.len(),
            first: first.to_string(),
        }),
    }
}

/// When `metadata` lies in a split of a ShapeWorld dataset (a sibling of
/// `manifest.json`), the training file of that dataset.
pub fn train_file_for(metadata: &Path) -> Option<PathBuf> {
    let root = metadata.parent()?.parent()?;
    let manifest: Manifest = read_json(&root.join("manifest.json")).ok()?;
    manifest
        .splits
        .contains_key("train")
        .then(|| root.join("train").join("generation.jsonl"))
}

#[cfg(test)]
#[path = "dataset_tests.rs"]
mod tests;
