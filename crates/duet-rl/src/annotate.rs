//! The unified model as PairUni's cross-modal completer (the role GPT-o3
//! plays in the paper): it captions understanding items' images, and for a
//! generation item it answers a count question about the item's image — the
//! question templated from the prompt's object, the answer the model's own.
//! Retries (`attempt > 0`) sample at temperature 1 instead of greedy, so a
//! completion the verifier rejected can come out differently.

use std::path::Path;

use burn::prelude::*;
use duet_data::DataError;
use duet_data::pairs::embed::load_rgb;
use duet_data::pairs::{Annotator, GenItem, McQa, UndItem};
use duet_data::records::{McItem, option_letter};
use duet_data::shapeworld::Shape;
use duet_model::generate::{TextGenConfig, generate_text};
use duet_model::preprocess::{PreprocessConfig, resize_and_pad};
use duet_model::prompts::JanusTokenizer;
use duet_model::sampling::SamplingConfig;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;

use crate::error::{Result, RlError};
use crate::rewards::builtin::mc_correct;
use crate::tasks;

pub struct ModelAnnotator<B: Backend> {
    model: Janus<B>,
    tok: JanusTokenizer,
    ids: GenerationIds,
    preprocess: PreprocessConfig,
    n_img: usize,
    source: String,
}

impl<B: Backend> ModelAnnotator<B> {
    /// Loads a unified-model checkpoint (with its tokenizer.json).
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let (cfg, model) = duet_model::checkpoint::load::<B>(dir, device)?;
        let ids = duet_model::checkpoint::read_generation_ids(dir)?.ok_or_else(|| {
            RlError::Checkpoint {
                path: dir.display().to_string(),
                message: "no generation_config.json".into(),
            }
        })?;
        let tok = JanusTokenizer::from_file(&dir.join("tokenizer.json"))?;
        let n_img = tasks::image_tokens(&model);
        Ok(ModelAnnotator {
            model,
            tok,
            ids,
            preprocess: PreprocessConfig::janus(cfg.vision_config.image_size as u32),
            n_img,
            source: dir.display().to_string(),
        })
    }

    fn err(&self, item: &str, reason: String) -> DataError {
        DataError::Annotator {
            annotator: self.name(),
            item: item.to_string(),
            reason,
        }
    }

    fn images(&self, paths: &[&Path]) -> duet_data::error::Result<Vec<RgbImage>> {
        paths
            .iter()
            .map(|p| load_rgb(p).map(|i| resize_and_pad(&i, &self.preprocess)))
            .collect()
    }

    /// Answers `questions` about `images` (one each).
    fn ask(
        &self,
        questions: &[String],
        images: &[RgbImage],
        max_new_tokens: usize,
        attempt: usize,
    ) -> std::result::Result<Vec<String>, String> {
        let device = self.model.lm_head.weight.device();
        let prompts = questions
            .iter()
            .map(|q| tasks::understanding_ids(&self.tok, q, self.n_img))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.to_string())?;
        let refs: Vec<&RgbImage> = images.iter().collect();
        let sampling = if attempt == 0 {
            SamplingConfig::greedy()
        } else {
            SamplingConfig {
                seed: attempt as u64,
                ..Default::default()
            }
        };
        let cfg = TextGenConfig {
            max_new_tokens,
            stop_tokens: vec![self.ids.eos_token_id],
            pad_id: self.ids.pad_token_id,
            sampling,
        };
        let out = generate_text(
            &self.model,
            &prompts,
            Some(tasks::pixels(&refs, &device)),
            &cfg,
        )
        .map_err(|e| e.to_string())?;
        out.iter()
            .map(|r| {
                tasks::decode_response(&self.tok, r, self.ids.eos_token_id)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// The first ShapeWorld class a prompt names.
fn class_in(prompt: &str) -> Option<&'static str> {
    prompt.split(|c: char| !c.is_alphanumeric()).find_map(|w| {
        let w = w.strip_suffix('s').unwrap_or(w);
        Shape::ALL.iter().map(|s| s.name()).find(|n| *n == w)
    })
}

impl<B: Backend> Annotator for ModelAnnotator<B> {
    fn name(&self) -> String {
        format!("model:{}", self.source)
    }

    fn captions(
        &mut self,
        items: &[&UndItem],
        attempt: usize,
    ) -> duet_data::error::Result<Vec<String>> {
        let paths: Vec<&Path> = items.iter().map(|i| i.image_path()).collect();
        let images = self.images(&paths)?;
        let qs = vec![tasks::CAPTION_QUESTION.to_string(); items.len()];
        self.ask(&qs, &images, 32, attempt)
            .map_err(|e| self.err(&items[0].id, e))
    }

    fn questions(
        &mut self,
        items: &[&GenItem],
        attempt: usize,
    ) -> duet_data::error::Result<Vec<McQa>> {
        let paths: Vec<&Path> = items.iter().map(|i| i.image_path()).collect();
        let images = self.images(&paths)?;
        let options: Vec<String> = (1..=4).map(|n| n.to_string()).collect();
        let mut mc = Vec::with_capacity(items.len());
        for it in items {
            let class = class_in(&it.prompt).ok_or_else(|| {
                self.err(
                    &it.id,
                    format!("the prompt `{}` names no ShapeWorld class", it.prompt),
                )
            })?;
            mc.push(McItem {
                id: it.id.clone(),
                question: format!("How many {class}s are in the image?"),
                options: options.clone(),
                answer: String::new(),
                subject: "count".into(),
                question_type: "multiple-choice".into(),
                image_1: None,
            });
        }
        let qs: Vec<String> = mc.iter().map(tasks::mc_question).collect();
        let answers = self
            .ask(&qs, &images, 8, attempt)
            .map_err(|e| self.err(&items[0].id, e))?;
        mc.iter()
            .zip(answers)
            .map(|(q, a)| {
                // The letter the model chose, by MMMU's parser.
                let letter = (0..4)
                    .map(|i| option_letter(i).to_string())
                    .find(|l| mc_correct(&q.id, &a, &q.options, l))
                    .ok_or_else(|| {
                        self.err(
                            &q.id,
                            format!("no option letter in the model's answer `{a}`"),
                        )
                    })?;
                Ok(McQa {
                    question: format!("<image 1> {}", q.question),
                    options: q.options.clone(),
                    answer: letter,
                })
            })
            .collect()
    }
}
