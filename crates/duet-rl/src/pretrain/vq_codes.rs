//! The `patch_kmeans` way to train the VQ: codes are fixed first, then the
//! networks learn them. Every grid-aligned patch of the training images is
//! clustered with k-means (one cluster per code); the codebook is a fixed
//! set of random unit vectors, one per cluster. The decoder then learns to
//! paint a code grid back into the image (plain regression, no
//! quantisation noise) and the encoder learns to name each patch's code
//! (cross-entropy on the cosine logits the L2-normalised lookup uses).
//!
//! Why: straight-through VQ training of the tiny preset needed far more
//! steps than the recipe's CPU budget to learn colour at all (held-out
//! PSNR ≈ 20 dB, ShapeDetector recovery < 10 %, measured in
//! docs/pretraining.md), while painting each patch with its k-means
//! centroid alone already gives ≈ 29 dB. The result is an ordinary VQ-VAE
//! checkpoint: same modules, same lookup, same HF keys.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use duet_data::pairs::kmeans::{KMeansOptions, minibatch_kmeans};
use duet_data::pairs::matrix::Features;
use duet_model::vq::VqVae;
use image::RgbImage;
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
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut codebook = Vec::with_capacity(k * embed_dim);
    for _ in 0..k {
        let v: Vec<f32> = (0..embed_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        codebook.extend(v.iter().map(|a| a / n));
    }
    PatchCodes {
        codebook,
        k,
        embed_dim,
        codes,
    }
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
    let [k, e] = book.dims();
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
    let _ = k;
    Supervised {
        loss: rec_loss + ce * ce_weight,
        reconstruction,
        code_accuracy: hits as f64 / want.len().max(1) as f64,
    }
}
