//! Teacher-forced log-probabilities of given responses — what RL objectives
//! are built on. Text responses are scored with `lm_head`, image-token
//! responses with the generation head, either conditionally (`cond`) or
//! under classifier-free guidance (`cfg`: log-softmax of the guided logits,
//! i.e. the distribution the sampler drew from).
//!
//! Results stay tensors on the model's backend, so on an autodiff backend
//! gradients flow through them.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::batch::{Padded, int2, padded_causal_mask};
use crate::error::{ModelError, Result};
use crate::generate::{ImageGenConfig, uncond_prompt};
use crate::janus::Janus;

/// Per-token log-probs `[batch, max_len]` and a mask `[batch, max_len]`
/// (1 for real tokens, 0 for padding of shorter responses).
#[derive(Debug, Clone)]
pub struct TokenLogprobs<B: Backend> {
    pub logprobs: Tensor<B, 2>,
    pub mask: Tensor<B, 2>,
}

/// How image tokens are scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenLogprobMode {
    /// `log p(code | prompt)` from the conditional branch alone.
    Cond,
    /// `log softmax(uncond + w·(cond − uncond))`.
    Cfg,
}

/// Lays out rows as `left padding ++ prompt ++ response ++ right padding`,
/// so every response starts at the same column: returns the padded batch,
/// that column and the longest response.
fn layout(
    prompts: &[Vec<u32>],
    responses: &[Vec<u32>],
    pad: u32,
) -> Result<(Padded, usize, usize)> {
    if prompts.len() != responses.len() || prompts.is_empty() {
        return Err(ModelError::Input(format!(
            "{} prompts but {} responses",
            prompts.len(),
            responses.len()
        )));
    }
    if prompts.iter().any(Vec::is_empty) {
        return Err(ModelError::Input(
            "every prompt needs at least one token".into(),
        ));
    }
    let plen = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let rmax = responses.iter().map(Vec::len).max().unwrap_or(0);
    let rows: Vec<Vec<u32>> = prompts
        .iter()
        .zip(responses)
        .map(|(p, r)| {
            let mut row = vec![pad; plen - p.len()];
            row.extend_from_slice(p);
            row.extend_from_slice(r);
            row.resize(plen + rmax, pad);
            row
        })
        .collect();
    let mut padded = Padded::right(&rows, pad);
    // Mark the left padding and the response tail padding.
    for (r, (p, resp)) in prompts.iter().zip(responses).enumerate() {
        let base = r * padded.len;
        for j in 0..padded.len {
            padded.pad[base + j] = j < plen - p.len() || j >= plen + resp.len();
        }
    }
    Ok((padded, plen, rmax))
}

/// Gathers, for each row, the log-prob of `targets[r][k]` from the
/// distribution at position `start + k − 1`.
fn gather<B: Backend>(
    logp: Tensor<B, 3>,
    targets: &[Vec<u32>],
    start: usize,
    rmax: usize,
) -> TokenLogprobs<B> {
    let [b, _, v] = logp.dims();
    let device = logp.device();
    let dist = logp.slice([0..b, start - 1..start - 1 + rmax, 0..v]); // [b, rmax, v]
    let mut idx = Vec::with_capacity(b * rmax);
    let mut mask = Vec::with_capacity(b * rmax);
    for t in targets {
        for k in 0..rmax {
            idx.push(t.get(k).copied().unwrap_or(0) as i64);
            mask.push(if k < t.len() { 1.0f32 } else { 0.0 });
        }
    }
    let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(idx, [b, rmax, 1]), &device);
    let lp = dist.gather(2, idx).reshape([b, rmax]);
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [b, rmax]), &device);
    TokenLogprobs {
        logprobs: lp * mask.clone(),
        mask,
    }
}

/// Log-probs of text `responses` after `prompts` (image placeholders in the
/// prompts filled from `pixels`, in order).
pub fn text_logprobs<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    responses: &[Vec<u32>],
    pixels: Option<Tensor<B, 4>>,
    pad_id: u32,
) -> Result<TokenLogprobs<B>> {
    let features = pixels.map(|px| model.image_features(px));
    text_logprobs_from_features(model, prompts, responses, features, pad_id)
}

