//! Batched generation with the KV cache: text (image → answer) and image
//! tokens (prompt → VQ codes) with classifier-free guidance, the cond and
//! uncond rows in one batch as transformers lays them out ([cond…; uncond…]),
//! `guided = uncond + w·(cond − uncond)`.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::{Padded, int2, padded_causal_mask};
use crate::cache::KvCache;
use crate::error::{ModelError, Result};
use crate::janus::Janus;
use crate::sampling::{Sampler, SamplingConfig};

/// Generated ids per row and each id's sampler log-probability.
pub type Scored = (Vec<Vec<u32>>, Vec<Vec<f32>>);

/// Text generation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextGenConfig {
    pub max_new_tokens: usize,
    /// Generation stops for a row after any of these.
    pub stop_tokens: Vec<u32>,
    /// Fills left padding (masked out).
    pub pad_id: u32,
    pub sampling: SamplingConfig,
}

/// Image-token generation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageGenConfig {
    /// Image tokens to produce (the code grid, e.g. 576 for Janus-Pro).
    pub num_tokens: usize,
    /// CFG weight `w`; 1 turns guidance (and the uncond rows) off.
    pub cfg_scale: f64,
    /// `<｜▁pad▁｜>`: fills the unconditional prompt and left padding.
    pub pad_id: u32,
    /// Kept in the unconditional prompt.
    pub bos_id: u32,
    pub boi_id: u32,
    pub sampling: SamplingConfig,
    /// With `false`, every step re-runs the whole sequence (for benchmarks).
    pub use_cache: bool,
}

/// Rows of the last position's hidden state, `[batch, hidden]`.
fn last<B: Backend>(h: Tensor<B, 3>) -> Tensor<B, 2> {
    let [b, t, d] = h.dims();
    h.slice([0..b, t - 1..t, 0..d]).reshape([b, d])
}

fn host(t: Tensor<impl Backend, 2>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| ModelError::Input(format!("reading logits: {e:?}")))
}

/// Most positions a decode reserves in the cache before it needs them (a
/// Janus-Pro image is 576).
const MAX_RESERVE: usize = 1024;

/// State of a padded, cached decode.
struct Decode<B: Backend> {
    cache: KvCache<B>,
    key_pad: Vec<Vec<bool>>,
    next_pos: Vec<i64>,
    padded: bool,
}

impl<B: Backend> Decode<B> {
    /// Runs the prompt embeddings `[batch, len]` of `p` through the model,
    /// with room in the cache for `new_tokens` more positions — at most
    /// [`MAX_RESERVE`]: a long `max_new_tokens` that stops early must not
    /// allocate its whole cache up front; past the reserve the buffers
    /// double as they fill.
    fn prefill(
        model: &Janus<B>,
        p: &Padded,
        embeds: Tensor<B, 3>,
        new_tokens: usize,
    ) -> (Self, Tensor<B, 3>) {
        let device = embeds.device();
        let reserve = new_tokens.min(MAX_RESERVE);
        let mut cache = KvCache::with_reserve(model.language_model.layers.len(), reserve);
        let pos = p.positions();
        let mask = p
            .has_padding()
            .then(|| padded_causal_mask::<B>(&p.pad, p.batch, p.len, 0, &device));
        let h = model.decode_masked(
            embeds,
            int2(pos.clone(), p.batch, p.len, &device),
            mask,
            Some(&mut cache),
        );
        let key_pad = (0..p.batch)
            .map(|r| p.pad[r * p.len..(r + 1) * p.len].to_vec())
            .collect();
        let next_pos = (0..p.batch)
            .map(|r| (r * p.len..(r + 1) * p.len).filter(|&i| !p.pad[i]).count() as i64)
            .collect();
        let state = Decode {
            cache,
            key_pad,
            next_pos,
            padded: p.has_padding(),
        };
        (state, h)
    }

