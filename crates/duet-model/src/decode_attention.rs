//! Attention of one new position per row against the KV cache (a decode
//! step). On burn-flex a direct loop over the cache buffers: burn's fused
//! attention first copies the cache views contiguous, and batched matmuls
//! with two query rows per KV head run GEMM microkernels at a few percent of
//! the machine's peak, which made per-token time grow with the image far
//! faster than attention's own arithmetic (docs/benchmarks.md). Any other
//! backend (and autodiff) takes the same maths in burn ops.

use std::any::Any;

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_flex::FlexTensor;

use crate::decode_kernel::{Job, Raw, run_dispatch};

/// `q`: `[b, kv, rep, d]` (the query heads grouped under their KV head),
/// `k`/`v`: `[b, kv, past, d]` (views of the cache), `mask` (`true` =
/// blocked): `[b, 1, 1, past]`. Returns `[b, kv, rep, d]`. No causal mask:
/// the newest position sees every cached one.
pub fn decode_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 4, Bool>>,
) -> Tensor<B, 4> {
    if let Some(out) = flex_decode(&q, &k, &v, mask.as_ref()) {
        return out;
    }
    let [_, kv, rep, d] = q.dims();
    let scores = q
        .mul_scalar((d as f64).powf(-0.5))
        .matmul(k.swap_dims(2, 3));
    let scores = match mask {
        Some(m) => scores.mask_fill(m.repeat_dim(1, kv).repeat_dim(2, rep), f32::NEG_INFINITY),
        None => scores,
    };
    burn::tensor::activation::softmax(scores, 3).matmul(v)
}

/// `t`'s buffer for the kernel: `f32`, non-negative strides.
fn raw(t: &FlexTensor) -> Option<Raw<'_>> {
    if t.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    let s = t.layout().strides();
    if s.len() != 4 || s.iter().any(|&x| x < 0) {
        return None;
    }
    Some(Raw {
        data: t.storage::<f32>(),
        off: t.layout().start_offset(),
        strides: [s[0] as usize, s[1] as usize, s[2] as usize, s[3] as usize],
    })
}

/// The burn-flex kernel; `None` on any other backend or layout.
fn flex_decode<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
    mask: Option<&Tensor<B, 4, Bool>>,
) -> Option<Tensor<B, 4>> {
    flex_decode_split(q, k, v, mask, PARALLEL_ELEMS)
}

/// [`flex_decode`], split between the cores from `split_at` cached keys.
fn flex_decode_split<B: Backend>(
    q: &Tensor<B, 4>,
    k: &Tensor<B, 4>,
    v: &Tensor<B, 4>,
    mask: Option<&Tensor<B, 4, Bool>>,
    split_at: usize,
) -> Option<Tensor<B, 4>> {
    let [b, kv, rep, d] = q.dims();
    let past = k.dims()[2];
    // Anything but the shapes documented above takes the burn-ops path.
    let mask_ok = mask.is_none_or(|m| m.dims() == [b, 1, 1, past]);
    if k.dims() != [b, kv, past, d] || v.dims() != [b, kv, past, d] || !mask_ok {
        return None;
    }
    let (TensorPrimitive::Float(kp), TensorPrimitive::Float(vp)) =
        (k.clone().into_primitive(), v.clone().into_primitive())
    else {
        return None;
    };
    let kf = (&kp as &dyn Any).downcast_ref::<FlexTensor>()?;
    let vf = (&vp as &dyn Any).downcast_ref::<FlexTensor>()?;
    let (kr, vr) = (raw(kf)?, raw(vf)?);
    // The query and the mask are small: read through host memory.
    let qd: Vec<f32> = q.clone().into_data().convert::<f32>().into_vec().ok()?;
    let blocked: Option<Vec<bool>> = match mask {
        Some(m) => Some(m.clone().into_data().into_vec().ok()?),
        None => None,
    };
    let job = Job {
        k: kr,
        v: vr,
        q: &qd,
        blocked: blocked.as_deref(),
        kv,
        rep,
        d,
        past,
        scale: (d as f32).powf(-0.5),
    };
    let mut out = vec![0f32; b * kv * rep * d];
    // Half the groups on each core once the cache read is large (the
    // hand-over costs tens of µs: at the ShapeWorld size it lost, even at
    // 576 positions; a wide model's batch reads hundreds of MB).
    let groups = b * kv;
    if groups >= 2 && groups * past * d >= split_at {
        let (lo, hi) = out.split_at_mut(groups / 2 * rep * d);
        rayon::join(
            || run_dispatch(&job, 0, lo),
            || run_dispatch(&job, groups / 2, hi),
        );
    } else {
        run_dispatch(&job, 0, &mut out);
    }
    let device = q.device();
    Some(Tensor::from_data(
        TensorData::new(out, [b, kv, rep, d]),
        &device,
    ))
}

