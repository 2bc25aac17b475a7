//! Rollouts through the model's sampling API on a backend without autodiff
//! (the trainer passes `model.valid()`), so no graph is built: G answers per
//! understanding item, G images (tokens with CFG, then VQ-decoded) per
//! generation prompt.

use burn::prelude::*;
use duet_model::generate::{
    ImageGenConfig, TextGenConfig, generate_image_tokens_scored, generate_text_from_features,
};
use duet_model::prompts::JanusTokenizer;
use duet_model::sampling::SamplingConfig;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;

use super::config::RlConfig;
use super::data::RlData;
use crate::error::Result;
use crate::eval::decode_codes;
use crate::tasks;

/// Understanding rollouts of one item.
#[derive(Debug, Clone)]
pub struct UndRollout {
    pub item: usize,
    pub prompt: Vec<u32>,
    /// Sampled ids (up to and including EOS when it came).
    pub response: Vec<u32>,
    pub text: String,
    /// Whether generation hit `max_completion_length` without EOS.
    pub truncated: bool,
    /// The sampler's log-probability of each response token.
    pub sampler_logp: Vec<f32>,
}

/// Generation rollouts of one item.
#[derive(Debug, Clone)]
pub struct GenRollout {
    pub item: usize,
    pub prompt: Vec<u32>,
    pub codes: Vec<u32>,
    pub image: RgbImage,
    /// The sampler's log-probability of each code (under the guided logits).
    pub sampler_logp: Vec<f32>,
}

fn sampling(cfg: &RlConfig, seed: u64) -> SamplingConfig {
    SamplingConfig {
        temperature: cfg.temperature,
        top_k: cfg.top_k,
        top_p: cfg.top_p,
        seed,
    }
}

/// Vision features `[rows, patches, hidden]` of `images` (indices into
/// `data.images`), each distinct image encoded once: a group's G rows share
/// one image.
pub fn features<B: Backend>(model: &Janus<B>, data: &RlData, images: &[usize]) -> Tensor<B, 3> {
    let device = model.lm_head.weight.device();
    let mut unique: Vec<usize> = Vec::new();
    let idx: Vec<i64> = images
        .iter()
        .map(|i| match unique.iter().position(|u| u == i) {
            Some(k) => k as i64,
            None => {
                unique.push(*i);
                unique.len() as i64 - 1
            }
        })
        .collect();
    let refs: Vec<&RgbImage> = unique.iter().map(|&i| &data.images[i]).collect();
    let f = model.image_features(tasks::pixels(&refs, &device));
    let n = idx.len();
    f.select(
        0,
        Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n]), &device),
    )
}

/// Each item repeated `g` times: one row per rollout of its group.
fn group_rows(items: &[usize], g: usize) -> Vec<usize> {
    items
        .iter()
        .flat_map(|&i| std::iter::repeat_n(i, g))
        .collect()
}

/// `num_generations` answers for each of `items` (indices into `data.und`).
pub fn understanding<B: Backend>(
    model: &Janus<B>,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    data: &RlData,
    items: &[usize],
    cfg: &RlConfig,
    seed: u64,
) -> Result<Vec<UndRollout>> {
    let n_img = tasks::image_tokens(model);
    let rows = group_rows(items, cfg.num_generations);
    let mut out = Vec::with_capacity(rows.len());
    for (c, chunk) in rows.chunks(cfg.micro_batch_size).enumerate() {
        let prompts = chunk
            .iter()
            .map(|&i| tasks::understanding_ids(tok, &data.und[i].question, n_img))
            .collect::<Result<Vec<_>>>()?;
        let imgs: Vec<usize> = chunk.iter().map(|&i| data.und[i].image).collect();
        let text_cfg = TextGenConfig {
            max_new_tokens: cfg.max_completion_length,
            stop_tokens: vec![ids.eos_token_id],
            pad_id: ids.pad_token_id,
            sampling: sampling(cfg, seed.wrapping_add(c as u64)),
        };
        let (resp, lps) = generate_text_from_features(
            model,
            &prompts,
            Some(features(model, data, &imgs)),
            &text_cfg,
        )?;
        for (((&item, prompt), response), sampler_logp) in
            chunk.iter().zip(prompts).zip(resp).zip(lps)
        {
            let truncated = response.last() != Some(&ids.eos_token_id);
            out.push(UndRollout {
                item,
                text: tasks::decode_response(tok, &response, ids.eos_token_id)?,
                prompt,
                response,
                truncated,
                sampler_logp,
            });
        }
    }
    Ok(out)
}

/// The image-generation settings of rollouts and of `cfg`-mode log-probs.
pub fn image_cfg(
    model_tokens: usize,
    ids: &GenerationIds,
    cfg: &RlConfig,
    seed: u64,
) -> ImageGenConfig {
    ImageGenConfig {
        num_tokens: model_tokens,
        cfg_scale: cfg.cfg_weight,
        sampling: sampling(cfg, seed),
        use_cache: true,
        ..crate::tasks::cond_image_cfg(ids)
    }
}

/// `num_generations` images for each of `items` (indices into
/// `data.generation`).
pub fn generation<B: Backend>(
    model: &Janus<B>,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    data: &RlData,
    items: &[usize],
    cfg: &RlConfig,
    seed: u64,
) -> Result<Vec<GenRollout>> {
    let n_img = tasks::image_tokens(model);
    let rows = group_rows(items, cfg.num_generations);
    // CFG doubles the rows of each forward pass; at least two chunks, so a
    // step's images are drawn on both cores (each chunk seeded by its index).
    let per = (cfg.micro_batch_size / if cfg.cfg_weight != 1.0 { 2 } else { 1 })
        .min(rows.len().div_ceil(2))
        .max(1);
    let chunks = crate::parallel::chunks_on_two(
        &rows,
        per,
        |c, chunk| {
            let prompts = chunk
                .iter()
                .map(|&i| tasks::generation_ids(tok, &data.generation[i].meta.prompt))
                .collect::<Result<Vec<_>>>()?;
            let gen_cfg = image_cfg(
                n_img,
                ids,
                cfg,
                seed.wrapping_add(1_000_003 * (c as u64 + 1)),
            );
            let (codes, lps) = generate_image_tokens_scored(model, &prompts, &gen_cfg)?;
            let images = decode_codes(model, &codes)?;
            Ok(chunk
                .iter()
                .zip(prompts)
                .zip(codes)
                .zip(images)
                .zip(lps)
                .map(
                    |((((&item, prompt), codes), image), sampler_logp)| GenRollout {
                        item,
                        prompt,
                        codes,
                        image,
                        sampler_logp,
                    },
                )
                .collect::<Vec<_>>())
        },
        &mut |_| {},
    )?;
    Ok(chunks.into_iter().flatten().collect())
}
