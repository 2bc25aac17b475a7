//! Nearest-neighbour search over understanding images, and PairUni's greedy
//! thresholded retrieval (Algorithm 1, second loop): for each remaining
//! generation item in input order, the `top_n` most similar understanding
//! items not yet used whose cosine is at least δ.

use rayon::prelude::*;

use super::matrix::{Features, dot};

/// Finds the indexed rows most similar to a query (cosine; rows and queries
/// are unit length).
pub trait NeighbourIndex: Sync {
    /// Up to `k` (position, similarity) pairs, most similar first, where
    /// position is into the indexed list.
    fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)>;
    /// The most results one search can return.
    fn max_k(&self) -> usize;
}

/// Exact search: one dot product per indexed row, i.e. one row of the
/// query × index similarity matrix. Ties go to the earlier row.
pub struct ExactIndex<'a> {
    pub x: &'a Features,
    /// Feature row of each indexed item.
    pub rows: &'a [usize],
}

impl NeighbourIndex for ExactIndex<'_> {
    fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        if k == 0 {
            return top;
        }
        for (pos, &r) in self.rows.iter().enumerate() {
            let s = dot(query, self.x.row(r));
            if top.len() == k && s <= top[k - 1].1 {
                continue;
            }
            let at = top.partition_point(|&(_, t)| t >= s);
            top.insert(at, (pos, s));
            top.truncate(k);
        }
        top
    }

    fn max_k(&self) -> usize {
        self.rows.len()
    }
}

/// One retrieved pair: positions into the generation and understanding lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    pub gen_pos: usize,
    pub und_pos: usize,
    pub similarity: f32,
}

/// Greedy one-use matching. Candidate lists come from `index` in parallel
/// (`top_n` plus slack); a generation item whose list runs out of unused
/// items while the list was cut short is searched again with a doubled `k`,
/// and at the index's limit by an exact scan, so the result is what an
/// exhaustive greedy pass over the same index would give.
pub fn retrieve(
    x: &Features,
    gen_rows: &[usize],
    und_rows: &[usize],
    index: &dyn NeighbourIndex,
    threshold: f32,
    top_n: usize,
    progress: &mut dyn FnMut(usize),
) -> Vec<Match> {
    let first_k = (top_n + 16).min(index.max_k());
    let mut used = vec![false; und_rows.len()];
    let mut out = Vec::new();
    let exact = ExactIndex { x, rows: und_rows };
    for start in (0..gen_rows.len()).step_by(512) {
        let end = (start + 512).min(gen_rows.len());
        let lists: Vec<Vec<(usize, f32)>> = (start..end)
            .into_par_iter()
            .map(|g| index.search(x.row(gen_rows[g]), first_k))
            .collect();
        for (g, mut list) in (start..end).zip(lists) {
            let mut k = first_k;
            loop {
                let picked: Vec<(usize, f32)> = list
                    .iter()
                    .copied()
                    .filter(|&(u, s)| s >= threshold && !used[u])
                    .take(top_n)
                    .collect();
                let cut_short =
                    list.len() == k && list.last().is_some_and(|&(_, s)| s >= threshold);
                if picked.len() == top_n || !cut_short || k >= und_rows.len() {
                    for (u, s) in picked {
                        used[u] = true;
                        out.push(Match {
                            gen_pos: g,
                            und_pos: u,
                            similarity: s,
                        });
                    }
                    break;
                }
                k = (2 * k).min(und_rows.len());
                let q = x.row(gen_rows[g]);
                list = if k <= index.max_k() {
                    index.search(q, k)
                } else {
                    exact.search(q, k)
                };
            }
        }
        progress(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(a: f32) -> Vec<f32> {
        vec![a.cos(), a.sin()]
    }

    #[test]
    fn greedy_uses_each_understanding_item_once_and_respects_the_threshold() {
        // Understanding at angles 0, 0.1, 1.5; generation at 0.01, 0.02, 0.03, 3.0.
        let rows = vec![
            unit(0.0),
            unit(0.1),
            unit(1.5),
            unit(0.01),
            unit(0.02),
            unit(0.03),
            unit(3.0),
        ];
        let x = Features::from_rows(&rows);
        let und = [0, 1, 2];
        let gen_rows = [3, 4, 5, 6];
        let idx = ExactIndex { x: &x, rows: &und };
        let m = retrieve(&x, &gen_rows, &und, &idx, 0.6, 1, &mut |_| {});
        let pairs: Vec<(usize, usize)> = m.iter().map(|m| (m.gen_pos, m.und_pos)).collect();
        // g0 takes u0, g1 the next best u1, g2 finds only u2 (cos 1.47 ≈ 0.1 < δ): none.
        assert_eq!(pairs, [(0, 0), (1, 1)]);
        assert!(m.iter().all(|m| m.similarity >= 0.6));
    }

    #[test]
    fn a_short_candidate_list_is_searched_again() {
        // 40 identical understanding items: the 17-long first lists run out.
        let mut rows: Vec<Vec<f32>> = (0..40).map(|_| unit(0.0)).collect();
        rows.extend((0..30).map(|_| unit(0.05)));
        let x = Features::from_rows(&rows);
        let und: Vec<usize> = (0..40).collect();
        let gen_rows: Vec<usize> = (40..70).collect();
        let idx = ExactIndex { x: &x, rows: &und };
        let m = retrieve(&x, &gen_rows, &und, &idx, 0.6, 1, &mut |_| {});
        assert_eq!(m.len(), 30);
        let mut seen: Vec<usize> = m.iter().map(|m| m.und_pos).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 30);
    }

    /// An index that returns at most 5 results, like an HNSW whose ef is 5.
    struct Capped<'a>(ExactIndex<'a>);

    impl NeighbourIndex for Capped<'_> {
        fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
            self.0.search(query, k.min(5))
        }
        fn max_k(&self) -> usize {
            5
        }
    }

    #[test]
    fn past_the_index_limit_an_exact_scan_takes_over() {
        let mut rows: Vec<Vec<f32>> = (0..12).map(|_| unit(0.0)).collect();
        rows.extend((0..10).map(|_| unit(0.05)));
        let x = Features::from_rows(&rows);
        let und: Vec<usize> = (0..12).collect();
        let gen_rows: Vec<usize> = (12..22).collect();
        let idx = Capped(ExactIndex { x: &x, rows: &und });
        let m = retrieve(&x, &gen_rows, &und, &idx, 0.6, 1, &mut |_| {});
        let mut seen: Vec<usize> = m.iter().map(|m| m.und_pos).collect();
        seen.sort();
        seen.dedup();
        assert_eq!((m.len(), seen.len()), (10, 10));
    }
}
