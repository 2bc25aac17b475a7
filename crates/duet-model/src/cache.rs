//! Key/value cache for incremental decoding: per layer, the keys and values
//! of every position seen so far, `[batch, kv_heads, seq, head_dim]`.

use burn::prelude::*;

/// One layer's cached keys and values.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    pub keys: Tensor<B, 4>,
    pub values: Tensor<B, 4>,
}

/// The cache of a whole decoder.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub layers: Vec<Option<LayerCache<B>>>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
        }
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.keys.dims()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends this step's keys and values to layer `i` and returns all of them.
    pub fn append(
        &mut self,
        i: usize,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.layers[i].take() {
            Some(c) => (
                Tensor::cat(vec![c.keys, keys], 2),
                Tensor::cat(vec![c.values, values], 2),
            ),
            None => (keys, values),
        };
        self.layers[i] = Some(LayerCache {
            keys: k.clone(),
            values: v.clone(),
        });
        (k, v)
    }
}
