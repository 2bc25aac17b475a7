//! Approximate search with an HNSW graph (instant-distance), for pools where
//! an exact pass over all understanding images per generation item costs too
//! much. Its recall@1 against [`ExactIndex`](super::search::ExactIndex) is
//! measured by `cargo xtask pairs-recall` (docs/pairs.md).

use std::sync::Arc;

use instant_distance::{Builder, HnswMap, Point, Search};

use super::matrix::{Features, dot};
use super::search::NeighbourIndex;

/// HNSW settings: graph breadth at build and at query time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswOptions {
    pub ef_construction: usize,
    /// Candidates kept per query; also the most results one query returns.
    pub ef_search: usize,
    pub seed: u64,
}

impl Default for HnswOptions {
    fn default() -> Self {
        HnswOptions {
            ef_construction: 100,
            ef_search: 64,
            seed: 0,
        }
    }
}

/// A unit vector; distance is 1 − cosine.
#[derive(Clone)]
struct Unit(Arc<[f32]>);

impl Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// An HNSW index over some rows of a feature matrix.
pub struct HnswIndex {
    map: HnswMap<Unit, usize>,
    ef: usize,
}

impl HnswIndex {
    /// Builds over `rows` of `x`. The build inserts points in parallel, so
    /// the graph (and rarely a result) can differ between runs; the exact
    /// index is the reproducible default.
    pub fn build(x: &Features, rows: &[usize], opts: HnswOptions) -> Self {
        let points: Vec<Unit> = rows.iter().map(|&r| Unit(x.row(r).into())).collect();
        let values: Vec<usize> = (0..rows.len()).collect();
        let map = Builder::default()
            .ef_construction(opts.ef_construction)
            .ef_search(opts.ef_search)
            .seed(opts.seed)
            .build(points, values);
        HnswIndex {
            map,
            ef: opts.ef_search,
        }
    }
}

impl NeighbourIndex for HnswIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let q = Unit(query.into());
        let mut search = Search::default();
        self.map
            .search(&q, &mut search)
            .take(k)
            .map(|item| (*item.value, 1.0 - item.distance))
            .collect()
    }

    fn max_k(&self) -> usize {
        self.ef
    }
}

/// Share of queries whose approximate top-1 similarity equals the exact
/// top-1 similarity. Compared by similarity, not id, because duplicate
/// images tie exactly and either id is a correct answer.
pub fn recall_at_1(
    exact: &dyn NeighbourIndex,
    approx: &dyn NeighbourIndex,
    queries: &[&[f32]],
) -> f64 {
    use rayon::prelude::*;
    let hits: usize = queries
        .par_iter()
        .map(|q| {
            let e = exact.search(q, 1);
            let a = approx.search(q, 1);
            match (e.first(), a.first()) {
                (Some(e), Some(a)) => (a.1 >= e.1 - 1e-6) as usize,
                (None, None) => 1,
                _ => 0,
            }
        })
        .sum();
    hits as f64 / queries.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::search::ExactIndex;
    use rand::{Rng, SeedableRng};

    #[test]
    fn recall_on_random_unit_vectors_is_high() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|_| {
                let v: Vec<f32> = (0..8).map(|_| rng.random_range(-1.0..1.0)).collect();
                let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                v.into_iter().map(|a| a / n).collect()
            })
            .collect();
        let x = Features::from_rows(&rows);
        let idx_rows: Vec<usize> = (0..300).collect();
        let exact = ExactIndex {
            x: &x,
            rows: &idx_rows,
        };
        let approx = HnswIndex::build(&x, &idx_rows, HnswOptions::default());
        let queries: Vec<&[f32]> = (300..400).map(|i| x.row(i)).collect();
        let r = recall_at_1(&exact, &approx, &queries);
        assert!(r >= 0.95, "recall@1 {r}");
    }
}
