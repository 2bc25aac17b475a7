//! Key/value cache for incremental decoding: per layer, the keys and values
//! of every position seen so far, `[batch, kv_heads, seq, head_dim]`.
//!
//! Each layer keeps one buffer with room for more positions than it holds
//! and writes a step's keys and values into it in place (`slice_assign` on a
//! buffer nobody else holds is in place on burn-flex), handing out a view of
//! the filled prefix. Extending by `cat` instead copied the whole cache per
//! layer and step, so per-token time grew with the image
//! (docs/benchmarks.md). A full buffer doubles, so copies stay amortised O(1).

use burn::prelude::*;

/// One layer's cached keys and values: `keys`/`values` are
/// `[batch, kv_heads, capacity, head_dim]`, of which the first `len`
/// positions are filled.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
    len: usize,
}

impl<B: Backend> LayerCache<B> {
    fn capacity(&self) -> usize {
        self.keys.dims()[2]
    }

    /// The filled prefix, as views of the buffers.
    fn filled(&self) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let prefix = |t: &Tensor<B, 4>| {
            let [b, h, _, d] = t.dims();
            t.clone().slice([0..b, 0..h, 0..self.len, 0..d])
        };
        (prefix(&self.keys), prefix(&self.values))
    }
}

/// The cache of a whole decoder.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<Option<LayerCache<B>>>,
    /// Positions to make room for at the first append (the prompt plus the
    /// tokens to generate, when the caller knows them).
    capacity_hint: usize,
}

/// Copies `src` (`[b, h, n, d]`) into a new zeroed buffer with room for `cap`
/// positions.
fn grown<B: Backend>(src: Tensor<B, 4>, cap: usize) -> Tensor<B, 4> {
    let [b, h, n, d] = src.dims();
    Tensor::zeros([b, h, cap, d], &src.device()).slice_assign([0..b, 0..h, 0..n, 0..d], src)
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        Self::with_capacity(num_layers, 0)
    }

    /// A cache that allocates room for `capacity` positions per layer at
    /// once, so a decode of known length never regrows it.
    pub fn with_capacity(num_layers: usize, capacity: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
            capacity_hint: capacity,
        }
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends this step's keys and values to layer `i` and returns all of
    /// them (views of the cache's buffers; drop them before the next append
    /// so that the write stays in place).
    pub fn append(
        &mut self,
        i: usize,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, h, t, d] = keys.dims();
        let layer = match self.layers[i].take() {
            None => {
                let cap = self.capacity_hint.max(t);
                if cap == t {
                    LayerCache {
                        keys,
                        values,
                        len: t,
                    }
                } else {
                    LayerCache {
                        keys: grown(keys, cap),
                        values: grown(values, cap),
                        len: t,
                    }
                }
            }
            Some(mut c) => {
                let need = c.len + t;
                if need > c.capacity() {
                    let cap = need.max(2 * c.capacity());
                    let (k, v) = c.filled();
                    c.keys = grown(k, cap);
                    c.values = grown(v, cap);
                }
                let at = [0..b, 0..h, c.len..need, 0..d];
                c.keys = c.keys.slice_assign(at.clone(), keys);
                c.values = c.values.slice_assign(at, values);
                c.len = need;
                c
            }
        };
        let out = layer.filled();
        self.layers[i] = Some(layer);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = crate::Cpu;

    fn step(n: usize, t: usize, dev: &Device<B>) -> Tensor<B, 4> {
        let data: Vec<f32> = (0..2 * 3 * t * 4).map(|x| (x + 1000 * n) as f32).collect();
        Tensor::<B, 1>::from_floats(data.as_slice(), dev).reshape([2, 3, t, 4])
    }

    /// Appending in place, with and without a capacity hint and across
    /// regrowth, gives exactly what concatenation gives.
    #[test]
    fn matches_concatenation() {
        let dev = Default::default();
        for hint in [0, 3, 64] {
            let mut cache = KvCache::<B>::with_capacity(2, hint);
            let mut want: Option<Tensor<B, 4>> = None;
            for (n, t) in [5, 1, 1, 2, 1, 1, 1].into_iter().enumerate() {
                let k = step(n, t, &dev);
                let v = step(n, t, &dev).neg();
                for layer in 0..2 {
                    let (gk, gv) = cache.append(layer, k.clone(), v.clone());
                    let w = match &want {
                        Some(w) => Tensor::cat(vec![w.clone(), k.clone()], 2),
                        None => k.clone(),
                    };
                    gk.into_data().assert_eq(&w.clone().into_data(), true);
                    gv.into_data().assert_eq(&w.clone().neg().into_data(), true);
                    if layer == 1 {
                        want = Some(w);
                    }
                }
            }
            assert_eq!(cache.len(), 12, "hint {hint}");
        }
    }
}
