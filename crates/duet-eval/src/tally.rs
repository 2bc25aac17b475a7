//! Correct-out-of-total counts, the unit both benchmarks aggregate.

use serde::Serialize;

/// `correct` of `num` items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub num: usize,
    pub correct: usize,
}

impl Tally {
    /// Counts one item.
    pub fn add(&mut self, correct: bool) {
        self.num += 1;
        self.correct += correct as usize;
    }

    /// Pools two tallies (instance-weighted aggregation).
    pub fn merge(&mut self, other: Tally) {
        self.num += other.num;
        self.correct += other.correct;
    }

    /// Fraction correct; 0 for an empty tally.
    pub fn acc(&self) -> f64 {
        if self.num == 0 {
            0.0
        } else {
            self.correct as f64 / self.num as f64
        }
    }
}
