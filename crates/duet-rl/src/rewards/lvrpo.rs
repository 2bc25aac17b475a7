//! LVRPO's language–visual alignment rewards (methods.md §5.3) with duet's
//! contrastive encoder in SigLIP 2's role: global image–prompt cosine, dense
//! grounding (per object phrase, the best-matching patch), and a
//! self-consistency check where the policy answers a question about its own
//! image. Rule satisfaction is the `geneval` reward.

use std::path::Path;

use burn::prelude::*;
use duet_model::contrastive::{self, ContrastiveEncoder};
use duet_model::generate::{TextGenConfig, generate_text};
use duet_model::sampling::SamplingConfig;
use image::RgbImage;

use super::builtin::mc_correct;
use super::{Reward, Sample, ScoreCtx};
use crate::error::{Result, RlError};
use crate::tasks;
use crate::tensors::to_vec;

fn gen_samples<'a>(samples: &'a [Sample]) -> Vec<(usize, &'a str, &'a RgbImage)> {
    samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Sample::Generation { item, image, .. } => Some((i, item.meta.prompt.as_str(), *image)),
            _ => None,
        })
        .collect()
}

fn encode_text(ctx_tok: &duet_model::prompts::JanusTokenizer, text: &str) -> Result<Vec<u32>> {
    ctx_tok
        .encode(text)
        .map_err(|e| RlError::Tokenizer(e.to_string()))
}

/// Cosine of the encoder's image embedding and the prompt's text embedding.
pub struct ContrastiveCosine<B: Backend> {
    name: String,
    encoder: ContrastiveEncoder<B>,
}

impl<B: Backend> ContrastiveCosine<B> {
    pub fn load(name: String, dir: &Path, device: &B::Device) -> Result<Self> {
        Ok(ContrastiveCosine {
            name,
            encoder: contrastive::load::<B>(dir, device)?.1,
        })
    }
}

impl<B: Backend> Reward<B> for ContrastiveCosine<B> {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let mut out = vec![None; samples.len()];
        let todo = gen_samples(samples);
        let device = self.encoder.text_projection.weight.device();
        for chunk in todo.chunks(64) {
            let imgs: Vec<&RgbImage> = chunk.iter().map(|c| c.2).collect();
            let rows = chunk
                .iter()
                .map(|c| encode_text(ctx.tokenizer, c.1))
                .collect::<Result<Vec<_>>>()?;
            let ie = self.encoder.embed_images(tasks::pixels(&imgs, &device));
            let te = self.encoder.embed_texts(&rows)?;
            let cos = to_vec((ie * te).sum_dim(1));
            for (c, v) in chunk.iter().zip(cos) {
                out[c.0] = Some(v as f64);
            }
        }
        Ok(out)
    }
}

/// The object phrases of a GenEval prompt: `[color] class` per clause.
pub fn phrases(meta: &duet_data::records::GenEvalMetadata) -> Vec<String> {
    meta.include
        .iter()
        .map(|c| match &c.color {
            Some(col) => format!("{col} {}", c.class),
            None => c.class.clone(),
        })
        .collect()
}

/// `mean_k max_p cos(patch_p, phrase_k)` over the prompt's object phrases.
pub struct DenseGrounding<B: Backend> {
    name: String,
    encoder: ContrastiveEncoder<B>,
}

impl<B: Backend> DenseGrounding<B> {
    pub fn load(name: String, dir: &Path, device: &B::Device) -> Result<Self> {
        Ok(DenseGrounding {
            name,
            encoder: contrastive::load::<B>(dir, device)?.1,
        })
    }
}

impl<B: Backend> Reward<B> for DenseGrounding<B> {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let mut out = vec![None; samples.len()];
        let device = self.encoder.text_projection.weight.device();
        for (i, s) in samples.iter().enumerate() {
            let Sample::Generation { item, image, .. } = s else {
                continue;
            };
            let ph = phrases(&item.meta);
            if ph.is_empty() {
                continue;
            }
            let rows = ph
                .iter()
                .map(|p| encode_text(ctx.tokenizer, p))
                .collect::<Result<Vec<_>>>()?;
            let te = self.encoder.embed_texts(&rows)?; // [k, e]
            let pe = self
                .encoder
                .embed_patches(tasks::pixels(&[*image], &device)); // [1, p, e]
            let [_, p, e] = pe.dims();
            let sims = pe.reshape([p, e]).matmul(te.transpose()); // [p, k]
            let best = to_vec(sims.max_dim(0)); // [1, k]
            out[i] = Some(best.iter().map(|&x| x as f64).sum::<f64>() / best.len() as f64);
        }
        Ok(out)
    }
}

/// The policy answers "How many <class>s are in the image?" about its own
/// image; the prompt fixes the answer. 1 when it answers right.
pub struct SelfConsistency {
    pub name: String,
}

impl<B: Backend> Reward<B> for SelfConsistency {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let model = ctx.policy;
        let device = model.lm_head.weight.device();
        let n_img = tasks::image_tokens(model);
        let options: Vec<String> = (1..=4).map(|n| n.to_string()).collect();
        let mut out = vec![None; samples.len()];
        let mut todo = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            let Sample::Generation { item, image, .. } = s else {
                continue;
            };
            let Some(first) = item.meta.include.first() else {
                continue;
            };
            let count: u32 = item
                .meta
                .include
                .iter()
                .filter(|c| c.class == first.class)
                .map(|c| c.count)
                .sum();
            if !(1..=4).contains(&count) {
                continue;
            }
            let item_q = duet_data::records::McItem {
                id: item.id.clone(),
                question: format!("<image 1> How many {}s are in the image?", first.class),
                options: options.clone(),
                answer: duet_data::records::option_letter(count as usize - 1).to_string(),
                subject: "count".into(),
                question_type: "multiple-choice".into(),
                image_1: None,
            };
            todo.push((i, item_q, *image));
        }
        let cfg = TextGenConfig {
            max_new_tokens: 8,
            stop_tokens: vec![ctx.ids.eos_token_id],
            pad_id: ctx.ids.pad_token_id,
            sampling: SamplingConfig::greedy(),
        };
        for chunk in todo.chunks(32) {
            let prompts = chunk
                .iter()
                .map(|(_, q, _)| {
                    tasks::understanding_ids(ctx.tokenizer, &tasks::mc_question(q), n_img)
                })
                .collect::<Result<Vec<_>>>()?;
            let imgs: Vec<&RgbImage> = chunk.iter().map(|c| c.2).collect();
            let resp = generate_text(model, &prompts, Some(tasks::pixels(&imgs, &device)), &cfg)?;
            for ((i, q, _), r) in chunk.iter().zip(resp) {
                let text = tasks::decode_response(ctx.tokenizer, &r, ctx.ids.eos_token_id)?;
                out[*i] = Some(mc_correct(&q.id, &text, &q.options, &q.answer) as u8 as f64);
            }
        }
        Ok(out)
    }
}
