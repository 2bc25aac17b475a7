//! Mini-batch k-means (Sculley 2010) with k-means++ seeding, as PairUni's
//! MiniBatchKMeans. Written here rather than taken from linfa-clustering: that
//! crate brings ndarray, ndarray-stats, linfa-nn and a rand 0.8 stack for about
//! 150 lines of work, and our points are rows of one matrix picked by index
//! (many understanding items share an image), which ndarray would copy.
//! Seeded ChaCha draws and fixed-order arithmetic make a run reproducible.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::matrix::{Features, dot, norm2};

/// Settings; defaults follow scikit-learn's MiniBatchKMeans where it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansOptions {
    pub k: usize,
    /// Points per update step (scikit-learn: 1024).
    pub batch: usize,
    /// Update steps after seeding.
    pub steps: usize,
    pub seed: u64,
}

impl KMeansOptions {
    pub fn new(k: usize) -> Self {
        KMeansOptions {
            k,
            batch: 1024,
            steps: 100,
            seed: 0,
        }
    }
}

/// The fitted centroids and each point's cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    pub centroids: Features,
    /// Cluster of each point, in the order the points were given.
    pub assign: Vec<usize>,
}

/// The nearest centroid: argmin ‖c‖² − 2⟨x, c⟩ (‖x‖² is common to all).
fn nearest(c: &Features, cn: &[f32], x: &[f32]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (j, &n) in cn.iter().enumerate() {
        let d = n - 2.0 * dot(x, c.row(j));
        if d < best.0 {
            best = (d, j);
        }
    }
    best.1
}

/// Clusters the rows `points` of `x`. Fewer than `k` centroids result when
/// there are fewer distinct points than `k`.
pub fn minibatch_kmeans(x: &Features, points: &[usize], opts: KMeansOptions) -> KMeans {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let n = points.len();
    if n == 0 || opts.k == 0 {
        return KMeans {
            centroids: Features {
                dim: x.dim,
                data: vec![],
            },
            assign: vec![0; n],
        };
    }
    // Seed on a sample, as scikit-learn does (init_size = 3 × batch, at least 3k).
    let init = n.min((3 * opts.batch).max(3 * opts.k));
    let sub: Vec<usize> = sample(&mut rng, n, init)
        .into_iter()
        .map(|i| points[i])
        .collect();
    let mut c = kmeans_pp(x, &sub, opts.k, &mut rng);
    let k = c.rows();
    let mut counts = vec![0usize; k];
    for _ in 0..opts.steps {
        let batch: Vec<usize> = (0..opts.batch.min(n))
            .map(|_| points[rng.random_range(0..n)])
            .collect();
        let cn: Vec<f32> = (0..k).map(|j| norm2(c.row(j))).collect();
        let near: Vec<usize> = batch
            .par_iter()
            .map(|&i| nearest(&c, &cn, x.row(i)))
            .collect();
        for (&i, &j) in batch.iter().zip(&near) {
            counts[j] += 1;
            let eta = 1.0 / counts[j] as f32;
            let row = &mut c.data[j * x.dim..(j + 1) * x.dim];
            for (v, &xi) in row.iter_mut().zip(x.row(i)) {
                *v += eta * (xi - *v);
            }
        }
    }
    let cn: Vec<f32> = (0..k).map(|j| norm2(c.row(j))).collect();
    let assign = points
        .par_iter()
        .map(|&i| nearest(&c, &cn, x.row(i)))
        .collect();
    KMeans {
        centroids: c,
        assign,
    }
}

/// k-means++: each next centre drawn with probability ∝ squared distance to
/// the nearest chosen one. Stops early when every point is already a centre.
fn kmeans_pp(x: &Features, sub: &[usize], k: usize, rng: &mut ChaCha8Rng) -> Features {
    let mut centres = Features {
        dim: x.dim,
        data: Vec::with_capacity(k * x.dim),
    };
    let first = sub[rng.random_range(0..sub.len())];
    centres.data.extend_from_slice(x.row(first));
    let sq = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f32>();
    let mut d2: Vec<f32> = sub
        .par_iter()
        .map(|&i| sq(x.row(i), x.row(first)))
        .collect();
    while centres.rows() < k {
        let total: f64 = d2.iter().map(|&v| v as f64).sum();
        if total <= 0.0 {
            break;
        }
        let mut r = rng.random::<f64>() * total;
        let mut pick = d2.len() - 1;
        for (s, &v) in d2.iter().enumerate() {
            r -= v as f64;
            if r < 0.0 && v > 0.0 {
                pick = s;
                break;
            }
        }
        let new = x.row(sub[pick]).to_vec();
        d2.par_iter_mut()
            .zip(sub.par_iter())
            .for_each(|(d, &i)| *d = d.min(sq(x.row(i), &new)));
        centres.data.extend_from_slice(&new);
    }
    centres
}

/// Per cluster, the point closest to its centroid by PairUni's rule
/// (argmax ⟨f, c⟩ over the cluster's points); ties go to the earlier point.
/// Returns point positions (into `points`), one per non-empty cluster, in
/// cluster order.
pub fn medoids(x: &Features, points: &[usize], km: &KMeans) -> Vec<usize> {
    let k = km.centroids.rows();
    let mut best: Vec<Option<(f32, usize)>> = vec![None; k];
    for (pos, (&i, &j)) in points.iter().zip(&km.assign).enumerate() {
        let s = dot(x.row(i), km.centroids.row(j));
        if best[j].is_none_or(|(b, _)| s > b) {
            best[j] = Some((s, pos));
        }
    }
    best.into_iter().flatten().map(|(_, pos)| pos).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight blobs in 2-D.
    fn blobs() -> Features {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let centres = [[0.0f32, 0.0], [5.0, 5.0], [-5.0, 5.0]];
        let rows: Vec<Vec<f32>> = (0..300)
            .map(|i| {
                let c = centres[i % 3];
                vec![
                    c[0] + rng.random_range(-0.3..0.3),
                    c[1] + rng.random_range(-0.3..0.3),
                ]
            })
            .collect();
        Features::from_rows(&rows)
    }

    #[test]
    fn finds_blobs_and_is_deterministic_under_a_seed() {
        let x = blobs();
        let pts: Vec<usize> = (0..x.rows()).collect();
        let mut o = KMeansOptions::new(3);
        o.batch = 64;
        o.steps = 30;
        let a = minibatch_kmeans(&x, &pts, o);
        let b = minibatch_kmeans(&x, &pts, o);
        assert_eq!(a, b, "same seed, same clustering");
        for i in 0..300 {
            assert_eq!(a.assign[i], a.assign[i % 3], "point {i} left its blob");
        }
        let m = medoids(&x, &pts, &a);
        assert_eq!(m.len(), 3);
        o.seed = 7;
        let c = minibatch_kmeans(&x, &pts, o);
        assert_ne!(a.centroids, c.centroids, "another seed draws other batches");
    }

    #[test]
    fn fewer_distinct_points_than_k_gives_fewer_clusters() {
        let x = Features::from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0]]);
        let pts = vec![0, 1, 0, 1, 1];
        let km = minibatch_kmeans(&x, &pts, KMeansOptions::new(4));
        assert_eq!(km.centroids.rows(), 2);
        // Duplicates: the first of each image wins.
        let mut m = medoids(&x, &pts, &km);
        m.sort();
        assert_eq!(m, [0, 1]);
    }
}
