//! GenEval-style scoring of generated images.
//!
//! Reads GenEval's folder layout, detects objects with any [`Detector`],
//! applies GenEval's rules and writes GenEval's per-image JSONL (`filename`,
//! `tag`, `prompt`, `correct`, `reason`, `metadata`, `details`) with the reward
//! server's `strict_correct` and dense `score` added.

pub mod layout;
pub mod rules;
pub mod summary;

use std::path::Path;

use duet_data::records::{GenEvalMetadata, Task};
use duet_data::shapeworld::load_png;
use serde::Serialize;

pub use layout::{PromptFolder, read_image_dir, write_prompt_folder};
pub use rules::{Thresholds, evaluate, evaluate_dense, filter_detections};
pub use summary::Summary;

use crate::detector::Detector;
use crate::error::Result;

/// One line of the results JSONL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageResult {
    pub filename: String,
    pub tag: Task,
    pub prompt: String,
    pub correct: bool,
    pub reason: String,
    /// The prompt's metadata as a JSON string, as GenEval writes it.
    pub metadata: String,
    /// `{class: [[x0, y0, x1, y1, score], …]}` as a JSON string.
    pub details: String,
    pub strict_correct: bool,
    pub score: f64,
}

/// Scores one image against its prompt.
pub fn score_image(
    detector: &dyn Detector,
    image: &image::RgbImage,
    meta: &GenEvalMetadata,
    th: &Thresholds,
    filename: String,
) -> ImageResult {
    let objects = filter_detections(&detector.detect(image), meta.tag, th);
    let (correct, reason) = evaluate(&objects, meta);
    let (strict_correct, score) = evaluate_dense(&objects, meta);
    let details: serde_json::Map<String, serde_json::Value> = objects
        .iter()
        .map(|(cls, dets)| {
            let rows: Vec<[f64; 5]> = dets
                .iter()
                .map(|d| [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1, d.score])
                .collect();
            (cls.clone(), serde_json::json!(rows))
        })
        .collect();
    ImageResult {
        filename,
        tag: meta.tag,
        prompt: meta.prompt.clone(),
        correct,
        reason,
        metadata: serde_json::to_string(meta).expect("plain data"),
        details: serde_json::Value::Object(details).to_string(),
        strict_correct,
        score,
    }
}

/// Scores every sample of a GenEval image directory; `progress(done, total)`
/// is called after each image.
pub fn score_dir(
    dir: &Path,
    detector: &dyn Detector,
    th: &Thresholds,
    mut progress: impl FnMut(usize, usize),
) -> Result<(Vec<PromptFolder>, Vec<ImageResult>)> {
    let folders = read_image_dir(dir)?;
    let total: usize = folders.iter().map(|f| f.samples.len()).sum();
    let mut results = Vec::with_capacity(total);
    for folder in &folders {
        for sample in &folder.samples {
            let img = load_png(sample)?;
            results.push(score_image(
                detector,
                &img,
                &folder.metadata,
                th,
                sample.display().to_string(),
            ));
            progress(results.len(), total);
        }
    }
    Ok((folders, results))
}