/// [`text_logprobs`] with the images already encoded (`[images, patches,
/// hidden]` from `Janus::image_features`): rows that share an image (a GRPO
/// group) can encode it once and index the features, and gradients still
/// reach the vision tower.
pub fn text_logprobs_from_features<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    responses: &[Vec<u32>],
    features: Option<Tensor<B, 3>>,
    pad_id: u32,
) -> Result<TokenLogprobs<B>> {
    let (p, start, rmax) = layout(prompts, responses, pad_id)?;
    if rmax == 0 {
        return Err(ModelError::Input("all responses are empty".into()));
    }
    let device = model.lm_head.weight.device();
    let embeds = model.merge_embeddings(&p.ids, p.batch, features)?;
    let mask = padded_causal_mask::<B>(&p.pad, p.batch, p.len, 0, &device);
    let h = model.decode_masked(
        embeds,
        int2(p.positions(), p.batch, p.len, &device),
        Some(mask),
        None,
    );
    let logp = log_softmax(crate::linear::apply(&model.lm_head, h), 2);
    Ok(gather(logp, responses, start, rmax))
}

/// Log-probs of image-token `codes` (one row per prompt, all of the same
/// length) after `prompts` (which end with BOI).
pub fn image_logprobs<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    codes: &[Vec<u32>],
    mode: GenLogprobMode,
    cfg: &ImageGenConfig,
) -> Result<TokenLogprobs<B>> {
    let n = prompts.len();
    let len = codes.first().map_or(0, Vec::len);
    if len == 0 || codes.iter().any(|c| c.len() != len) {
        return Err(ModelError::Input(
            "image codes must be non-empty rows of equal length".into(),
        ));
    }
    let guided = mode == GenLogprobMode::Cfg && cfg.cfg_scale != 1.0;
    let mut rows: Vec<Vec<u32>> = prompts.to_vec();
    let mut code_rows: Vec<Vec<u32>> = codes.to_vec();
    if guided {
        rows.extend(prompts.iter().map(|p| uncond_prompt(p, cfg)));
        code_rows.extend_from_slice(codes);
    }
    let p = Padded::left(&rows, cfg.pad_id);
    let b = p.batch;
    let device = model.lm_head.weight.device();
    let text = model.merge_embeddings(&p.ids, b, None)?;
    // Image positions take the generation-aligned code embeddings of the
    // previous codes (the last code is only a target).
    let inputs: Vec<i64> = code_rows
        .iter()
        .flat_map(|c| c[..len - 1].iter().map(|&x| x as i64))
        .collect();
    let mut pad = Vec::with_capacity(b * (p.len + len - 1));
    let mut pos = Vec::with_capacity(b * (p.len + len - 1));
    let base = p.positions();
    for r in 0..b {
        pad.extend_from_slice(&p.pad[r * p.len..(r + 1) * p.len]);
        pad.extend(std::iter::repeat_n(false, len - 1));
        let real = p.pad[r * p.len..(r + 1) * p.len]
            .iter()
            .filter(|x| !**x)
            .count() as i64;
        pos.extend_from_slice(&base[r * p.len..(r + 1) * p.len]);
        pos.extend(real..real + len as i64 - 1);
    }
    let embeds = if len > 1 {
        let img = model.image_token_embeddings(int2(inputs, b, len - 1, &device));
        Tensor::cat(vec![text, img], 1)
    } else {
        text
    };
    let total = p.len + len - 1;
    let mask = padded_causal_mask::<B>(&pad, b, total, 0, &device);
    let h = model.decode_masked(embeds, int2(pos, b, total, &device), Some(mask), None);
    let d = h.dims()[2];
    let h = h.slice([0..b, p.len - 1..total, 0..d]); // the positions predicting each code
    let logits = model.image_logits(h); // [b, len, K]
    let k = logits.dims()[2];
    let logits = if guided {
        let cond = logits.clone().slice([0..n, 0..len, 0..k]);
        let unc = logits.slice([n..2 * n, 0..len, 0..k]);
        unc.clone() + (cond - unc) * cfg.cfg_scale
    } else {
        logits.slice([0..n, 0..len, 0..k])
    };
    // `gather` reads position start−1+k; the slice above already starts there.
    Ok(gather(log_softmax(logits, 2), codes, 1, len))
}
