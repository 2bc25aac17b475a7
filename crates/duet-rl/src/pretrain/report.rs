//! The acceptance measurements of a pretraining run, on held-out scenes:
//! VQ reconstruction PSNR, codebook usage and exact-scene recovery by the
//! ShapeDetector from code reconstructions; the encoder's image → caption
//! retrieval top-1; the base model's MC accuracy and GenEval-style scores.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use duet_data::shapeworld::{SceneRecord, ShapeWorldConfig};
use duet_eval::detector::{Detector, SceneMatch, ShapeDetector, match_scene};
use duet_model::contrastive;
use duet_model::prompts::JanusTokenizer;
use image::RgbImage;
use serde::Serialize;

use super::recipe::{Recipe, RunLayout, Stage, pairs};
use crate::checkpoint;
use crate::error::{Result, RlError};
use crate::eval::{EvalReport, Split, evaluate};
use crate::tasks;

/// VQ quality on held-out images.
#[derive(Debug, Clone, Serialize)]
pub struct VqReport {
    pub scenes: usize,
    pub psnr_db: f64,
    pub codebook_usage: f64,
    /// Scenes the ShapeDetector recovers exactly from code reconstructions.
    pub exact_recovery: f64,
}

/// Everything measured about a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainReport {
    pub vq: VqReport,
    pub encoder_retrieval_top1: f64,
    pub encoder_retrieval_scenes: usize,
    pub base: EvalReport,
    /// Per question type accuracy and per task GenEval score, for tables.
    pub mc_accuracy_by_type: BTreeMap<String, f64>,
    pub geneval_by_task: BTreeMap<String, f64>,
}

fn held_out(run: &RunLayout, n: usize) -> Result<Vec<(SceneRecord, RgbImage)>> {
    let mut out = Vec::new();
    for split in ["test", "val"] {
        let dir = run.data().join(split);
        let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&dir.join("scenes.jsonl"))?;
        for s in scenes {
            if out.len() == n {
                return Ok(out);
            }
            let img = duet_data::shapeworld::load_png(&dir.join(&s.image))?;
            out.push((s, img));
        }
    }
    Ok(out)
}

fn stage_dir(run: &RunLayout, s: Stage) -> Result<std::path::PathBuf> {
    checkpoint::latest(&run.stage(s))?
        .ok_or_else(|| RlError::Data(format!("no checkpoint in {}", run.stage(s).display())))
}

/// VQ metrics of the finished VQ stage on `scenes`.
pub fn vq_report<B: Backend>(
    vq_dir: &Path,
    scenes: &[(SceneRecord, RgbImage)],
    device: &B::Device,
) -> Result<VqReport> {
    let (_, model) = duet_model::checkpoint::load::<B>(vq_dir, device)?;
    let detector = ShapeDetector::new(&ShapeWorldConfig::default());
    let k = model.vqmodel.quantize.embedding.weight.dims()[0];
    let mut used = vec![false; k];
    let (mut se, mut px, mut exact) = (0.0f64, 0usize, 0usize);
    for chunk in scenes.chunks(32) {
        let imgs: Vec<&RgbImage> = chunk.iter().map(|x| &x.1).collect();
        let codes = model.vqmodel.encode(tasks::pixels(&imgs, device)).codes;
        for c in codes.clone().into_data().iter::<i64>() {
            used[c as usize] = true;
        }
        let rec = tasks::to_images(model.vqmodel.decode_codes(codes)?);
        for ((scene, orig), r) in chunk.iter().zip(&rec) {
            for (a, b) in orig.pixels().zip(r.pixels()) {
                for c in 0..3 {
                    let d = (a.0[c] as f64 - b.0[c] as f64) / 255.0;
                    se += d * d;
                }
                px += 3;
            }
            if match_scene(&detector.detect(r), &scene.scene, 2.0) == SceneMatch::Exact {
                exact += 1;
            }
        }
    }
    let mse = se / px.max(1) as f64;
    Ok(VqReport {
        scenes: scenes.len(),
        psnr_db: 10.0 * (1.0 / mse.max(1e-12)).log10(),
        codebook_usage: used.iter().filter(|u| **u).count() as f64 / k as f64,
        exact_recovery: exact as f64 / scenes.len().max(1) as f64,
    })
}

/// Measures a finished run (all three stages).
pub fn measure<B: Backend>(
    recipe: &Recipe,
    run: &RunLayout,
    device: &B::Device,
) -> Result<PretrainReport> {
    let scenes = held_out(run, recipe.encoder_eval_scenes)?;
    let vq = vq_report::<B>(&stage_dir(run, Stage::Vq)?, &scenes, device)?;
    let tok = JanusTokenizer::from_file(&run.tokenizer())?;
    let (_, enc) = contrastive::load::<B>(&stage_dir(run, Stage::Encoder)?, device)?;
    let top1 = super::encoder::retrieval_top1(&enc, &pairs(&tok, &scenes)?)?;
    let base_dir = stage_dir(run, Stage::Sft)?;
    let (_, ids, model) = super::recipe::load_base::<B>(&base_dir, device)?;
    let split = Split::read(&run.data().join("test"))?;
    let base = evaluate(&model, &tok, &ids, &split, &recipe.eval)?;
    Ok(PretrainReport {
        vq,
        encoder_retrieval_top1: top1,
        encoder_retrieval_scenes: scenes.len(),
        mc_accuracy_by_type: base
            .mc_by_type
            .iter()
            .map(|(k, t)| (k.clone(), t.acc()))
            .collect(),
        geneval_by_task: base
            .geneval
            .tasks
            .iter()
            .map(|(k, t)| (k.name().to_string(), t.acc()))
            .collect(),
        base,
    })
}
