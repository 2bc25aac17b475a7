//! Dual self-rewards (SUDER, methods.md §4.3): a sample is scored by the
//! model's own likelihood of the original input in the reverse direction,
//! per token (so caption length does not decide), with no external model.

use burn::prelude::*;
use duet_model::Janus;
use duet_model::logprobs::{GenLogprobMode, TokenLogprobs, image_logprobs, text_logprobs};
use image::RgbImage;

use super::{CaptionPrompt, DualGenForm, Reward, Sample, ScoreCtx, Scorer};
use crate::error::{Result, RlError};
use crate::tasks;
use crate::tensors::to_vec;
use crate::trainer::data::GenItem;
use crate::trainer::data::UndKind;
use duet_data::pairs::oracle::stable_hash;
use duet_data::shapeworld::prompts::caption_as_prompt;
use duet_eval::caption_reader::caption_detections;
use duet_eval::geneval::rules::{Thresholds, evaluate, filter_detections};
use duet_model::sampling::SamplingConfig;

/// Rows scored per forward pass.
const CHUNK: usize = 32;

fn pick<'a, B: Backend>(ctx: &'a ScoreCtx<B>, scorer: Scorer, name: &str) -> Result<&'a Janus<B>> {
    match scorer {
        Scorer::Policy => Ok(ctx.policy),
        Scorer::FrozenInit => ctx.frozen.ok_or_else(|| {
            RlError::Data(format!(
                "reward `{name}` needs the frozen initial model, which was not loaded"
            ))
        }),
    }
}

/// Mean log-prob per row over its real tokens.
pub fn row_means<B: Backend>(lp: TokenLogprobs<B>) -> Vec<f64> {
    let [rows, t] = lp.logprobs.dims();
    let v = to_vec(lp.logprobs);
    let m = to_vec(lp.mask);
    (0..rows)
        .map(|r| {
            let s: f64 = (0..t).map(|k| v[r * t + k] as f64).sum();
            let n: f64 = (0..t).map(|k| m[r * t + k] as f64).sum();
            s / n.max(1.0)
        })
        .collect()
}

/// R_U for caption rollouts: `mean_k log p(x_v^k | caption, x_v^<k)`.
pub struct DualUnderstanding {
    pub name: String,
    pub scorer: Scorer,
    pub prompt: CaptionPrompt,
}

impl<B: Backend> Reward<B> for DualUnderstanding {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let model = pick(ctx, self.scorer, &self.name)?;
        let mut out = vec![None; samples.len()];
        let todo: Vec<(usize, &str, &[u32])> = samples
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Sample::Understanding {
                    item,
                    codes,
                    response,
                    ..
                } if matches!(item.kind, UndKind::Caption { .. }) => Some((i, *response, *codes)),
                _ => None,
            })
            .collect();
        let cfg = tasks::cond_image_cfg(ctx.ids);
        for chunk in todo.chunks(CHUNK) {
            let prompts = chunk
                .iter()
                .map(|(_, caption, _)| {
                    let text = match self.prompt {
                        CaptionPrompt::Caption => caption.to_string(),
                        CaptionPrompt::Geneval => caption_as_prompt(caption),
                    };
                    tasks::generation_ids(ctx.tokenizer, &text)
                })
                .collect::<Result<Vec<_>>>()?;
            let codes: Vec<Vec<u32>> = chunk.iter().map(|(_, _, c)| c.to_vec()).collect();
            let lp = image_logprobs(model, &prompts, &codes, GenLogprobMode::Cond, &cfg)?;
            for ((i, _, _), m) in chunk.iter().zip(row_means(lp)) {
                out[*i] = Some(m);
            }
        }
        Ok(out)
    }
}

/// R_G for image rollouts: `mean_k log p(x_t^k | image, x_t^<k)` of the
/// original prompt, asked as a caption.
pub struct DualGeneration {
    pub name: String,
    pub scorer: Scorer,
    pub form: DualGenForm,
    pub samples: usize,
}

