//! Key/value cache for incremental decoding: per layer, the keys and values
//! of every position seen so far, in buffers that grow like a `Vec`
//! (doubling), so a decode step writes only its own position instead of
//! re-copying the whole past (a `Tensor::cat` per step and layer made
//! per-token time grow with the image faster than attention itself does;
//! docs/benchmarks.md). Values are stored `[batch, kv_heads, capacity,
//! head_dim]`, keys transposed, `[batch, kv_heads, head_dim, capacity]`: the
//! scores `q · Kᵀ` then read the keys in the order the GEMM wants them, where
//! the other order made it repack every key at every step.

use std::any::Any;

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_flex::FlexTensor;

/// One layer's cached keys (transposed) and values; positions `0..len` of
/// the buffers are filled.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    keys_t: Tensor<B, 4>,
    values: Tensor<B, 4>,
    len: usize,
}

impl<B: Backend> LayerCache<B> {
    fn capacity(&self) -> usize {
        self.values.dims()[2]
    }

    /// The filled positions, `[b, kv_heads, len, d]` each, as views of the
    /// buffers (no copy; the keys a transposed view).
    fn filled(&self) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [b, h, _, d] = self.values.dims();
        let keys = self.keys_t.clone().slice([0..b, 0..h, 0..d, 0..self.len]);
        let values = self.values.clone().slice([0..b, 0..h, 0..self.len, 0..d]);
        (keys.swap_dims(2, 3), values)
    }
}

/// The cache of a whole decoder.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<Option<LayerCache<B>>>,
    /// Positions reserved beyond the first append (the prompt), so a decode
    /// of known length never grows its buffers.
    reserve: usize,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        Self::with_reserve(num_layers, 0)
    }

    /// A cache whose buffers, once the prompt is in, hold `reserve` more
    /// positions before they grow.
    pub fn with_reserve(num_layers: usize, reserve: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
            reserve,
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

    /// Forgets the positions from `len` on; the buffers keep their capacity
    /// (to decode again from the same prefix, as benchmarks do).
    pub fn truncate(&mut self, len: usize) {
        for c in self.layers.iter_mut().flatten() {
            c.len = c.len.min(len);
        }
    }

    /// Appends this step's keys and values (`[batch, kv_heads, t, d]`) to
    /// layer `i` and returns all cached ones, `[batch, kv_heads, past + t, d]`
    /// (views of the buffers once there is a past).
    pub fn append(
        &mut self,
        i: usize,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let t = keys.dims()[2];
        let Some(mut c) = self.layers[i].take() else {
            let (keys_t, values_buf) =
                buffers(keys.clone(), values.clone(), t + self.reserve.max(1));
            self.layers[i] = Some(LayerCache {
                keys_t,
                values: values_buf,
                len: t,
            });
            return (keys, values);
        };
        if c.len + t > c.capacity() {
            let (k, v) = c.filled();
            (c.keys_t, c.values) = buffers(k, v, (2 * c.capacity()).max(c.len + t));
        }
        c.keys_t = write_positions(c.keys_t, c.len, keys, true);
        c.values = write_positions(c.values, c.len, values, false);
        c.len += t;
        let out = c.filled();
        self.layers[i] = Some(c);
        out
    }
}

/// Fresh buffers of capacity `cap` (keys transposed) holding `keys` and
/// `values` (`[b, h, t, d]`) at positions `0..t`.
fn buffers<B: Backend>(
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
    cap: usize,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let [b, h, _, d] = keys.dims();
    let dev = keys.device();
    (
        write_positions(Tensor::zeros([b, h, d, cap], &dev), 0, keys, true),
        write_positions(Tensor::zeros([b, h, cap, d], &dev), 0, values, false),
    )
}

/// Writes `src` (`[b, h, t, d]`) into positions `start..start + t` of `dst`:
/// `[b, h, cap, d]`, or `[b, h, d, cap]` when `transposed`. On burn-flex,
/// whose `slice_assign` copies the whole destination even when nothing else
/// holds it, an owned contiguous `f32` buffer is written in place; every
/// other case goes through `slice_assign` (in place on the GPU backends).
fn write_positions<B: Backend>(
    dst: Tensor<B, 4>,
    start: usize,
    src: Tensor<B, 4>,
    transposed: bool,
) -> Tensor<B, 4> {
    let [b, h, t, d] = src.dims();
    let assign = |dst: Tensor<B, 4>, src: Tensor<B, 4>| {
        if transposed {
            dst.slice_assign([0..b, 0..h, 0..d, start..start + t], src.swap_dims(2, 3))
        } else {
            dst.slice_assign([0..b, 0..h, start..start + t, 0..d], src)
        }
    };
    let (mut dst_p, src_p) = match (dst.into_primitive(), src.into_primitive()) {
        (TensorPrimitive::Float(dp), TensorPrimitive::Float(sp)) => (dp, sp),
        (dq, sq) => return assign(Tensor::from_primitive(dq), Tensor::from_primitive(sq)),
    };
    let done = match (
        (&mut dst_p as &mut dyn Any).downcast_mut::<FlexTensor>(),
        (&src_p as &dyn Any).downcast_ref::<FlexTensor>(),
    ) {
        (Some(dst), Some(src)) => flex_write(dst, start, src, transposed),
        _ => false,
    };
    let dst = Tensor::from_primitive(TensorPrimitive::Float(dst_p));
    if done {
        dst
    } else {
        assign(dst, Tensor::from_primitive(TensorPrimitive::Float(src_p)))
    }
}

