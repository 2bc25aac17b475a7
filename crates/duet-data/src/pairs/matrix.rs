//! A dense row-major f32 matrix of features, and the dot product every
//! similarity in this module goes through.

/// `rows × dim` features, one row per image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Features {
    /// Stacks equal-length vectors (the caller has checked the lengths).
    pub fn from_rows(rows: &[Vec<f32>]) -> Self {
        let dim = rows.first().map_or(0, |r| r.len());
        let mut data = Vec::with_capacity(rows.len() * dim);
        for r in rows {
            debug_assert_eq!(r.len(), dim);
            data.extend_from_slice(r);
        }
        Features { dim, data }
    }

    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Dot product with eight independent accumulators, which the compiler
/// turns into SIMD; the summation order is fixed, so results are
/// reproducible run to run.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Squared Euclidean norm.
pub fn norm2(a: &[f32]) -> f32 {
    dot(a, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
        let f = Features::from_rows(&[a.clone(), b]);
        assert_eq!(f.rows(), 2);
        assert_eq!(f.row(0), &a[..]);
    }
}