impl<B: Backend> Reward<B> for DualGeneration {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, ctx: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let model = pick(ctx, self.scorer, &self.name)?;
        if self.form == DualGenForm::SelfCheck {
            return self_check(model, ctx, samples, self.samples.max(1));
        }
        let device = model.lm_head.weight.device();
        let n_img = tasks::image_tokens(model);
        let prompt = tasks::understanding_ids(ctx.tokenizer, tasks::CAPTION_QUESTION, n_img)?;
        let mut out = vec![None; samples.len()];
        let todo: Vec<(usize, &str, &RgbImage)> = samples
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Sample::Generation { item, image, .. } => {
                    Some((i, item.meta.prompt.as_str(), *image))
                }
                _ => None,
            })
            .collect();
        let mut texts: Vec<&str> = Vec::new();
        for (_, t, _) in &todo {
            if !texts.contains(t) {
                texts.push(t);
            }
        }
        // Each image is scored against its own prompt, or (contrastive)
        // against every distinct prompt of the step: `per` rows per image,
        // image-major.
        let contrastive = self.form == DualGenForm::Contrastive;
        let per = if contrastive { texts.len() } else { 1 };
        let own: Vec<usize> = todo
            .iter()
            .map(|(_, t, _)| texts.iter().position(|x| x == t).unwrap_or(0))
            .collect();
        let rows: Vec<(usize, usize)> = (0..todo.len())
            .flat_map(|k| {
                let only = own[k];
                (0..per).map(move |j| (k, if contrastive { j } else { only }))
            })
            .collect();
        let mut ll = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            let responses = chunk
                .iter()
                .map(|&(_, j)| tasks::response_ids(ctx.tokenizer, texts[j], ctx.ids.eos_token_id))
                .collect::<Result<Vec<_>>>()?;
            let prompts = vec![prompt.clone(); chunk.len()];
            let imgs: Vec<&RgbImage> = chunk.iter().map(|&(k, _)| todo[k].2).collect();
            let lp = text_logprobs(
                model,
                &prompts,
                &responses,
                Some(tasks::pixels(&imgs, &device)),
                ctx.ids.pad_token_id,
            )?;
            ll.extend(row_means(lp));
        }
        for (k, (i, _, _)) in todo.iter().enumerate() {
            let mine = &ll[k * per..(k + 1) * per];
            out[*i] = if contrastive {
                contrast(mine, own[k])
            } else {
                Some(mine[0])
            };
        }
        Ok(out)
    }
}

/// `ℓ_own − log mean_j exp ℓ_j` over the per-prompt scores `ℓ`, or `None`
/// when there is no other prompt to contrast with.
pub fn contrast(scores: &[f64], own: usize) -> Option<f64> {
    if scores.len() < 2 {
        return None;
    }
    let l_own = *scores.get(own)?;
    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = scores.iter().map(|l| (l - m).exp()).sum::<f64>() / scores.len() as f64;
    Some(l_own - (m + mean.ln()))
}

/// R_G's `self_check` form: `k` captions sampled per image (temperature 1,
/// seeded by the image's codes, so a resumed run draws the same), each read
/// as detections and judged by GenEval's rules against the prompt's
/// metadata; the score is the share that pass.
fn self_check<B: Backend>(
    model: &Janus<B>,
    ctx: &ScoreCtx<B>,
    samples: &[Sample],
    k: usize,
) -> Result<Vec<Option<f64>>> {
    let th = Thresholds::default();
    let mut out = vec![None; samples.len()];
    let todo: Vec<(usize, &GenItem, &[u32], &RgbImage)> = samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Sample::Generation { item, codes, image } => Some((i, *item, *codes, *image)),
            _ => None,
        })
        .collect();
    for chunk in todo.chunks((CHUNK / k).max(1)) {
        let imgs: Vec<&RgbImage> = chunk
            .iter()
            .flat_map(|(_, _, _, im)| std::iter::repeat_n(*im, k))
            .collect();
        let key: Vec<String> = chunk
            .iter()
            .flat_map(|(_, _, c, _)| c.iter().map(u32::to_string))
            .collect();
        let sampling = SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: stable_hash(&key.join(",")),
        };
        let caps = tasks::caption_images(model, ctx.tokenizer, ctx.ids, &imgs, sampling)?;
        for ((i, item, _, im), rows) in chunk.iter().zip(caps.chunks(k)) {
            let mut pass = 0usize;
            for text in rows {
                let dets = caption_detections(text, im.width(), im.height());
                let objs = filter_detections(&dets, item.meta.tag, &th);
                pass += evaluate(&objs, &item.meta).0 as usize;
            }
            out[*i] = Some(pass as f64 / k as f64);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::contrast;

    #[test]
    fn contrast_is_own_likelihood_over_the_mean_of_all() {
        // −1 − log((e^−1 + e^−3) / 2) = log 2 − log(1 + e^−2).
        let v = contrast(&[-1.0, -3.0], 0).unwrap();
        assert!(
            (v - (2f64.ln() - (1.0 + (-2f64).exp()).ln())).abs() < 1e-12,
            "{v}"
        );
        // The other prompt's view is lower by the same logic.
        let w = contrast(&[-1.0, -3.0], 1).unwrap();
        assert!(w < 0.0 && v > 0.0);
        // An image that makes every prompt equally likely scores 0.
        let z = contrast(&[-2.0, -2.0, -2.0], 2).unwrap();
        assert!(z.abs() < 1e-12);
        // Nothing to contrast with: unscorable.
        assert_eq!(contrast(&[-1.0], 0), None);
    }
}
