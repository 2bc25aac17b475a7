//! Rewards that need no model: multiple-choice accuracy and format, and
//! GenEval's binary and dense scores of decoded images.

use burn::prelude::*;
use duet_data::records::{AnswerEntry, GroundTruth, option_letter};
use duet_data::shapeworld::ShapeWorldConfig;
use duet_eval::caption_reader::caption_detections;
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::rules::Thresholds;
use duet_eval::geneval::score_image;
use duet_eval::mmmu::score::{Prediction, judge};

use super::{Reward, Sample, ScoreCtx};
use crate::error::Result;
use crate::trainer::data::UndKind;

/// Exact caption reward: 1 when a caption names the same objects (colour
/// and shape, each as often) as the item's reference caption. The oracle
/// counterpart of the dual self-reward R_U.
pub struct CaptionMatch {
    pub name: String,
}

/// The sorted (colour, shape) names a caption's placed phrases state.
fn kinds(caption: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = caption_detections(caption, 64, 64)
        .into_iter()
        .map(|d| (d.color.unwrap_or_default(), d.class))
        .collect();
    v.sort();
    v
}

impl<B: Backend> Reward<B> for CaptionMatch {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, _: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        Ok(samples
            .iter()
            .map(|s| match s {
                Sample::Understanding { item, response, .. } => match &item.kind {
                    UndKind::Caption { caption } => {
                        Some((kinds(response) == kinds(caption)) as u8 as f64)
                    }
                    UndKind::Mc { .. } => None,
                },
                Sample::Generation { .. } => None,
            })
            .collect())
    }
}

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

/// 1 for a response that ends with `<answer>X</answer>`, X one of the
/// item's letters, and holds no other answer tag: the letter alone, or
/// text before it (the option's text, as an `option_then_letter` base
/// answers, or reasoning, as R1-style `<think>` formats put first).
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
                        let ok = well_formed(response, options.len());
                        Some(ok as u8 as f64)
                    }
                    UndKind::Caption { .. } => None,
                },
                Sample::Generation { .. } => None,
            })
            .collect())
    }
}

/// Whether `response` ends with `<answer>X</answer>`, X one of the first
/// `n_options` letters, with no other answer tag before it.
pub fn well_formed(response: &str, n_options: usize) -> bool {
    response
        .trim()
        .strip_suffix("</answer>")
        .and_then(|x| x.rsplit_once("<answer>"))
        .is_some_and(|(before, x)| {
            !before.contains("answer>")
                && (0..n_options).any(|i| x.trim() == option_letter(i).to_string())
        })
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

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn format_takes_the_letter_alone_or_after_text_and_nothing_else() {
        assert!(well_formed("<answer>B</answer>", 4));
        assert!(well_formed(" red square <answer>D</answer>\n", 4));
        assert!(!well_formed("<answer>E</answer>", 4));
        assert!(!well_formed("red square", 4));
        assert!(!well_formed("<answer>A</answer> <answer>B</answer>", 4));
        assert!(!well_formed("<answer>B</answer> red", 4));
        assert!(!well_formed("<answer>B", 4));
    }
}

#[cfg(test)]
mod caption_tests {
    use super::kinds;

    #[test]
    fn captions_match_by_objects_not_places_or_order() {
        let reference = "a red square at top left and a blue circle at right";
        assert_eq!(
            kinds(reference),
            kinds("a blue circle at left and a red square at bottom")
        );
        // A missing, extra or recoloured object does not match.
        assert_ne!(kinds(reference), kinds("a red square at top left"));
        assert_ne!(
            kinds(reference),
            kinds("a red square at top left, a blue circle at right and a blue circle at bottom")
        );
        assert_ne!(
            kinds(reference),
            kinds("a red square at top left and a green circle at right")
        );
    }
}
