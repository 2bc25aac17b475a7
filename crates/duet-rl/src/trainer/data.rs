//! What the RL trainer samples from: understanding items (an image and a
//! multiple-choice question or a caption request), generation items (a
//! GenEval prompt), and — for PairGRPO — pairs of one of each with a weight.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use duet_data::pairs::{PairRecord, PairType, read_pairs};
use duet_data::records::{GenEvalMetadata, McItem};
use duet_data::shapeworld::{GenerationItem, SceneRecord, load_png};
use duet_model::Janus;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};
use crate::tasks;

/// What an understanding item asks.
#[derive(Debug, Clone, PartialEq)]
pub enum UndKind {
    /// Multiple choice: options and the gold letter.
    Mc {
        options: Vec<String>,
        answer: String,
        subject: String,
    },
    /// "Describe the image." with the reference caption.
    Caption { caption: String },
}

/// An understanding item: an image and a question.
#[derive(Debug, Clone)]
pub struct UndItem {
    pub id: String,
    /// Index into [`RlData::images`].
    pub image: usize,
    /// The user-turn text (question with options, or the caption request).
    pub question: String,
    pub kind: UndKind,
}

/// A generation item: a GenEval prompt and its metadata.
#[derive(Debug, Clone)]
pub struct GenItem {
    pub id: String,
    pub meta: GenEvalMetadata,
    /// The faithful training image, when known (index into images).
    pub image: Option<usize>,
}

/// A PairGRPO pair: indices into the item lists and the advantage weight's
/// inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub und: usize,
    pub generation: usize,
    pub pair_type: PairType,
    pub similarity: f64,
}

/// Which understanding questions the trainer asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UndTask {
    /// MMMU-style multiple choice (rewarded by accuracy).
    #[default]
    Mc,
    /// Captioning (rewarded by self-likelihood, for dual self-rewards).
    Caption,
}

/// What the trainer's generation items ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GenPrompt {
    /// The split's GenEval prompts ("a photo of two red circles").
    #[default]
    Prompt,
    /// Every training scene's caption ("a red circle at top left and …"),
    /// checked against the scene's objects, colours and counts: the inverse
    /// of captioning, so a dual self-reward scores an image by the caption
    /// in the form the model writes captions.
    Caption,
}

/// Training items of one split, images decoded once, plus each image's VQ
/// codes (R_U scores the original image's codes).
pub struct RlData {
    pub images: Vec<RgbImage>,
    pub codes: Vec<Vec<u32>>,
    pub und: Vec<UndItem>,
    pub generation: Vec<GenItem>,
    pub pairs: Vec<Pair>,
    /// What the trainer draws from, by index into `und` and `pairs`: each
    /// once per epoch, or letter-balanced ([`super::balance`]).
    pub und_draws: Vec<usize>,
    pub pair_draws: Vec<usize>,
    /// How many of `und` are the split's own items (the rest were made by
    /// cross-modal completion for pairs).
    pub split_und: usize,
}

/// Reads a ShapeWorld-layout split (`scenes.jsonl`, `understanding.jsonl`,
/// `generation.jsonl`, images) and, optionally, a pairs file whose halves
/// refer to items of that split by id.
pub fn read_split<B: Backend>(
    split: &Path,
    und_task: UndTask,
    gen_prompt: GenPrompt,
    pairs: Option<&Path>,
    model: &Janus<B>,
) -> Result<RlData> {
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&split.join("scenes.jsonl"))?;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut images = Vec::with_capacity(scenes.len());
    for s in &scenes {
        index.insert(s.image.clone(), images.len());
        images.push(load_png(&split.join(&s.image))?);
    }
    let image_of = |rel: &str, what: &str| -> Result<usize> {
        index.get(rel).copied().ok_or_else(|| {
            RlError::Data(format!(
                "{}: {what} refers to image `{rel}`, which no scene in scenes.jsonl has",
                split.display()
            ))
        })
    };
    let mut und = Vec::new();
    match und_task {
        UndTask::Mc => {
            let items: Vec<McItem> = duet_data::io::read_jsonl(&split.join("understanding.jsonl"))?;
            for item in items {
                let rel = item.image_1.clone().unwrap_or_default();
                und.push(UndItem {
                    image: image_of(&rel, &format!("item `{}`", item.id))?,
                    question: tasks::mc_question(&item),
                    kind: UndKind::Mc {
                        options: item.options.clone(),
                        answer: item.answer.clone(),
                        subject: item.subject.clone(),
                    },
                    id: item.id,
                });
            }
        }
        UndTask::Caption => {
            for (i, s) in scenes.iter().enumerate() {
                und.push(UndItem {
                    id: s.id.clone(),
                    image: i,
                    question: tasks::CAPTION_QUESTION.to_string(),
                    kind: UndKind::Caption {
                        caption: s.caption.clone(),
                    },
                });
            }
        }
    }
    let mut generation: Vec<GenItem> = match gen_prompt {
        GenPrompt::Prompt => {
            let gens: Vec<GenerationItem> =
                duet_data::io::read_jsonl(&split.join("generation.jsonl"))?;
            gens.into_iter()
                .map(|g| {
                    Ok(GenItem {
                        image: Some(image_of(&g.image, &format!("generation item `{}`", g.id))?),
                        id: g.id,
                        meta: g.metadata,
                    })
                })
                .collect::<Result<_>>()?
        }
        GenPrompt::Caption => scenes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut meta = scene_metadata(&s.scene);
                meta.prompt = s.caption.clone();
                GenItem {
                    id: s.id.clone(),
                    meta,
                    image: Some(i),
                }
            })
            .collect(),
    };
    let split_und = und.len();
    let pairs = match pairs {
        Some(p) => resolve_pairs(p, &read_pairs(p)?, &scenes, &mut und, &mut generation)?,
        None => Vec::new(),
    };
    let codes = encode_images(model, &images)?;
    Ok(RlData {
        images,
        codes,
        und_draws: (0..und.len()).collect(),
        pair_draws: (0..pairs.len()).collect(),
        split_und,
        und,
        generation,
        pairs,
    })
}

