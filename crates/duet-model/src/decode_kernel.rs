//! The decode-attention loop on raw `f32` buffers (decode_attention.rs
//! finds them in burn-flex tensors): per (batch row, KV head) group, the
//! scores of its query rows against every cached key, a softmax, the
//! weighted values. Plain safe Rust written so the compiler vectorises it,
//! compiled a second time for AVX2 + FMA and picked at run time.

/// An `f32` burn-flex tensor's storage, start offset and strides.
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) off: usize,
    pub(crate) strides: [usize; 4],
}

/// One decode step's attention on raw buffers.
pub(crate) struct Job<'a> {
    pub(crate) k: Raw<'a>,
    pub(crate) v: Raw<'a>,
    /// `[b, kv, rep, d]`, contiguous.
    pub(crate) q: &'a [f32],
    /// `[b, past]`, `true` = blocked.
    pub(crate) blocked: Option<&'a [bool]>,
    pub(crate) kv: usize,
    pub(crate) rep: usize,
    pub(crate) d: usize,
    pub(crate) past: usize,
    pub(crate) scale: f32,
}

/// Runs [`run`] compiled for AVX2 + FMA where the CPU has them (the crate
/// itself is built for baseline x86-64, i.e. SSE2), as the GEMM crate does.
pub(crate) fn run_dispatch(job: &Job, first: usize, out: &mut [f32]) {
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
/// contiguous) `stride` apart from `base`: blocks of 64 columns in eight
/// independent register accumulators (each row is read once per block),
/// then of 32 in four, then of 8, then single columns.
#[inline(always)]
fn weighted_rows(p: &[f32], data: &[f32], base: usize, stride: usize, inv: f32, o: &mut [f32]) {
    let d = o.len();
    let mut j = 0;
    while j + 8 * LANES <= d {
        block::<8>(p, data, base + j, stride, inv, &mut o[j..j + 8 * LANES]);
        j += 8 * LANES;
    }
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
/// vectorise; the libm call it replaces took 7 % of a decode step's time.
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
}
