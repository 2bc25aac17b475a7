//! SFT's training data: one split's scenes and MC items tokenised into
//! understanding examples (captions, multiple choice, open-ended questions,
//! text-only MC drills) and text-to-image examples with their VQ codes.

use std::path::Path;

use burn::prelude::*;
use duet_data::records::McItem;
use duet_data::shapeworld::SceneRecord;
use duet_model::prompts::JanusTokenizer;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;

use crate::error::{Result, RlError};
use crate::tasks;

/// An understanding example: image index, prompt and response ids.
#[derive(Debug, Clone)]
pub struct UndExample {
    pub image: usize,
    pub prompt: Vec<u32>,
    pub response: Vec<u32>,
}

/// A text-to-image example: prompt ids (ending with BOI), the same with
/// the scene's caption as the prompt, and the target codes.
#[derive(Debug, Clone)]
pub struct GenExample {
    pub prompt: Vec<u32>,
    pub caption_prompt: Vec<u32>,
    pub codes: Vec<u32>,
}

/// Tokenised training data of one split.
pub struct SftData {
    pub images: Vec<RgbImage>,
    pub captions: Vec<UndExample>,
    pub mc: Vec<UndExample>,
    /// The MC items asked open-ended (same order as `mc`).
    pub short: Vec<UndExample>,
    /// The MC items without their image, `option_then_letter` targets.
    pub drills: Vec<UndExample>,
    pub t2i: Vec<GenExample>,
}

/// Reads a ShapeWorld split (`scenes.jsonl`, `understanding.jsonl`,
/// images), tokenises it (MC targets as `mc_target` says) and encodes every
/// image with `model`'s VQ.
pub fn build_data<B: Backend>(
    split: &Path,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    model: &Janus<B>,
    mc_target: tasks::McTarget,
) -> Result<SftData> {
    let device = model.lm_head.weight.device();
    let n_img = tasks::image_tokens(model);
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&split.join("scenes.jsonl"))?;
    let mc_items: Vec<McItem> = duet_data::io::read_jsonl(&split.join("understanding.jsonl"))?;
    let mut index = std::collections::HashMap::new();
    let mut images = Vec::with_capacity(scenes.len());
    for s in &scenes {
        index.insert(s.image.clone(), images.len());
        images.push(duet_data::shapeworld::load_png(&split.join(&s.image))?);
    }
    let caption_prompt = tasks::understanding_ids(tok, tasks::CAPTION_QUESTION, n_img)?;
    let captions = scenes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(UndExample {
                image: i,
                prompt: caption_prompt.clone(),
                response: tasks::response_ids(tok, &s.caption, ids.eos_token_id)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (mut mc, mut short, mut drills) = (Vec::new(), Vec::new(), Vec::new());
    for item in &mc_items {
        let rel = item.image_1.as_deref().unwrap_or_default();
        let image = *index.get(rel).ok_or_else(|| {
            RlError::Data(format!(
                "{}: item `{}` refers to `{rel}`, which no scene in scenes.jsonl has",
                split.display(),
                item.id
            ))
        })?;
        let option = item
            .answer
            .chars()
            .next()
            .and_then(|l| item.options.get((l as usize).wrapping_sub('A' as usize)))
            .ok_or_else(|| {
                RlError::Data(format!(
                    "{}: item `{}` has answer `{}`, not a letter of its {} options",
                    split.display(),
                    item.id,
                    item.answer,
                    item.options.len()
                ))
            })?;
        let target = tasks::mc_target_text(mc_target, option, &item.answer);
        mc.push(UndExample {
            image,
            prompt: tasks::understanding_ids(tok, &tasks::mc_question(item), n_img)?,
            response: tasks::response_ids(tok, &target, ids.eos_token_id)?,
        });
        short.push(UndExample {
            image,
            prompt: tasks::understanding_ids(tok, &tasks::short_question(item), n_img)?,
            response: tasks::response_ids(tok, option, ids.eos_token_id)?,
        });
        let drill = tasks::mc_target_text(tasks::McTarget::OptionThenLetter, option, &item.answer);
        drills.push(UndExample {
            image,
            prompt: tasks::understanding_ids(tok, &tasks::mc_question(item), 0)?,
            response: tasks::response_ids(tok, &drill, ids.eos_token_id)?,
        });
    }
    let mut t2i = Vec::with_capacity(scenes.len());
    for (chunk_i, chunk) in scenes.chunks(64).enumerate() {
        let refs: Vec<&RgbImage> = (0..chunk.len())
            .map(|k| &images[chunk_i * 64 + k])
            .collect();
        let codes = model.vqmodel.encode(tasks::pixels(&refs, &device)).codes;
        let [b, n] = codes.dims();
        let flat: Vec<u32> = codes.into_data().iter::<i64>().map(|c| c as u32).collect();
        for (k, s) in chunk.iter().enumerate().take(b) {
            t2i.push(GenExample {
                prompt: tasks::generation_ids(tok, &s.prompt)?,
                caption_prompt: tasks::generation_ids(tok, &s.caption)?,
                codes: flat[k * n..(k + 1) * n].to_vec(),
            });
        }
    }
    Ok(SftData {
        images,
        captions,
        mc,
        short,
        drills,
        t2i,
    })
}