/// Maps each pair's halves to training items. A half that is an item of
/// the split (by id) is used as is; a half made by cross-modal completion
/// becomes a new item: an MC question from `understand_ann`, or a prompt
/// from `generate_ann` whose GenEval metadata is derived from the image's
/// scene graph (every object's class, colour and count; exact counts per
/// class).
fn resolve_pairs(
    path: &Path,
    records: &[PairRecord],
    scenes: &[SceneRecord],
    und: &mut Vec<UndItem>,
    generation: &mut Vec<GenItem>,
) -> Result<Vec<Pair>> {
    let by_file: HashMap<&str, usize> = scenes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.image.rsplit('/').next().unwrap_or(&s.image), i))
        .collect();
    let mut u: HashMap<String, usize> = und
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.clone(), i))
        .collect();
    let mut g: HashMap<String, usize> = generation
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.clone(), i))
        .collect();
    let mut out = Vec::with_capacity(records.len());
    for (line, r) in records.iter().enumerate() {
        let at = |m: String| RlError::Data(format!("{}:{}: {m}", path.display(), line + 1));
        let image = |p: &str| -> Result<usize> {
            let file = p.rsplit('/').next().unwrap_or(p);
            by_file
                .get(file)
                .copied()
                .ok_or_else(|| at(format!("image `{p}` is not an image of the training split")))
        };
        let ua = &r.understand_ann;
        let ui = match u.get(&ua.id) {
            Some(&i) => i,
            None => {
                if ua.options.is_empty() {
                    return Err(at(format!(
                        "understand_ann `{}` has no options (multiple choice expected)",
                        ua.id
                    )));
                }
                let item = McItem {
                    id: ua.id.clone(),
                    question: ua.question.clone(),
                    options: ua.options.clone(),
                    answer: ua.answer.clone(),
                    subject: ua.tag.clone(),
                    question_type: "multiple-choice".into(),
                    image_1: None,
                };
                und.push(UndItem {
                    id: format!("pair{}:{}", line + 1, ua.id),
                    image: image(&ua.image_path)?,
                    question: tasks::mc_question(&item),
                    kind: UndKind::Mc {
                        options: item.options,
                        answer: item.answer,
                        subject: item.subject,
                    },
                });
                u.insert(ua.id.clone(), und.len() - 1);
                und.len() - 1
            }
        };
        let ga = &r.generate_ann;
        let gi = match g.get(&ga.id) {
            Some(&i) if generation[i].meta.prompt == ga.prompt => i,
            _ => {
                let img = image(&ga.image_path)?;
                let mut meta = scene_metadata(&scenes[img].scene);
                meta.prompt = ga.prompt.clone();
                generation.push(GenItem {
                    id: format!("pair{}:{}", line + 1, ga.id),
                    meta,
                    image: Some(img),
                });
                g.insert(ga.id.clone(), generation.len() - 1);
                generation.len() - 1
            }
        };
        out.push(Pair {
            und: ui,
            generation: gi,
            pair_type: r.pair_type,
            similarity: r.similarity as f64,
        });
    }
    Ok(out)
}

/// GenEval metadata that a faithful image of `scene` satisfies: one include
/// clause per (class, colour) with its count, and per class an exclude
/// clause that forbids more objects than the scene has.
pub fn scene_metadata(scene: &duet_data::shapeworld::Scene) -> GenEvalMetadata {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut per_class: BTreeMap<&str, u32> = BTreeMap::new();
    for o in &scene.objects {
        *by.entry((o.shape.name(), o.color.name())).or_default() += 1;
        *per_class.entry(o.shape.name()).or_default() += 1;
    }
    GenEvalMetadata {
        tag: duet_data::records::Task::Colors,
        include: by
            .into_iter()
            .map(
                |((class, color), count)| duet_data::records::IncludeClause {
                    class: class.to_string(),
                    count,
                    color: Some(color.to_string()),
                    position: None,
                },
            )
            .collect(),
        exclude: per_class
            .into_iter()
            .map(|(class, n)| duet_data::records::ExcludeClause {
                class: class.to_string(),
                count: n + 1,
            })
            .collect(),
        prompt: String::new(),
    }
}

/// VQ codes of every image, in batches, without an autodiff graph.
fn encode_images<B: Backend>(model: &Janus<B>, images: &[RgbImage]) -> Result<Vec<Vec<u32>>> {
    let device = model.lm_head.weight.device();
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(64) {
        let refs: Vec<&RgbImage> = chunk.iter().collect();
        let codes = model.vqmodel.encode(tasks::pixels(&refs, &device)).codes;
        let [b, n] = codes.dims();
        let flat: Vec<u32> = codes.into_data().iter::<i64>().map(|c| c as u32).collect();
        out.extend((0..b).map(|k| flat[k * n..(k + 1) * n].to_vec()));
    }
    Ok(out)
}
