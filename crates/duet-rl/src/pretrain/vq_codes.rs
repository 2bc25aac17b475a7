//! The `patch_kmeans` way to train the VQ: codes are fixed first, then the
//! networks learn them. Every grid-aligned patch of the training images is
//! clustered with k-means (one cluster per code), so a code is a function of
//! the patch's pixels alone — identical patches always get the same token,
//! which is what the language model needs to learn to draw. The decoder
//! learns to paint a code grid back into the image (plain regression, no
//! quantisation noise) and the encoder learns to name each patch's code
//! (cross-entropy on the cosine logits the L2-normalised lookup uses).
//!
//! The codebook starts from the clusters' content (their centroids' principal
//! components, mapped onto the unit sphere) and is trained with the decoder,
//! as its input embedding: fixed random vectors made the decoder learn a
//! lookup from arbitrary inputs, far slower (17.97 dB after 300 steps,
//! docs/pretraining.md). The result is an ordinary VQ-VAE checkpoint: same
//! modules, same lookup, same HF keys.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use duet_data::pairs::kmeans::{KMeansOptions, minibatch_kmeans};
use duet_data::pairs::matrix::{Features, dot};
use duet_model::Janus;
use duet_model::vq::VqVae;
use image::RgbImage;

use super::vq::VqTrainConfig;
use super::vq_loss::{l2norm, to_tensor};
use crate::parallel::Part;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Fixed codes of the training images and the codebook vectors.
pub struct PatchCodes {
    /// `[k, embed_dim]`, unit rows.
    pub codebook: Vec<f32>,
    pub k: usize,
    pub embed_dim: usize,
    /// Row-major code grid of each training image.
    pub codes: Vec<Vec<u32>>,
}

/// The `p`-pixel patches of an image, row-major, as RGB in [0, 1].
pub fn patches(img: &RgbImage, p: u32) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for gy in 0..img.height() / p {
        for gx in 0..img.width() / p {
            let mut v = Vec::with_capacity((p * p * 3) as usize);
            for y in 0..p {
                for x in 0..p {
                    let px = img.get_pixel(gx * p + x, gy * p + y).0;
                    v.extend(px.iter().map(|&c| c as f32 / 255.0));
                }
            }
            out.push(v);
        }
    }
    out
}

/// Clusters the `grid`-pixel patches of `images` into `k` codes.
pub fn fit(images: &[RgbImage], grid: u32, k: usize, embed_dim: usize, seed: u64) -> PatchCodes {
    let per_image = patches(&images[0], grid).len();
    let rows: Vec<Vec<f32>> = images.iter().flat_map(|i| patches(i, grid)).collect();
    let x = Features::from_rows(&rows);
    let all: Vec<usize> = (0..x.rows()).collect();
    let mut opts = KMeansOptions::new(k);
    opts.steps = 300;
    opts.seed = seed;
    let km = minibatch_kmeans(&x, &all, opts);
    let codes = km
        .assign
        .chunks(per_image)
        .map(|c| c.iter().map(|&a| a as u32).collect())
        .collect();
    let codebook = content_codebook(&km.centroids, k, embed_dim, seed);
    PatchCodes {
        codebook,
        k,
        embed_dim,
        codes,
    }
}

/// A unit-norm codebook row per centroid that keeps similar patches close:
/// each centroid's coordinates on the first `e - 1` principal components of
/// the centroids, scaled to unit RMS radius, stereographically projected onto
/// the sphere in `e` dimensions (injective, so distinct coordinates stay
/// distinct codes). Rows beyond the centroids (codes k-means left unused)
/// are random unit vectors.
fn content_codebook(c: &Features, k: usize, e: usize, seed: u64) -> Vec<f32> {
    let (n, d) = (c.rows(), c.dim);
    let mut mean = vec![0f32; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(c.row(i)) {
            *m += v / n as f32;
        }
    }
    let centred: Vec<Vec<f32>> = (0..n)
        .map(|i| c.row(i).iter().zip(&mean).map(|(v, m)| v - m).collect())
        .collect();
    let axes = principal_axes(&centred, d, e.saturating_sub(1), seed);
    let coords: Vec<Vec<f32>> = centred
        .iter()
        .map(|x| axes.iter().map(|a| dot(x, a)).collect())
        .collect();
    let rms = (coords.iter().flatten().map(|v| v * v).sum::<f32>() / n.max(1) as f32)
        .sqrt()
        .max(1e-6);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut book = Vec::with_capacity(k * e);
    for i in 0..k {
        let row: Vec<f32> = match coords.get(i) {
            Some(p) if e > 1 => {
                let x: Vec<f32> = p.iter().map(|v| v / rms).collect();
                let r2: f32 = x.iter().map(|v| v * v).sum();
                let mut s: Vec<f32> = x.iter().map(|v| 2.0 * v / (r2 + 1.0)).collect();
                s.push((r2 - 1.0) / (r2 + 1.0));
                s
            }
            _ => (0..e).map(|_| StandardNormal.sample(&mut rng)).collect(),
        };
        let norm = row.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        book.extend(row.iter().map(|a| a / norm));
    }
    book
}

