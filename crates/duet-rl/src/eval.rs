//! Held-out evaluation of a unified model on a ShapeWorld split with
//! duet-eval's scorers, independent of any training reward: MC accuracy
//! (MMMU's parser and aggregation) and GenEval-style scores of generated,
//! VQ-decoded images (ShapeDetector + GenEval's rules).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use duet_data::records::{AnswerEntry, GenEvalMetadata, GroundTruth, McItem, option_letter};
use duet_data::shapeworld::{SceneRecord, ShapeWorldConfig};
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::rules::Thresholds;
use duet_eval::geneval::summary::Summary;
use duet_eval::geneval::{ImageResult, score_image};
use duet_eval::mmmu::score::{OutputItem, Prediction, judge};
use duet_eval::tally::Tally;
use duet_model::generate::{ImageGenConfig, TextGenConfig, generate_image_tokens, generate_text};
use duet_model::prompts::JanusTokenizer;
use duet_model::sampling::SamplingConfig;
use duet_model::{GenerationIds, Janus};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::caption_eval::{CaptionReport, evaluate_captions};
use crate::error::{Result, RlError};
use crate::tasks;

/// What to evaluate and how to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Multiple-choice items to answer (0 = all), greedy.
    pub max_mc_items: usize,
    /// GenEval prompts to draw for (0 = all).
    pub max_prompts: usize,
    /// Images per prompt (GenEval uses 4).
    pub images_per_prompt: usize,
    pub cfg_scale: f64,
    pub temperature: f64,
    pub top_k: usize,
    pub seed: u64,
    pub batch_size: usize,
    /// Test scenes captioned and drawn from their reference captions
    /// ([`crate::caption_eval`]; 0 = skip): the dual presets' tasks.
    pub caption_scenes: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            max_mc_items: 0,
            max_prompts: 0,
            images_per_prompt: 4,
            cfg_scale: 5.0,
            temperature: 1.0,
            top_k: 0,
            seed: 0,
            batch_size: 32,
            caption_scenes: 0,
        }
    }
}

/// Held-out scores.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub mc_accuracy: f64,
    /// Per question type (MMMU subject).
    pub mc_by_type: BTreeMap<String, Tally>,
    /// Responses the parser could not read (counted wrong).
    pub mc_unparsed: usize,
    pub geneval: Summary,
    /// Generated images, prompt-major (for sample grids).
    #[serde(skip)]
    pub images: Vec<(GenEvalMetadata, RgbImage)>,
    /// GenEval's per-image results, in the order of `images`.
    #[serde(skip)]
    pub results: Vec<ImageResult>,
    /// Every MC response in MMMU's `output.json` item form, by subject.
    #[serde(skip)]
    pub mc_outputs: Vec<(String, OutputItem)>,
    /// Captioning in both directions, when `caption_scenes` > 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captions: Option<CaptionReport>,
}

/// A split's items: MC questions with their images, and GenEval prompts.
pub struct Split {
    pub mc: Vec<(McItem, RgbImage)>,
    pub prompts: Vec<GenEvalMetadata>,
    /// Scene graphs with their images (`scenes.jsonl`; empty when the split
    /// has none).
    pub scenes: Vec<(SceneRecord, RgbImage)>,
}

impl Split {
    /// Reads `understanding.jsonl` (images relative to the split),
    /// `evaluation_metadata.jsonl` and, when present, `scenes.jsonl` of a
    /// ShapeWorld split directory.
    pub fn read(dir: &Path) -> Result<Split> {
        let items: Vec<McItem> = duet_data::io::read_jsonl(&dir.join("understanding.jsonl"))?;
        let mut cache: BTreeMap<String, RgbImage> = BTreeMap::new();
        let mut mc = Vec::with_capacity(items.len());
        for item in items {
            let rel = item.image_1.clone().ok_or_else(|| {
                RlError::Data(format!(
                    "{}: item `{}` has no image_1",
                    dir.display(),
                    item.id
                ))
            })?;
            if !cache.contains_key(&rel) {
                let img = duet_data::shapeworld::load_png(&dir.join(&rel))?;
                cache.insert(rel.clone(), img);
            }
            mc.push((item, cache[&rel].clone()));
        }
        let prompts = duet_data::io::read_jsonl(&dir.join("evaluation_metadata.jsonl"))?;
        let mut scenes = Vec::new();
        let path = dir.join("scenes.jsonl");
        if path.exists() {
            for rec in duet_data::io::read_jsonl::<SceneRecord>(&path)? {
                if !cache.contains_key(&rec.image) {
                    let img = duet_data::shapeworld::load_png(&dir.join(&rec.image))?;
                    cache.insert(rec.image.clone(), img);
                }
                let img = cache[&rec.image].clone();
                scenes.push((rec, img));
            }
        }
        Ok(Split {
            mc,
            prompts,
            scenes,
        })
    }
}

