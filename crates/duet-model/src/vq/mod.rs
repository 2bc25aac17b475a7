//! The VQ-VAE image tokenizer (LlamaGen VQ-16 as in Janus): encoder, a
//! nearest-code quantiser over an `num_embeddings × embed_dim` codebook, and
//! the decoder. Decoding L2-normalises the codebook entries (as both the
//! original and transformers do); encoding follows transformers (no
//! normalisation before the nearest-code search).

pub mod blocks;
pub mod decoder;
pub mod encoder;

use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;

use crate::config::VqConfig;
use crate::error::{ModelError, Result};
use blocks::conv;
use decoder::Decoder;
use encoder::Encoder;

/// The codebook.
#[derive(Module, Debug)]
pub struct Quantizer<B: Backend> {
    pub embedding: Embedding<B>,
}

#[derive(Module, Debug)]
pub struct VqVae<B: Backend> {
    pub encoder: Encoder<B>,
    pub quant_conv: Conv2d<B>,
    pub quantize: Quantizer<B>,
    pub post_quant_conv: Conv2d<B>,
    pub decoder: Decoder<B>,
}

/// What encoding returns.
#[derive(Debug, Clone)]
pub struct VqEncoding<B: Backend> {
    /// Encoder output before `quant_conv`, `[batch, latent, h, w]`.
    pub encoder_out: Tensor<B, 4>,
    /// The chosen codebook vectors, `[batch, embed_dim, h, w]`.
    pub quantized: Tensor<B, 4>,
    /// Code indices, row-major over the grid, `[batch, h·w]`.
    pub codes: Tensor<B, 2, Int>,
}

impl VqConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> VqVae<B> {
        VqVae {
            encoder: Encoder::new(self, device),
            quant_conv: conv(self.latent_channels, self.embed_dim, 1, device),
            quantize: Quantizer {
                embedding: EmbeddingConfig::new(self.num_embeddings, self.embed_dim).init(device),
            },
            post_quant_conv: conv(self.embed_dim, self.latent_channels, 1, device),
            decoder: Decoder::new(self, device),
        }
    }
}

impl<B: Backend> VqVae<B> {
    /// Image (`[batch, 3, H, W]`, about [-1, 1]) → codes.
    pub fn encode(&self, pixels: Tensor<B, 4>) -> VqEncoding<B> {
        let encoder_out = self.encoder.forward(pixels);
        let z = self.quant_conv.forward(encoder_out.clone());
        let [b, e, h, w] = z.dims();
        let flat = z.permute([0, 2, 3, 1]).reshape([b * h * w, e]);
        let book = self.quantize.embedding.weight.val(); // [K, e]
        let dist = flat.clone().powf_scalar(2.0).sum_dim(1)
            + book.clone().powf_scalar(2.0).sum_dim(1).reshape([1, -1])
            - flat.matmul(book.clone().transpose()) * 2.0;
        let idx = dist.argmin(1).reshape([b * h * w]);
        let quantized = book
            .select(0, idx.clone())
            .reshape([b, h, w, e])
            .permute([0, 3, 1, 2]);
        VqEncoding {
            encoder_out,
            quantized,
            codes: idx.reshape([b, h * w]),
        }
    }

    /// L2-normalised codebook vectors of `codes` (`[batch, n]`) laid out as a
    /// square grid, `[batch, embed_dim, side, side]`.
    pub fn codebook_entries(&self, codes: Tensor<B, 2, Int>) -> Result<Tensor<B, 4>> {
        let [b, n] = codes.dims();
        let side = (n as f64).sqrt().round() as usize;
        if side * side != n {
            return Err(ModelError::Input(format!(
                "{n} image codes do not form a square grid"
            )));
        }
        let v = self.quantize.embedding.forward(codes); // [b, n, e]
        let norm = v
            .clone()
            .powf_scalar(2.0)
            .sum_dim(2)
            .sqrt()
            .clamp_min(1e-12);
        let v = v / norm;
        let e = v.dims()[2];
        Ok(v.reshape([b, side, side, e]).permute([0, 3, 1, 2]))
    }

    /// Quantised latents (`[batch, embed_dim, h, w]`) → image `[batch, 3, H, W]`.
    pub fn decode_latents(&self, quantized: Tensor<B, 4>) -> Tensor<B, 4> {
        self.decoder
            .forward(self.post_quant_conv.forward(quantized))
    }

    /// Codes (`[batch, n]`, a square grid) → image `[batch, 3, H, W]`.
    pub fn decode_codes(&self, codes: Tensor<B, 2, Int>) -> Result<Tensor<B, 4>> {
        Ok(self.decode_latents(self.codebook_entries(codes)?))
    }
}
