//! The ShapeWorld oracle: completions read off the scene graph, playing the
//! role GPT-o3 plays in PairUni. Items are linked to their scenes through the
//! dataset's `scenes.jsonl` by image path, so any understanding or generation
//! file whose images come from a ShapeWorld dataset can be completed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::complete::{Annotator, McQa};
use super::items::{GenItem, UndItem};
use crate::error::{DataError, Result};
use crate::io::{read_json, read_jsonl};
use crate::records::option_letter;
use crate::shapeworld::OptionOrder;
use crate::shapeworld::dataset::{Manifest, SceneRecord};
use crate::shapeworld::questions::{Question, caption, questions};
use crate::shapeworld::scene::Scene;
use crate::shapeworld::vocab::{Color, Shape, plural};

/// Scene graphs by canonical image path.
#[derive(Debug, Clone, Default)]
pub struct SceneIndex {
    scenes: HashMap<PathBuf, Scene>,
    /// The option order of the datasets' own questions (from their
    /// `manifest.json`), so the oracle asks in the same form.
    option_order: OptionOrder,
}

impl SceneIndex {
    /// Reads `scenes.jsonl` files; their image paths are relative to them.
    /// A file inside a ShapeWorld dataset (`DIR/<split>/scenes.jsonl`) also
    /// sets the option order from `DIR/manifest.json`; datasets that disagree
    /// are refused, since one question form would then be silently wrong.
    pub fn load(files: &[PathBuf]) -> Result<Self> {
        let mut scenes = HashMap::new();
        let mut order: Option<(OptionOrder, PathBuf)> = None;
        for f in files {
            let base = f.parent().unwrap_or(Path::new(""));
            for rec in read_jsonl::<SceneRecord>(f)? {
                let image = base.join(&rec.image);
                scenes.insert(canonical(&image), rec.scene);
            }
            let manifest = base.parent().map(|d| d.join("manifest.json"));
            if let Some(m) = manifest.filter(|m| m.is_file()) {
                let got = read_json::<Manifest>(&m)?.options.config.option_order;
                match &order {
                    Some((o, first)) if *o != got => {
                        return Err(DataError::Config(format!(
                            "{} asks multiple-choice options {got:?} but {} asks them {o:?}",
                            m.display(),
                            first.display()
                        )));
                    }
                    Some(_) => {}
                    None => order = Some((got, m)),
                }
            }
        }
        Ok(SceneIndex {
            scenes,
            option_order: order.map(|(o, _)| o).unwrap_or_default(),
        })
    }

    /// How the indexed datasets list multiple-choice options.
    pub fn option_order(&self) -> OptionOrder {
        self.option_order
    }

    /// The `scenes.jsonl` beside each input file that has one (ShapeWorld
    /// writes items and scenes into the same split directory).
    pub fn beside(inputs: &[&Path]) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = inputs
            .iter()
            .filter_map(|p| {
                let s = p.parent().unwrap_or(Path::new("")).join("scenes.jsonl");
                s.is_file().then_some(s)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn len(&self) -> usize {
        self.scenes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scenes.is_empty()
    }

    /// The scene drawn in `image`, if known.
    pub fn get(&self, image: &Path) -> Option<&Scene> {
        self.scenes.get(&canonical(image))
    }

    pub(crate) fn require(&self, who: &str, id: &str, image: &Path) -> Result<&Scene> {
        self.get(image).ok_or_else(|| DataError::Annotator {
            annotator: who.to_string(),
            item: id.to_string(),
            reason: format!(
                "no scene graph for image {} (pass the dataset's scenes.jsonl)",
                image.display()
            ),
        })
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// FNV-1a: a hash that stays the same across Rust versions, so choices seeded
/// by it (the oracle's questions, the RL trainer's draw lists) reproduce.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// A question about the entities the prompt names (PairUni: QA "targeting
/// the entities and attributes in C"): one whose text mentions a shape or
/// colour word of the prompt, from a few draws of the scene's questions;
/// any question of the last draw if none does.
fn targeted_question(
    scene: &Scene,
    prompt: &str,
    order: OptionOrder,
    rng: &mut ChaCha8Rng,
) -> Question {
    let named = |w: &&str| {
        Shape::ALL
            .iter()
            .any(|s| s.name() == *w || plural(s.name()) == *w)
            || Color::parse(w).is_some()
    };
    let targets: Vec<&str> = prompt
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(named)
        .collect();
    let mut last = Vec::new();
    for _ in 0..8 {
        let mut qs = questions(scene, order, rng);
        qs.shuffle(rng);
        let hit = qs.iter().position(|q| {
            q.question
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|w| targets.contains(&w))
        });
        if let Some(i) = hit {
            return qs.swap_remove(i);
        }
        last = qs;
    }
    // A count question is always asked, so the list is never empty.
    last.swap_remove(0)
}

/// Captions from the scene graph (every object, its colour and grid cell, so
/// any question about the image can be answered from the caption) and one
/// multiple-choice question per generation item about what its prompt
/// names, drawn by a seed derived from the item id and the attempt.
#[derive(Debug, Clone)]
pub struct ShapeWorldOracle {
    pub scenes: SceneIndex,
}

impl ShapeWorldOracle {
    pub fn new(scenes: SceneIndex) -> Self {
        ShapeWorldOracle { scenes }
    }
}

impl Annotator for ShapeWorldOracle {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn captions(&mut self, items: &[&UndItem], _attempt: usize) -> Result<Vec<String>> {
        items
            .iter()
            .map(|it| {
                let scene = self.scenes.require("oracle", &it.id, it.image_path())?;
                Ok(caption(scene))
            })
            .collect()
    }

    fn questions(&mut self, items: &[&GenItem], attempt: usize) -> Result<Vec<McQa>> {
        items
            .iter()
            .map(|it| {
                let scene = self.scenes.require("oracle", &it.id, it.image_path())?;
                let mut rng = ChaCha8Rng::seed_from_u64(stable_hash(&it.id) ^ (attempt as u64 + 1));
                let q = targeted_question(scene, &it.prompt, self.scenes.option_order(), &mut rng);
                Ok(McQa {
                    question: q.question,
                    options: q.options,
                    answer: option_letter(q.answer).to_string(),
                })
            })
            .collect()
    }

    fn batch_size(&self) -> usize {
        256
    }
}