/// The first `m` principal axes of the (centred) rows, by power iteration
/// with deflation on the `d × d` scatter matrix.
fn principal_axes(rows: &[Vec<f32>], d: usize, m: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut cov = vec![0f64; d * d];
    for r in rows {
        for i in 0..d {
            let ri = r[i] as f64;
            for j in 0..d {
                cov[i * d + j] += ri * r[j] as f64;
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xa11e5);
    let mut axes: Vec<Vec<f32>> = Vec::with_capacity(m);
    for _ in 0..m {
        let mut v: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let mut lambda = 0.0;
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum())
                .collect();
            lambda = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if lambda < 1e-12 {
                break;
            }
            w.iter_mut().for_each(|a| *a /= lambda);
            v = w;
        }
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] -= lambda * v[i] * v[j];
            }
        }
        axes.push(v.iter().map(|&a| a as f32).collect());
    }
    axes
}

/// Losses of one supervised step: reconstruction from the target code grid
/// (foreground-weighted, plus the plain MSE for reporting) and the
/// encoder's cross-entropy; and the codes the encoder currently picks.
pub struct Supervised<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub reconstruction: Tensor<B, 1>,
    pub code_accuracy: f64,
}

/// Scale of the cosine logits the encoder is trained with.
const LOGIT_SCALE: f64 = 10.0;

pub fn forward<B: Backend>(
    vq: &VqVae<B>,
    x: Tensor<B, 4>,
    targets: &[&Vec<u32>],
    book: Tensor<B, 2>,
    fg_weight: f64,
    ce_weight: f64,
) -> Supervised<B> {
    let device = x.device();
    let [_, e] = book.dims();
    let b = targets.len();
    let n = targets[0].len();
    let side = (n as f64).sqrt() as usize;
    let flat: Vec<i64> = targets
        .iter()
        .flat_map(|t| t.iter().map(|&c| c as i64))
        .collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(flat, [b * n]), &device);
    let q = book.clone().select(0, idx.clone());
    let grid = q.reshape([b, side, side, e]).permute([0, 3, 1, 2]);
    let x_hat = vq.decode_latents(grid);
    let (rec_loss, reconstruction) =
        super::vq_loss::reconstruction_loss(x_hat, x.clone(), fg_weight);
    let z = vq.quant_conv.forward(vq.encoder.forward(x));
    let [_, _, h, w] = z.dims();
    let z = z.permute([0, 2, 3, 1]).reshape([b * h * w, e]);
    let zn = z.clone() / z.square().sum_dim(1).sqrt().clamp_min(1e-12);
    let logits = zn.matmul(book.transpose()) * LOGIT_SCALE;
    let picked: Vec<i64> = logits.clone().argmax(1).into_data().iter::<i64>().collect();
    let logp = log_softmax(logits, 1);
    let ce = logp.gather(1, idx.clone().reshape([b * n, 1])).mean().neg();
    let want: Vec<i64> = idx.into_data().iter::<i64>().collect();
    let hits = picked.iter().zip(&want).filter(|(a, b)| a == b).count();
    Supervised {
        loss: rec_loss + ce * ce_weight,
        reconstruction,
        code_accuracy: hits as f64 / want.len().max(1) as f64,
    }
}

/// What part of a batch reports, each number already weighted by the part's
/// share of the batch.
pub(crate) struct CodesPart {
    pub(crate) reconstruction: f64,
    pub(crate) loss: f64,
    pub(crate) code_accuracy: f64,
}

/// The supervised loss of part of a batch (images and their target codes),
/// weighted by its share of the `n` images; the codebook is the model's own
/// (trained as the decoder's input embedding), L2-normalised as it is used.
pub(crate) fn half_batch<'a, B: AutodiffBackend>(
    imgs: &'a [&'a RgbImage],
    targets: &'a [&'a Vec<u32>],
    n: f64,
    cfg: &'a VqTrainConfig,
) -> impl FnOnce(&Janus<B>) -> Part<B, CodesPart> + Send + 'a {
    move |m: &Janus<B>| {
        if imgs.is_empty() {
            let empty = CodesPart {
                reconstruction: 0.0,
                loss: 0.0,
                code_accuracy: 0.0,
            };
            return Ok((None, empty));
        }
        let share = imgs.len() as f64 / n;
        let book = l2norm(m.vqmodel.quantize.embedding.weight.val());
        let s = forward(
            &m.vqmodel,
            to_tensor::<B>(imgs, &m.lm_head.weight.device()),
            targets,
            book,
            cfg.foreground_weight,
            cfg.code_loss_weight,
        );
        let rec: f64 = s.reconstruction.into_scalar().elem();
        let loss: f64 = s.loss.clone().into_scalar().elem();
        let out = CodesPart {
            reconstruction: rec * share,
            loss: loss * share,
            code_accuracy: s.code_accuracy * share,
        };
        Ok((Some(s.loss * share), out))
    }
}