/// Answers and draws for a held-out split and scores the results.
pub fn evaluate<B: Backend>(
    model: &Janus<B>,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    split: &Split,
    cfg: &EvalConfig,
) -> Result<EvalReport> {
    evaluate_with(model, tok, ids, split, cfg, &mut |_, _| {})
}

/// [`evaluate`], calling `progress(done, total)` after every batch (MC items
/// and images counted together) for progress bars.
pub fn evaluate_with<B: Backend>(
    model: &Janus<B>,
    tok: &JanusTokenizer,
    ids: &GenerationIds,
    split: &Split,
    cfg: &EvalConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport> {
    let device = model.lm_head.weight.device();
    let n_img = tasks::image_tokens(model);
    let take = |n: usize, total: usize| if n == 0 { total } else { n.min(total) };
    let mc = &split.mc[..take(cfg.max_mc_items, split.mc.len())];
    let text_cfg = TextGenConfig {
        max_new_tokens: 8,
        stop_tokens: vec![ids.eos_token_id],
        pad_id: ids.pad_token_id,
        sampling: SamplingConfig::greedy(),
    };
    let prompts = &split.prompts[..take(cfg.max_prompts, split.prompts.len())];
    if cfg.caption_scenes > 0 && split.scenes.is_empty() {
        return Err(RlError::Data(
            "caption_scenes > 0, but the evaluation split has no scenes.jsonl (scene graphs \
             with captions)"
                .into(),
        ));
    }
    let n_cap = cfg.caption_scenes.min(split.scenes.len());
    let total = mc.len() + prompts.len() * cfg.images_per_prompt + 2 * n_cap;
    let mut done = 0;
    let mut by_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut mc_outputs = Vec::with_capacity(mc.len());
    let mut unparsed = 0;
    let bs = cfg.batch_size.max(1);
    // Chunks on both cores: answers are greedy and each image chunk is
    // seeded by its index, so the report does not depend on the threads.
    let answers = crate::parallel::chunks_on_two(
        mc,
        bs,
        |_, chunk| {
            let prompts = chunk
                .iter()
                .map(|(item, _)| tasks::understanding_ids(tok, &tasks::mc_question(item), n_img))
                .collect::<Result<Vec<_>>>()?;
            let images: Vec<&RgbImage> = chunk.iter().map(|(_, img)| img).collect();
            Ok(generate_text(
                model,
                &prompts,
                Some(tasks::pixels(&images, &device)),
                &text_cfg,
            )?)
        },
        &mut |n| {
            done += n;
            progress(done, total);
        },
    )?;
    for (chunk, out) in mc.chunks(bs).zip(answers) {
        for ((item, _), resp) in chunk.iter().zip(out) {
            let text = tasks::decode_response(tok, &resp, ids.eos_token_id)?;
            let pred = raw_prediction(item, text.clone());
            let j = judge(&item.id, &pred, &gold(item));
            unparsed += j.fallback as usize;
            by_type
                .entry(item.subject.clone())
                .or_default()
                .add(j.correct);
            if let Prediction::Raw {
                all_choices,
                index2ans,
                ..
            } = pred
            {
                mc_outputs.push((
                    item.subject.clone(),
                    OutputItem {
                        id: item.id.clone(),
                        question_type: Some(item.question_type.clone()),
                        all_choices,
                        index2ans: index2ans.into_iter().collect(),
                        response: text,
                    },
                ));
            }
        }
    }
    let mut all = Tally::default();
    by_type.values().for_each(|t| all.merge(*t));

    let detector = ShapeDetector::new(&ShapeWorldConfig::default());
    let th = Thresholds::default();
    let mut results: Vec<ImageResult> = Vec::new();
    let mut images = Vec::new();
    let jobs: Vec<&GenEvalMetadata> = prompts
        .iter()
        .flat_map(|m| std::iter::repeat_n(m, cfg.images_per_prompt))
        .collect();
    let drawn = crate::parallel::chunks_on_two(
        &jobs,
        bs,
        |c, chunk| {
            let rows = chunk
                .iter()
                .map(|m| tasks::generation_ids(tok, &m.prompt))
                .collect::<Result<Vec<_>>>()?;
            let gen_cfg = image_cfg(cfg, ids, n_img, cfg.seed.wrapping_add(c as u64));
            let codes = generate_image_tokens(model, &rows, &gen_cfg)?;
            decode_codes(model, &codes)
        },
        &mut |n| {
            done += n;
            progress(done, total);
        },
    )?;
    for (c, (chunk, decoded)) in jobs.chunks(bs).zip(drawn).enumerate() {
        for (k, (m, img)) in chunk.iter().zip(decoded).enumerate() {
            // GenEval's layout: `<prompt:05>/samples/<sample:04>.png`.
            let j = c * bs + k;
            let ipp = cfg.images_per_prompt.max(1);
            let name = format!("{:05}/samples/{:04}.png", j / ipp, j % ipp);
            results.push(score_image(&detector, &img, m, &th, name));
            images.push(((*m).clone(), img));
        }
    }
    let captions = if n_cap > 0 {
        Some(evaluate_captions(
            model,
            tok,
            ids,
            &split.scenes,
            cfg,
            &mut |n| {
                done += n;
                progress(done, total);
            },
        )?)
    } else {
        None
    };
    Ok(EvalReport {
        captions,
        mc_accuracy: all.acc(),
        mc_by_type: by_type,
        mc_unparsed: unparsed,
        geneval: Summary::from_results(&results),
        images,
        results,
        mc_outputs,
    })
}

/// Writes an evaluation in the ecosystem's formats under `dir`:
/// `geneval/<prompt:05>/{metadata.jsonl, samples/<k:04>.png}` (GenEval's
/// image folder, scoreable by GenEval's own `evaluate_images.py`) with
/// `geneval/results.jsonl` (GenEval's per-image results),
/// `mmmu/<subject>/output.json` (MMMU's parse-and-eval input) and
/// `scores.json` (the report). Every file is written atomically.
pub fn write_outputs(report: &EvalReport, images_per_prompt: usize, dir: &Path) -> Result<()> {
    let gen_dir = dir.join("geneval");
    let ipp = images_per_prompt.max(1);
    for (p, chunk) in report.images.chunks(ipp).enumerate() {
        let imgs: Vec<RgbImage> = chunk.iter().map(|(_, i)| i.clone()).collect();
        duet_eval::geneval::write_prompt_folder(&gen_dir, p, &chunk[0].0, &imgs)?;
    }
    if !report.results.is_empty() {
        duet_data::io::write_jsonl(&gen_dir.join("results.jsonl"), &report.results)?;
    }
    let mut by_subject: BTreeMap<&str, Vec<&OutputItem>> = BTreeMap::new();
    for (s, item) in &report.mc_outputs {
        by_subject.entry(s).or_default().push(item);
    }
    for (s, items) in by_subject {
        duet_data::io::write_json(&dir.join("mmmu").join(s).join("output.json"), &items)?;
    }
    duet_data::io::write_json(&dir.join("scores.json"), report)?;
    Ok(())
}

/// The evaluation's image sampling (CFG, temperature, top-k, KV cache) with
/// the given seed.
pub(crate) fn image_cfg(
    cfg: &EvalConfig,
    ids: &GenerationIds,
    n_img: usize,
    seed: u64,
) -> ImageGenConfig {
    ImageGenConfig {
        num_tokens: n_img,
        cfg_scale: cfg.cfg_scale,
        sampling: SamplingConfig {
            temperature: cfg.temperature,
            top_k: cfg.top_k,
            top_p: 1.0,
            seed,
        },
        use_cache: true,
        ..tasks::cond_image_cfg(ids)
    }
}

/// VQ-decodes rows of codes to images.
pub fn decode_codes<B: Backend>(model: &Janus<B>, codes: &[Vec<u32>]) -> Result<Vec<RgbImage>> {
    let device = model.lm_head.weight.device();
    let n = codes.first().map_or(0, Vec::len);
    let flat: Vec<i64> = codes.iter().flatten().map(|&c| c as i64).collect();
    let t = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [codes.len(), n]), &device);
    Ok(tasks::to_images(model.vqmodel.decode_codes(t)?))
}

fn raw_prediction(item: &McItem, response: String) -> Prediction {
    let letters: Vec<String> = (0..item.options.len())
        .map(|i| option_letter(i).to_string())
        .collect();
    Prediction::Raw {
        response,
        index2ans: letters
            .iter()
            .cloned()
            .zip(item.options.iter().cloned())
            .collect(),
        all_choices: letters,
    }
}

fn gold(item: &McItem) -> AnswerEntry {
    AnswerEntry {
        question_type: item.question_type.clone(),
        ground_truth: GroundTruth::One(item.answer.clone()),
    }
}