    /// One new position per row.
    fn step(&mut self, model: &Janus<B>, embeds: Tensor<B, 3>) -> Tensor<B, 3> {
        let device = embeds.device();
        let b = self.key_pad.len();
        for row in &mut self.key_pad {
            row.push(false);
        }
        let past = self.cache.len();
        let mask = self.padded.then(|| {
            let flat: Vec<bool> = self.key_pad.iter().flatten().copied().collect();
            padded_causal_mask::<B>(&flat, b, 1, past, &device)
        });
        let pos = int2(self.next_pos.clone(), b, 1, &device);
        self.next_pos.iter_mut().for_each(|p| *p += 1);
        model.decode_masked(embeds, pos, mask, Some(&mut self.cache))
    }
}

/// Generates text for each prompt (token ids, with image placeholders filled
/// from `pixels` in order). Returns the new tokens of each row, up to and
/// including a stop token.
pub fn generate_text<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    pixels: Option<Tensor<B, 4>>,
    cfg: &TextGenConfig,
) -> Result<Vec<Vec<u32>>> {
    Ok(generate_text_scored(model, prompts, pixels, cfg)?.0)
}

/// [`generate_text`], also returning each new token's log-probability under
/// the logits it was sampled from (see [`Sampler::last_logprob`]).
pub fn generate_text_scored<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    pixels: Option<Tensor<B, 4>>,
    cfg: &TextGenConfig,
) -> Result<Scored> {
    let features = pixels.map(|px| model.image_features(px));
    generate_text_from_features(model, prompts, features, cfg)
}

/// [`generate_text_scored`] with the images already encoded (`[images,
/// patches, hidden]`), so G rollouts of one image encode it once.
pub fn generate_text_from_features<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    features: Option<Tensor<B, 3>>,
    cfg: &TextGenConfig,
) -> Result<Scored> {
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ModelError::Input(
            "every prompt needs at least one token".into(),
        ));
    }
    let p = Padded::left(prompts, cfg.pad_id);
    let device = model.lm_head.weight.device();

    let embeds = model.merge_embeddings(&p.ids, p.batch, features)?;
    let (mut state, h) = Decode::prefill(model, &p, embeds, cfg.max_new_tokens);
    let mut hidden = last(h);
    let mut sampler = Sampler::new(cfg.sampling.clone());
    let mut out = vec![Vec::new(); p.batch];
    let mut lps = vec![Vec::new(); p.batch];
    let mut done = vec![false; p.batch];
    for _ in 0..cfg.max_new_tokens {
        let mut logits = host(model.lm_head.forward(hidden))?;
        let v = logits.len() / p.batch;
        let mut next = Vec::with_capacity(p.batch);
        for r in 0..p.batch {
            if done[r] {
                next.push(cfg.pad_id as i64);
                continue;
            }
            // The image placeholder only marks where image features go; a
            // sampled one would make the text unscoreable (and unreadable).
            let t =
                sampler.sample_excluding(&mut logits[r * v..(r + 1) * v], &[model.image_token_id]);
            out[r].push(t);
            lps[r].push(sampler.last_logprob());
            done[r] = cfg.stop_tokens.contains(&t);
            next.push(t as i64);
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let e = model.language_model.embed(int2(next, p.batch, 1, &device));
        hidden = last(state.step(model, e));
    }
    Ok((out, lps))
}

/// The unconditional CFG prompt: every token but BOS and BOI becomes `pad`.
pub fn uncond_prompt(prompt: &[u32], cfg: &ImageGenConfig) -> Vec<u32> {
    prompt
        .iter()
        .map(|&t| {
            if t == cfg.bos_id || t == cfg.boi_id {
                t
            } else {
                cfg.pad_id
            }
        })
        .collect()
}

/// Generates `num_tokens` image tokens per prompt (prompts end with BOI).
pub fn generate_image_tokens<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    cfg: &ImageGenConfig,
) -> Result<Vec<Vec<u32>>> {
    Ok(generate_image_tokens_scored(model, prompts, cfg)?.0)
}

