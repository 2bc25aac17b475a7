//! Aggregation as GenEval's `summary_scores.py`: task score = fraction of
//! correct images of that task; overall = unweighted mean of the task scores.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use duet_data::records::Task;
use serde::Serialize;

use super::ImageResult;
use crate::Tally;

/// The summary table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub total_images: usize,
    pub total_prompts: usize,
    pub correct_images: f64,
    /// A prompt counts when any of its images is correct.
    pub correct_prompts: f64,
    /// In GenEval's suite order.
    pub tasks: BTreeMap<Task, Tally>,
    /// Unweighted mean over the tasks present.
    pub overall: f64,
    /// Mean dense (partial-credit) score over images.
    pub mean_dense_score: f64,
}

impl Summary {
    pub fn from_results(results: &[ImageResult]) -> Summary {
        let mut tasks: BTreeMap<Task, Tally> = BTreeMap::new();
        let mut prompts: BTreeMap<&str, bool> = BTreeMap::new();
        for r in results {
            tasks.entry(r.tag).or_default().add(r.correct);
            *prompts.entry(r.metadata.as_str()).or_default() |= r.correct;
        }
        let n = results.len().max(1) as f64;
        let overall = if tasks.is_empty() {
            0.0
        } else {
            tasks.values().map(Tally::acc).sum::<f64>() / tasks.len() as f64
        };
        let distinct: BTreeSet<&str> = prompts.keys().copied().collect();
        Summary {
            total_images: results.len(),
            total_prompts: distinct.len(),
            correct_images: results.iter().filter(|r| r.correct).count() as f64 / n,
            correct_prompts: prompts.values().filter(|c| **c).count() as f64
                / prompts.len().max(1) as f64,
            tasks,
            overall,
            mean_dense_score: results.iter().map(|r| r.score).sum::<f64>() / n,
        }
    }
}

impl fmt::Display for Summary {
    /// The layout of GenEval's `summary_scores.py`, plus the dense score.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Summary")?;
        writeln!(f, "=======")?;
        writeln!(f, "Total images: {}", self.total_images)?;
        writeln!(f, "Total prompts: {}", self.total_prompts)?;
        writeln!(f, "% correct images: {:.2}%", 100.0 * self.correct_images)?;
        writeln!(f, "% correct prompts: {:.2}%", 100.0 * self.correct_prompts)?;
        writeln!(f)?;
        writeln!(f, "Task breakdown")?;
        writeln!(f, "==============")?;
        for (task, s) in &self.tasks {
            writeln!(
                f,
                "{:<16} = {:.2}% ({} / {})",
                task.name(),
                100.0 * s.acc(),
                s.correct,
                s.num
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Overall score (avg. over tasks): {:.5}", self.overall)?;
        write!(f, "Mean dense score: {:.5}", self.mean_dense_score)
    }
}
