//! Padded batches of token sequences: left padding for prompts of different
//! lengths, the positions that skip the padding (transformers'
//! `cumsum(mask) − 1`), and attention masks that hide padded keys.

use burn::prelude::*;

/// Token rows of equal length; `pad[i]` marks padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Padded {
    pub ids: Vec<u32>,
    pub pad: Vec<bool>,
    pub batch: usize,
    pub len: usize,
}

impl Padded {
    /// Left-pads `rows` to the longest with `pad_id`.
    pub fn left(rows: &[Vec<u32>], pad_id: u32) -> Padded {
        Self::build(rows, pad_id, true)
    }

    /// Right-pads `rows` to the longest with `pad_id`.
    pub fn right(rows: &[Vec<u32>], pad_id: u32) -> Padded {
        Self::build(rows, pad_id, false)
    }

    fn build(rows: &[Vec<u32>], pad_id: u32, left: bool) -> Padded {
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut pad = Vec::with_capacity(rows.len() * len);
        for r in rows {
            let n = len - r.len();
            let fill = std::iter::repeat_n((pad_id, true), n);
            let body = r.iter().map(|&t| (t, false));
            let row: Vec<(u32, bool)> = if left {
                fill.chain(body).collect()
            } else {
                body.chain(fill).collect()
            };
            for (t, p) in row {
                ids.push(t);
                pad.push(p);
            }
        }
        Padded {
            ids,
            pad,
            batch: rows.len(),
            len,
        }
    }

    pub fn has_padding(&self) -> bool {
        self.pad.iter().any(|&p| p)
    }

    /// Position of each token counting only real tokens (padding gets 0).
    pub fn positions(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.ids.len());
        for r in 0..self.batch {
            let mut n = 0i64;
            for j in 0..self.len {
                if self.pad[r * self.len + j] {
                    out.push(0);
                } else {
                    out.push(n);
                    n += 1;
                }
            }
        }
        out
    }
}

/// Causal mask that also blocks padded keys: `[batch, 1, q, past + q]`,
/// `true` = blocked. `key_pad` holds `batch × (past + q)` flags.
pub fn padded_causal_mask<B: Backend>(
    key_pad: &[bool],
    batch: usize,
    q: usize,
    past: usize,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let k = past + q;
    let mut m = Vec::with_capacity(batch * q * k);
    for r in 0..batch {
        for i in 0..q {
            for j in 0..k {
                m.push(key_pad[r * k + j] || j > past + i);
            }
        }
    }
    Tensor::from_data(TensorData::new(m, [batch, 1, q, k]), device)
}

/// A `[batch, len]` Int tensor from row-major values.
pub fn int2<B: Backend>(
    v: Vec<i64>,
    batch: usize,
    len: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(v, [batch, len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_padding_and_positions() {
        let p = Padded::left(&[vec![5, 6, 7], vec![8]], 0);
        assert_eq!(p.ids, vec![5, 6, 7, 0, 0, 8]);
        assert_eq!(p.positions(), vec![0, 1, 2, 0, 0, 0]);
        let r = Padded::right(&[vec![5], vec![8, 9]], 0);
        assert_eq!(r.ids, vec![5, 0, 8, 9]);
        assert_eq!(r.positions(), vec![0, 0, 0, 1]);
    }
}
