//! The summary `duet pairs build` prints, and its progress bars.

use duet_data::pairs::{BuildStats, Histogram, Stage};
use indicatif::ProgressBar;

use crate::progress::bar;

/// Counts by pair type, stage times and the similarity histogram.
pub fn print(
    stats: &BuildStats,
    total: usize,
    (n_und, n_gen): (usize, usize),
    threshold: f32,
    bars: &Bars,
    sims: &[f32],
    hist: &Histogram,
) {
    println!(
        "{} understanding, {} generation items, {} distinct images",
        n_und, n_gen, stats.images
    );
    println!("{} clusters; index: {}", stats.clusters, stats.index);
    println!(
        "aligned:   {:>6}  ({} from understanding, {} from generation)",
        stats.aligned_from_und + stats.aligned_from_gen,
        stats.aligned_from_und,
        stats.aligned_from_gen
    );
    println!(
        "retrieved: {:>6}  (similarity ≥ {})",
        stats.retrieved, threshold
    );
    println!("total:     {:>6}", total);
    println!(
        "unpaired generation items: {}; unused understanding items: {}",
        stats.gen_unpaired, stats.und_unused
    );
    let times: Vec<String> = bars
        .times
        .iter()
        .map(|(s, t)| format!("{s} {t:.2} s"))
        .collect();
    println!("time: {}", times.join(", "));
    print_similarity(sims, hist);
}

fn print_similarity(sims: &[f32], hist: &Histogram) {
    if sims.is_empty() {
        return;
    }
    let mean = sims.iter().sum::<f32>() / sims.len() as f32;
    let min = sims.iter().copied().fold(f32::INFINITY, f32::min);
    let max = sims.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    println!("retrieved similarity: min {min:.3}, mean {mean:.3}, max {max:.3}");
    print!("{}", hist.to_text(40));
}

/// One progress bar per pipeline stage, and the time each stage took.
#[derive(Default)]
pub struct Bars {
    current: Option<(Stage, &'static str, ProgressBar, std::time::Instant)>,
    times: Vec<(&'static str, f64)>,
}

impl Bars {
    pub fn update(&mut self, stage: Stage, done: usize, total: usize) {
        if self.current.as_ref().is_none_or(|(s, ..)| *s != stage) {
            self.finish();
            let label = match stage {
                Stage::Embed => "embedding",
                Stage::Cluster => "k-means",
                Stage::Retrieve => "retrieval",
                Stage::Caption => "captions",
                Stage::Question => "questions",
            };
            self.current = Some((stage, label, bar(label, total), std::time::Instant::now()));
        }
        if let Some((_, _, pb, _)) = &self.current {
            pb.set_position(done as u64);
        }
    }

    pub fn finish(&mut self) {
        if let Some((_, label, pb, t)) = self.current.take() {
            self.times.push((label, t.elapsed().as_secs_f64()));
            pb.finish_and_clear();
        }
    }
}
