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

/// An `f32` burn-flex tensor's storage, start offset and strides.
#[derive(Clone, Copy)]
struct Raw<'a> {
    data: &'a [f32],
    off: usize,
    strides: [usize; 4],
}

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

/// One decode step's attention on raw buffers.
struct Job<'a> {
    k: Raw<'a>,
    v: Raw<'a>,
    /// `[b, kv, rep, d]`, contiguous.
    q: &'a [f32],
    /// `[b, past]`, `true` = blocked.
    blocked: Option<&'a [bool]>,
    kv: usize,
    rep: usize,
    d: usize,
    past: usize,
    scale: f32,
}

/// Runs [`run`] compiled for AVX2 + FMA where the CPU has them (the crate
/// itself is built for baseline x86-64, i.e. SSE2), as the GEMM crate does.
fn run_dispatch(job: &Job, first: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected on this CPU.
        unsafe { run_avx2(job, first, out) };
        return;
    }
    run(job, first, out)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: &Job, first: usize, out: &mut [f32]) {
    run(job, first, out)
}

/// The (batch row, KV head) groups from `first` on that `out` holds:
/// scores, softmax, weighted values.
#[inline(always)]
fn run(job: &Job, first: usize, out: &mut [f32]) {
    let Job {
        k,
        v,
        kv,
        rep,
        d,
        past,
        ..
    } = *job;
    let mut scores = vec![0f32; rep * past];
    for (i, out) in out.chunks_exact_mut(rep * d).enumerate() {
        let i = first + i;
        let (bi, g) = (i / kv, i % kv);
        let kb = k.off + bi * k.strides[0] + g * k.strides[1];
        let vb = v.off + bi * v.strides[0] + g * v.strides[1];
        let qs = &job.q[i * rep * d..(i + 1) * rep * d];
        scores.fill(0.0);
        // scores[r][τ] = Σ_j q[r][j]·K[τ][j]: with the cache's transposed
        // keys each `j` is one contiguous row over τ.
        for j in 0..d {
            let kj = kb + j * k.strides[3];
            for (r, row) in scores.chunks_exact_mut(past).enumerate() {
                let qj = qs[r * d + j] * job.scale;
                if k.strides[2] == 1 {
                    let ks = &k.data[kj..kj + past];
                    row.iter_mut().zip(ks).for_each(|(s, &x)| *s += qj * x);
                } else {
                    for (tau, s) in row.iter_mut().enumerate() {
                        *s += qj * k.data[kj + tau * k.strides[2]];
                    }
                }
            }
        }
        for (row, o) in scores.chunks_exact_mut(past).zip(out.chunks_exact_mut(d)) {
            if let Some(m) = job.blocked {
                let m = &m[bi * past..(bi + 1) * past];
                row.iter_mut().zip(m).for_each(|(s, &b)| {
                    if b {
                        *s = f32::NEG_INFINITY
                    }
                });
            }
            let inv = 1.0 / softmax_unnormalised(row);
            if v.strides[3] == 1 {
                weighted_rows(row, v.data, vb, v.strides[2], inv, o);
            } else {
                for (tau, &p) in row.iter().enumerate() {
                    let vt = vb + tau * v.strides[2];
                    for (j, a) in o.iter_mut().enumerate() {
                        *a += p * v.data[vt + j * v.strides[3]];
                    }
                }
                o.iter_mut().for_each(|a| *a *= inv);
            }
        }
    }
}

/// `o = inv · Σ_τ p[τ] · V[τ]`, the rows `V[τ]` (`o.len()` wide,
/// contiguous) `stride` apart from `base`: blocks of 32 columns in four
/// independent register accumulators, then blocks of 8, then single ones.
#[inline(always)]
fn weighted_rows(p: &[f32], data: &[f32], base: usize, stride: usize, inv: f32, o: &mut [f32]) {
    let d = o.len();
    let mut j = 0;
    while j + 4 * LANES <= d {
        block::<4>(p, data, base + j, stride, inv, &mut o[j..j + 4 * LANES]);
        j += 4 * LANES;
    }
    while j + LANES <= d {
        block::<1>(p, data, base + j, stride, inv, &mut o[j..j + LANES]);
        j += LANES;
    }
    for (jj, a) in o.iter_mut().enumerate().skip(j) {
        let sum: f32 = p
            .iter()
            .enumerate()
            .map(|(tau, &w)| w * data[base + tau * stride + jj])
            .sum();
        *a = sum * inv;
    }
}

#[inline(always)]
fn block<const N: usize>(
    p: &[f32],
    data: &[f32],
    at: usize,
    stride: usize,
    inv: f32,
    o: &mut [f32],
) {
    let mut acc = [[0f32; LANES]; N];
    for (tau, &w) in p.iter().enumerate() {
        let row = &data[at + tau * stride..at + tau * stride + N * LANES];
        for (n, a) in acc.iter_mut().enumerate() {
            for l in 0..LANES {
                a[l] += w * row[n * LANES + l];
            }
        }
    }
    for (n, a) in acc.iter().enumerate() {
        for l in 0..LANES {
            o[n * LANES + l] = a[l] * inv;
        }
    }
}

/// Lanes of the explicit reductions: a float sum or max in one accumulator
/// cannot be vectorised (the compiler may not reorder it), eight can.
const LANES: usize = 8;

/// `row[i] = exp(row[i] - max(row))`; returns the sum.
#[inline(always)]
fn softmax_unnormalised(row: &mut [f32]) -> f32 {
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            mx[l] = mx[l].max(c[l]);
        }
    }
    let rest = chunks.remainder().iter().chain(&mx);
    let max = rest.copied().fold(f32::NEG_INFINITY, f32::max);
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `eˣ` for `x ≤ 0` to about 2·10⁻⁷ relative error (0 below −87, where
/// masked scores sit), in integer and float arithmetic the compiler can
/// vectorise; the libm call it replaces was a tenth of a decode step.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // eˣ = 2ᵏ · eʸ, k = round(x·log₂e), y = x − k·ln 2 with ln 2 split in
    // two (Cody–Waite) so y keeps its precision; |y| ≤ ln2/2.
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let masked = x < -87.0;
    let x = x.max(-87.0);
    let z = x * std::f32::consts::LOG2_E + MAGIC;
    let kf = z - MAGIC;
    let y = (x - kf * 0.693_359_4) + kf * 2.121_944_4e-4;
    // Taylor to y⁶: the remainder |y|⁷/7! < 1.2·10⁻⁷.
    let p = 1.0
        + y * (1.0
            + y * (0.5
                + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0 + y * (1.0 / 720.0))))));
    // z's low mantissa bits hold k (one ulp is 1 in [2²³, 2²⁴)): 2ᵏ's
    // exponent field is k + 127.
    let k = z.to_bits().wrapping_sub(MAGIC.to_bits());
    let two_k = f32::from_bits(k.wrapping_add(127) << 23);
    if masked { 0.0 } else { two_k * p }
}

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

    #[test]
    fn exp_is_accurate_where_softmax_uses_it() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 5e-7, "max relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    /// The burn-flex loop, on the cache's views, applies and equals the burn-ops maths
    /// (run on autodiff's wrapper, which the fast path does not take), with
    /// and without a padding mask and with more than one query per KV head.
    #[test]
    fn kernel_matches_burn_ops() {
        type Ad = burn::backend::Autodiff<Cpu>;
        let (b, kv, rep, d, past) = (3, 2, 2, 8, 37);
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
            assert!(diff < 1e-5, "masked = {masked}: max |diff| {diff}");
        }
    }
}