/// [`generate_image_tokens`], also returning each code's log-probability
/// under the (guided, with CFG) logits it was sampled from.
pub fn generate_image_tokens_scored<B: Backend>(
    model: &Janus<B>,
    prompts: &[Vec<u32>],
    cfg: &ImageGenConfig,
) -> Result<Scored> {
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ModelError::Input(
            "every prompt needs at least one token".into(),
        ));
    }
    let guided = cfg.cfg_scale != 1.0;
    let n = prompts.len();
    let mut rows: Vec<Vec<u32>> = prompts.to_vec();
    if guided {
        rows.extend(prompts.iter().map(|p| uncond_prompt(p, cfg)));
    }
    let p = Padded::left(&rows, cfg.pad_id);
    let device = model.lm_head.weight.device();
    let embeds = model.merge_embeddings(&p.ids, p.batch, None)?;
    let mut sampler = Sampler::new(cfg.sampling.clone());
    let mut out = vec![Vec::with_capacity(cfg.num_tokens); n];
    let mut lps = vec![Vec::with_capacity(cfg.num_tokens); n];
    let w = cfg.cfg_scale as f32;
    let mut pick = |hidden: Tensor<B, 2>, out: &mut Vec<Vec<u32>>| -> Result<Vec<i64>> {
        let logits = host(model.image_logits(hidden))?;
        let k = logits.len() / p.batch;
        let mut codes = Vec::with_capacity(p.batch);
        for r in 0..n {
            let cond = &logits[r * k..(r + 1) * k];
            let t = if guided {
                let unc = &logits[(n + r) * k..(n + r + 1) * k];
                let g: Vec<f32> = cond.iter().zip(unc).map(|(c, u)| u + w * (c - u)).collect();
                sampler.sample(&g)
            } else {
                sampler.sample(cond)
            };
            out[r].push(t);
            lps[r].push(sampler.last_logprob());
            codes.push(t as i64);
        }
        if guided {
            codes.extend_from_within(..);
        }
        Ok(codes)
    };
    if cfg.use_cache {
        let (mut state, h) = Decode::prefill(model, &p, embeds, cfg.num_tokens);
        let mut hidden = last(h);
        for step in 0..cfg.num_tokens {
            let codes = pick(hidden, &mut out)?;
            if step + 1 == cfg.num_tokens {
                break;
            }
            let e = model.image_token_embeddings(int2(codes, p.batch, 1, &device));
            hidden = last(state.step(model, e));
        }
    } else {
        let mut seq = embeds;
        let mut pad = p.pad.clone();
        let mut pos = p.positions();
        for step in 0..cfg.num_tokens {
            let len = seq.dims()[1];
            let mask = p
                .has_padding()
                .then(|| padded_causal_mask::<B>(&pad, p.batch, len, 0, &device));
            let h = model.decode_masked(
                seq.clone(),
                int2(pos.clone(), p.batch, len, &device),
                mask,
                None,
            );
            let codes = pick(last(h), &mut out)?;
            if step + 1 == cfg.num_tokens {
                break;
            }
            let e = model.image_token_embeddings(int2(codes, p.batch, 1, &device));
            seq = Tensor::cat(vec![seq, e], 1);
            // Grow the row-major flags and positions by one column.
            let (mut np, mut npos) = (Vec::new(), Vec::new());
            for r in 0..p.batch {
                np.extend_from_slice(&pad[r * len..(r + 1) * len]);
                np.push(false);
                npos.extend_from_slice(&pos[r * len..(r + 1) * len]);
                npos.push(
                    pos[r * len..(r + 1) * len]
                        .iter()
                        .copied()
                        .max()
                        .unwrap_or(-1)
                        + 1,
                );
            }
            pad = np;
            pos = npos;
        }
    }
    Ok((out, lps))
}