/// The in-place write on burn-flex; `false` when it does not apply.
fn flex_write(dst: &mut FlexTensor, start: usize, src: &FlexTensor, transposed: bool) -> bool {
    use burn::tensor::DType;
    let whole = dst.is_contiguous()
        && dst.layout().start_offset() == 0
        && dst.bytes().len() == dst.layout().num_elements() * 4;
    if dst.dtype() != DType::F32 || src.dtype() != DType::F32 || !whole {
        return false;
    }
    let shape = dst.layout().shape().clone();
    let (rows, d) = (shape[0] * shape[1], src.layout().shape()[3]);
    let cap = if transposed { shape[3] } else { shape[2] };
    let src = src.to_contiguous();
    let off = src.layout().start_offset();
    let t = src.layout().shape()[2];
    let src_data = &src.storage::<f32>()[off..off + rows * t * d];
    let Some(dst_data) = dst.try_storage_mut::<f32>() else {
        return false;
    };
    for (r, block) in src_data.chunks_exact(t * d).enumerate() {
        if transposed {
            for (tau, pos) in block.chunks_exact(d).enumerate() {
                for (j, &x) in pos.iter().enumerate() {
                    dst_data[(r * d + j) * cap + start + tau] = x;
                }
            }
        } else {
            let at = (r * cap + start) * d;
            dst_data[at..at + t * d].copy_from_slice(block);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    fn ramp<B: Backend>(shape: [usize; 4], from: f32) -> Tensor<B, 4> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| from + i as f32).collect();
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    /// The buffers (written in place, grown by doubling) always hold what
    /// concatenating every step would.
    fn appends_match_concatenation<B: Backend>() {
        for reserve in [0, 3, 16] {
            let mut cache = KvCache::<B>::with_reserve(2, reserve);
            let mut want_k = ramp::<B>([2, 3, 4, 5], 0.0);
            let mut want_v = ramp::<B>([2, 3, 4, 5], 1000.0);
            let (k, _) = cache.append(1, want_k.clone(), want_v.clone());
            assert_eq!(k.into_data(), want_k.clone().into_data());
            for step in 0..7 {
                let t = if step == 3 { 2 } else { 1 };
                let k = ramp::<B>([2, 3, t, 5], 10_000.0 * (step + 1) as f32);
                let v = ramp::<B>([2, 3, t, 5], -10_000.0 * (step + 1) as f32);
                want_k = Tensor::cat(vec![want_k, k.clone()], 2);
                want_v = Tensor::cat(vec![want_v, v.clone()], 2);
                let (got_k, got_v) = cache.append(1, k, v);
                assert_eq!(
                    got_k.into_data(),
                    want_k.clone().into_data(),
                    "keys, step {step}"
                );
                assert_eq!(
                    got_v.into_data(),
                    want_v.clone().into_data(),
                    "values, step {step}"
                );
            }
            assert_eq!(cache.len(), 0, "layer 0 is empty");
            assert_eq!(cache.layers[1].as_ref().map(|c| c.len), Some(12));
            // Truncated, the next append overwrites the dropped positions.
            cache.truncate(9);
            let k = ramp::<B>([2, 3, 1, 5], 7.0);
            let (got_k, _) = cache.append(1, k.clone(), k.clone());
            let want = Tensor::cat(vec![want_k.slice([0..2, 0..3, 0..9, 0..5]), k], 2);
            assert_eq!(got_k.into_data(), want.into_data(), "after truncate");
        }
    }

    #[test]
    fn appends_match_concatenation_in_place() {
        appends_match_concatenation::<Cpu>();
    }

    /// Any other backend (here autodiff's wrapper) takes `slice_assign`.
    #[test]
    fn appends_match_concatenation_via_slice_assign() {
        appends_match_concatenation::<burn::backend::Autodiff<Cpu>>();
    }

    /// A view handed out by the last step that is still alive (shared
    /// storage) must not be overwritten: the write falls back to a copy.
    #[test]
    fn a_live_view_keeps_its_values() {
        let mut cache = KvCache::<Cpu>::with_reserve(1, 8);
        let r = ramp::<Cpu>;
        let (k0, _) = cache.append(0, r([1, 1, 2, 2], 0.0), r([1, 1, 2, 2], 0.0));
        let (k1, _) = cache.append(0, r([1, 1, 1, 2], 50.0), r([1, 1, 1, 2], 50.0));
        let held = k1.clone().into_data();
        let (k2, _) = cache.append(0, r([1, 1, 1, 2], 90.0), r([1, 1, 1, 2], 90.0));
        assert_eq!(k1.into_data(), held);
        assert_eq!(k0.into_data(), r([1, 1, 2, 2], 0.0).into_data());
        let want = Tensor::cat(
            vec![
                r([1, 1, 2, 2], 0.0),
                r([1, 1, 1, 2], 50.0),
                r([1, 1, 1, 2], 90.0),
            ],
            2,
        );
        assert_eq!(k2.into_data(), want.into_data());
    }
}
