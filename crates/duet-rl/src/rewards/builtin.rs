//! Rewards that need no model: multiple-choice accuracy and format, and
//! GenEval's binary and dense scores of decoded images.

use burn::prelude::*;
use duet_data::records::{AnswerEntry, GroundTruth, option_letter};
use duet_data::shapeworld::ShapeWorldConfig;
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::rules::Thresholds;
use duet_eval::geneval::score_image;
use duet_eval::mmmu::score::{Prediction, judge};

use super::{Reward, Sample, ScoreCtx};
use crate::error::Result;
use crate::trainer::data::UndKind;

/// Accuracy of MC answers.
pub struct McAccuracy {
    pub name: String,
}

/// Whether `response` answers `options` with `answer` (MMMU's parser).
pub fn mc_correct(id: &str, response: &str, options: &[String], answer: &str) -> bool {
    let letters: Vec<String> = (0..options.len())
        .map(|i| option_letter(i).to_string())
        .collect();
    let pred = Prediction::Raw {
        response: response.to_string(),
        index2ans: letters
            .iter()
            .cloned()
            .zip(options.iter().cloned())
            .collect(),
        all_choices: letters,
    };
    let gold = AnswerEntry {
        question_type: "multiple-choice".into(),
        ground_truth: GroundTruth::One(answer.to_string()),
    };
    let j = judge(id, &pred, &gold);
    // A fallback (random) pick is not an answer: no credit even if lucky.
    j.correct && !j.fallback
}

impl<B: Backend> Reward<B> for McAccuracy {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, _: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        Ok(samples
            .iter()
            .map(|s| match s {
                Sample::Understanding { item, response, .. } => match &item.kind {
                    UndKind::Mc {
                        options, answer, ..
                    } => Some(mc_correct(&item.id, response, options, answer) as u8 as f64),
                    UndKind::Caption { .. } => None,
                },
                Sample::Generation { .. } => None,
            })
            .collect())
    }
}

/// 1 for a response that is exactly `<answer>X</answer>` with X one of the
/// item's letters.
pub struct Format {
    pub name: String,
}

impl<B: Backend> Reward<B> for Format {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, _: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        Ok(samples
            .iter()
            .map(|s| match s {
                Sample::Understanding { item, response, .. } => match &item.kind {
                    UndKind::Mc { options, .. } => {
                        let r = response.trim();
                        let ok = r
                            .strip_prefix("<answer>")
                            .and_then(|x| x.strip_suffix("</answer>"))
                            .is_some_and(|x| {
                                (0..options.len()).any(|i| x.trim() == option_letter(i).to_string())
                            });
                        Some(ok as u8 as f64)
                    }
                    UndKind::Caption { .. } => None,
                },
                Sample::Generation { .. } => None,
            })
            .collect())
    }
}

/// GenEval's verdict on a decoded image.
pub struct GenevalReward {
    name: String,
    dense: bool,
    detector: ShapeDetector,
    thresholds: Thresholds,
}

impl GenevalReward {
    pub fn new(name: String, dense: bool) -> Self {
        GenevalReward {
            name,
            dense,
            detector: ShapeDetector::new(&ShapeWorldConfig::default()),
            thresholds: Thresholds::default(),
        }
    }
}

impl<B: Backend> Reward<B> for GenevalReward {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, _: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        Ok(samples
            .iter()
            .map(|s| match s {
                Sample::Generation { item, image, .. } => {
                    let r = score_image(
                        &self.detector,
                        image,
                        &item.meta,
                        &self.thresholds,
                        String::new(),
                    );
                    Some(if self.dense {
                        r.score
                    } else {
                        r.correct as u8 as f64
                    })
                }
                Sample::Understanding { .. } => None,
            })
            .collect())
    }
}
