//! The straight-through VQ objective and held-out reconstruction metrics.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use duet_model::Janus;
use duet_model::vq::VqVae;
use image::RgbImage;

use super::vq::VqTrainConfig;
use crate::parallel::Part;

/// What one step or an evaluation reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VqMetrics {
    pub loss: f64,
    pub reconstruction: f64,
    /// PSNR in dB of reconstructions, pixels in [0, 1].
    pub psnr: f64,
    /// Fraction of the codebook used.
    pub usage: f64,
}

/// Images as `[batch, 3, h, w]` in [-1, 1].
pub fn to_tensor<B: Backend>(images: &[&RgbImage], device: &B::Device) -> Tensor<B, 4> {
    let (w, h) = images[0].dimensions();
    let mut v = Vec::with_capacity(images.len() * 3 * (w * h) as usize);
    for img in images {
        for c in 0..3 {
            v.extend(img.pixels().map(|p| p.0[c] as f32 / 127.5 - 1.0));
        }
    }
    Tensor::from_data(
        TensorData::new(v, [images.len(), 3, h as usize, w as usize]),
        device,
    )
}

pub(crate) fn l2norm<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / n
}

pub(crate) fn psnr(mse: f64) -> f64 {
    // Pixels in [-1, 1]: the [0, 1] MSE is a quarter of it.
    10.0 * (1.0 / (mse / 4.0).max(1e-12)).log10()
}

pub(crate) struct Forward<B: Backend> {
    pub(crate) loss: Tensor<B, 1>,
    pub(crate) reconstruction: Tensor<B, 1>,
    pub(crate) codes: Vec<i64>,
    pub(crate) latents: Tensor<B, 2>,
}

/// The training loss (shape pixels weighted by `fg_weight`) and the plain
/// MSE of a reconstruction.
pub(crate) fn reconstruction_loss<B: Backend>(
    x_hat: Tensor<B, 4>,
    x: Tensor<B, 4>,
    fg_weight: f64,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let err = (x_hat - x.clone()).square();
    let reconstruction = err.clone().mean();
    // Shapes cover a small part of each image: weighting their pixels makes
    // colour and outline, not the flat background, drive the early steps.
    if fg_weight == 1.0 {
        return (reconstruction.clone(), reconstruction);
    }
    let fg = x
        .sub_scalar(BACKGROUND)
        .abs()
        .max_dim(1)
        .greater_elem(0.05)
        .float();
    let w = fg * (fg_weight - 1.0) + 1.0;
    ((err * w.clone()).sum() / (w.sum() * 3.0), reconstruction)
}

/// ShapeWorld's background in model pixel space ([-1, 1]).
const BACKGROUND: f32 = 48.0 / 127.5 - 1.0;

pub(crate) fn forward<B: Backend>(
    vq: &VqVae<B>,
    x: Tensor<B, 4>,
    beta: f64,
    fg_weight: f64,
) -> Forward<B> {
    let z = vq.quant_conv.forward(vq.encoder.forward(x.clone()));
    let [b, e, h, w] = z.dims();
    let zn = l2norm(z.permute([0, 2, 3, 1]).reshape([b * h * w, e]));
    let book = l2norm(vq.quantize.embedding.weight.val());
    let idx = zn
        .clone()
        .matmul(book.clone().transpose())
        .argmax(1)
        .reshape([b * h * w]);
    let q = book.select(0, idx.clone());
    let codebook = (q.clone() - zn.clone().detach()).powf_scalar(2.0).mean();
    let commit = (zn.clone() - q.clone().detach()).powf_scalar(2.0).mean();
    let q_st = zn.clone() + (q - zn.clone()).detach();
    let grid = q_st.reshape([b, h, w, e]).permute([0, 3, 1, 2]);
    let x_hat = vq.decode_latents(grid);
    let (rec_loss, reconstruction) = reconstruction_loss(x_hat, x, fg_weight);
    let loss = rec_loss + codebook + commit * beta;
    Forward {
        loss,
        reconstruction,
        codes: idx.into_data().iter::<i64>().collect(),
        latents: zn.detach(),
    }
}

/// What part of a straight-through batch reports, each number already
/// weighted by the part's share of the batch.
pub(crate) struct HalfBatch<B: AutodiffBackend> {
    pub(crate) reconstruction: f64,
    pub(crate) loss: f64,
    pub(crate) codes: Vec<i64>,
    /// Unit latents, for dead-code restarts (`None` for an empty part).
    pub(crate) latents: Option<Tensor<B::InnerBackend, 2>>,
}

/// The straight-through loss of part of a batch, weighted by its share of
/// the `n` images.
pub(crate) fn half_batch<'a, B: AutodiffBackend>(
    imgs: &'a [&'a RgbImage],
    n: f64,
    cfg: &'a VqTrainConfig,
) -> impl FnOnce(&Janus<B>) -> Part<B, HalfBatch<B>> + Send + 'a {
    move |m: &Janus<B>| {
        if imgs.is_empty() {
            let empty = HalfBatch {
                reconstruction: 0.0,
                loss: 0.0,
                codes: vec![],
                latents: None,
            };
            return Ok((None, empty));
        }
        let share = imgs.len() as f64 / n;
        let f = forward(
            &m.vqmodel,
            to_tensor::<B>(imgs, &m.lm_head.weight.device()),
            cfg.beta,
            cfg.foreground_weight,
        );
        let rec: f64 = f.reconstruction.into_scalar().elem();
        let loss: f64 = f.loss.clone().into_scalar().elem();
        let out = HalfBatch {
            reconstruction: rec * share,
            loss: loss * share,
            codes: f.codes,
            latents: Some(f.latents.inner()),
        };
        Ok((Some(f.loss * share), out))
    }
}

/// Mean reconstruction PSNR and codebook usage on `images` (no gradients).
pub fn evaluate<B: Backend>(vq: &VqVae<B>, images: &[RgbImage], batch: usize) -> VqMetrics {
    let device = vq.quantize.embedding.weight.device();
    let k = vq.quantize.embedding.weight.dims()[0];
    let mut used = vec![false; k];
    let (mut mse, mut n) = (0.0, 0usize);
    for chunk in images.chunks(batch.max(1)) {
        let refs: Vec<&RgbImage> = chunk.iter().collect();
        let f = forward(vq, to_tensor::<B>(&refs, &device), 0.0, 1.0);
        mse += f.reconstruction.into_scalar().elem::<f64>() * chunk.len() as f64;
        n += chunk.len();
        for c in f.codes {
            used[c as usize] = true;
        }
    }
    let rec = mse / n.max(1) as f64;
    VqMetrics {
        loss: rec,
        reconstruction: rec,
        psnr: psnr(rec),
        usage: used.iter().filter(|u| **u).count() as f64 / k as f64,
    }
}
