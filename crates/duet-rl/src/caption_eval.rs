//! Held-out captioning in both directions — the tasks the dual presets
//! train (SUDER pairs a caption with the image it describes). The model
//! captions test images: a caption is *correct* when it names every object
//! with its colour and count and nothing absent (duet-data's caption check;
//! positions are not checked) and *exact* when it is the reference caption
//! word for word. Greedy captions show the policy's mode; captions sampled
//! at the eval temperature (as GenEval's images are) show the distribution
//! RL optimises, which can improve while the mode stays put. Then it draws from the reference captions: an image is
//! correct when GenEval's rules find the scene's objects with their colours
//! and counts. Neither check is a training reward of the dual presets.

use burn::prelude::*;
use duet_data::pairs::oracle_check::check_caption;
use duet_data::shapeworld::{SceneRecord, ShapeWorldConfig};
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::rules::Thresholds;
use duet_eval::geneval::score_image;
use duet_eval::tally::Tally;
use duet_model::generate::generate_image_tokens;
use duet_model::prompts::JanusTokenizer;
use duet_model::sampling::SamplingConfig;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;
use serde::Serialize;

use crate::error::Result;
use crate::eval::{EvalConfig, decode_codes, image_cfg};
use crate::tasks;
use crate::trainer::data::scene_metadata;

/// Offsets the caption draws' seeds from the GenEval draws' seeds.
const SEED_OFFSET: u64 = 1 << 20;
/// Offsets the sampled captions' seeds from both.
const SAMPLE_SEED_OFFSET: u64 = 1 << 21;
/// Captions sampled per scene (at the eval temperature).
pub const SAMPLES_PER_SCENE: usize = 4;

/// Scores of both directions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptionReport {
    /// Image → caption: captions that state the scene's objects right.
    pub caption: Tally,
    /// Image → caption: captions equal to the reference caption.
    pub caption_exact: Tally,
    /// Image → caption, sampled at the eval temperature
    /// ([`SAMPLES_PER_SCENE`] per scene): captions that state the scene's
    /// objects right.
    pub caption_sampled: Tally,
    /// Caption → image: images GenEval's rules accept for the scene.
    pub caption_to_image: Tally,
    /// Mean GenEval dense score of those images.
    pub caption_to_image_dense: f64,
    /// A few (reference, model caption, correct) triples to read.
    pub examples: Vec<(String, String, bool)>,
}

/// Captions and draws for the first `cfg.caption_scenes` scenes.
pub fn evaluate_captions<B: Backend>(
    model: &Janus<B>,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    scenes: &[(SceneRecord, RgbImage)],
    cfg: &EvalConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<CaptionReport> {
    let n_img = tasks::image_tokens(model);
    let scenes = &scenes[..cfg.caption_scenes.min(scenes.len())];
    let bs = cfg.batch_size.max(1);
    let mut rep = CaptionReport::default();
    for chunk in scenes.chunks(bs) {
        let images: Vec<&RgbImage> = chunk.iter().map(|(_, img)| img).collect();
        let texts = tasks::caption_images(model, tok, ids, &images, SamplingConfig::greedy())?;
        for ((rec, _), text) in chunk.iter().zip(texts) {
            let ok = check_caption(&rec.scene, &text).is_ok();
            rep.caption.add(ok);
            rep.caption_exact.add(text.trim() == rec.caption);
            if rep.examples.len() < 8 {
                rep.examples.push((rec.caption.clone(), text, ok));
            }
        }
        progress(chunk.len());
    }
    // The same question, sampled: SAMPLES_PER_SCENE rows per scene.
    for (c, chunk) in scenes.chunks((bs / SAMPLES_PER_SCENE).max(1)).enumerate() {
        let images: Vec<&RgbImage> = chunk
            .iter()
            .flat_map(|(_, img)| std::iter::repeat_n(img, SAMPLES_PER_SCENE))
            .collect();
        let sampling = SamplingConfig {
            temperature: cfg.temperature,
            top_k: 0,
            top_p: 1.0,
            seed: cfg.seed.wrapping_add(SAMPLE_SEED_OFFSET + c as u64),
        };
        let texts = tasks::caption_images(model, tok, ids, &images, sampling)?;
        for ((rec, _), rows) in chunk.iter().zip(texts.chunks(SAMPLES_PER_SCENE)) {
            for text in rows {
                rep.caption_sampled
                    .add(check_caption(&rec.scene, text).is_ok());
            }
        }
    }
    let detector = ShapeDetector::new(&ShapeWorldConfig::default());
    let th = Thresholds::default();
    let mut dense = 0.0;
    for (c, chunk) in scenes.chunks(bs).enumerate() {
        let rows = chunk
            .iter()
            .map(|(rec, _)| tasks::generation_ids(tok, &rec.caption))
            .collect::<Result<Vec<_>>>()?;
        let gen_cfg = image_cfg(
            cfg,
            ids,
            n_img,
            cfg.seed.wrapping_add(SEED_OFFSET + c as u64),
        );
        let codes = generate_image_tokens(model, &rows, &gen_cfg)?;
        for ((rec, _), img) in chunk.iter().zip(decode_codes(model, &codes)?) {
            let mut meta = scene_metadata(&rec.scene);
            meta.prompt = rec.caption.clone();
            let r = score_image(&detector, &img, &meta, &th, rec.id.clone());
            rep.caption_to_image.add(r.correct);
            dense += r.score;
        }
        progress(chunk.len());
    }
    rep.caption_to_image_dense = dense / scenes.len().max(1) as f64;
    Ok(rep)
}