/// Cached keys (and as many values) above which a step is split between
/// the two cores: 4 M floats, 16 MB.
const PARALLEL_ELEMS: usize = 1 << 22;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;
    use crate::cache::KvCache;

    fn noise<B: Backend>(shape: [usize; 4], seed: u64) -> Tensor<B, 4> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n as u64)
            .map(|i| (((i + 1) * (seed * 2 + 7919)) % 1013) as f32 / 1013.0 - 0.5)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    /// The burn-flex loop, on the cache's views, applies and equals the burn-ops maths
    /// (run on autodiff's wrapper, which the fast path does not take), with
    /// and without a padding mask and with more than one query per KV head.
    #[test]
    fn kernel_matches_burn_ops() {
        // d = 8: one 8-wide block; d = 107 = 64 + 32 + 8 + 3: every block
        // width of the value loop and its single-column tail.
        for d in [8, 107] {
            kernel_matches_burn_ops_at(d);
        }
    }

    fn kernel_matches_burn_ops_at(d: usize) {
        type Ad = burn::backend::Autodiff<Cpu>;
        let (b, kv, rep, past) = (3, 2, 2, 37);
        let k = noise::<Cpu>([b, kv, past, d], 1);
        let v = noise::<Cpu>([b, kv, past, d], 2);
        let q = noise::<Cpu>([b, kv, rep, d], 3);
        // Through the cache, so the keys are the transposed-buffer views.
        let mut cache = KvCache::<Cpu>::with_reserve(1, 5);
        cache.append(
            0,
            k.clone().slice([0..b, 0..kv, 0..30, 0..d]),
            v.clone().slice([0..b, 0..kv, 0..30, 0..d]),
        );
        let mut views = None;
        for p in 30..past {
            views = Some(cache.append(
                0,
                k.clone().slice([0..b, 0..kv, p..p + 1, 0..d]),
                v.clone().slice([0..b, 0..kv, p..p + 1, 0..d]),
            ));
        }
        let (kc, vc) = views.unwrap();
        let pad: Vec<bool> = (0..b * past).map(|i| i % past < 3 * (i / past)).collect();
        let mask = |on: bool| -> Option<TensorData> {
            on.then(|| TensorData::new(pad.clone(), [b, 1, 1, past]))
        };
        let dev = Default::default();
        for masked in [false, true] {
            let m = mask(masked).map(|m| Tensor::<Cpu, 4, Bool>::from_data(m, &dev));
            let one = flex_decode(&q, &kc, &vc, m.as_ref()).expect("the burn-flex loop applies");
            let two = flex_decode_split(&q, &kc, &vc, m.as_ref(), 0).expect("applies");
            assert_eq!(
                one.clone().into_data(),
                two.into_data(),
                "split over the cores"
            );
            let got = one;
            let to = |t: Tensor<Cpu, 4>| Tensor::<Ad, 4>::from_data(t.into_data(), &dev);
            let want = decode_attention(
                to(q.clone()),
                to(k.clone()),
                to(v.clone()),
                mask(masked).map(|m| Tensor::<Ad, 4, Bool>::from_data(m, &dev)),
            );
            let g: Vec<f32> = got.into_data().to_vec().unwrap();
            let w: Vec<f32> = want.into_data().to_vec().unwrap();
            let diff = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "d = {d}, masked = {masked}: max |diff| {diff}");
        }
    }
}
