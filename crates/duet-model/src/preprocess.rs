//! Image preprocessing for the vision tower, as transformers'
//! `JanusImageProcessor`: resize so the longer side is `size` (bicubic,
//! antialiased, aspect kept, each side at least `min_size`), pad to a square
//! with the background colour (127, 127, 127) centred, rescale by 1/255 and
//! normalise with mean = std = 0.5, giving values in about [-1, 1].

use burn::prelude::*;
use image::RgbImage;
use image::imageops::FilterType;

/// Preprocessing settings (Janus-Pro's `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    pub size: u32,
    pub min_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub background: [u8; 3],
}

impl PreprocessConfig {
    pub fn janus(size: u32) -> Self {
        PreprocessConfig {
            size,
            min_size: 14,
            mean: [0.5; 3],
            std: [0.5; 3],
            background: [127; 3],
        }
    }
}

/// Resized and padded RGB image, before normalisation.
pub fn resize_and_pad(img: &RgbImage, cfg: &PreprocessConfig) -> RgbImage {
    let (w, h) = img.dimensions();
    let scale = cfg.size as f64 / w.max(h) as f64;
    let nw = ((w as f64 * scale).round() as u32).max(cfg.min_size);
    let nh = ((h as f64 * scale).round() as u32).max(cfg.min_size);
    let resized = if (nw, nh) == (w, h) {
        img.clone()
    } else {
        image::imageops::resize(img, nw, nh, FilterType::CatmullRom)
    };
    let mut out = RgbImage::from_pixel(cfg.size, cfg.size, image::Rgb(cfg.background));
    let (x0, y0) = (
        (cfg.size - nw.min(cfg.size)) / 2,
        (cfg.size - nh.min(cfg.size)) / 2,
    );
    image::imageops::overlay(&mut out, &resized, x0 as i64, y0 as i64);
    out
}

/// Pixel values `[batch, 3, size, size]` for a batch of images.
pub fn pixel_values<B: Backend>(
    images: &[RgbImage],
    cfg: &PreprocessConfig,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = cfg.size as usize;
    let mut v = Vec::with_capacity(images.len() * 3 * s * s);
    for img in images {
        let img = resize_and_pad(img, cfg);
        for c in 0..3 {
            for p in img.pixels() {
                v.push((p.0[c] as f32 / 255.0 - cfg.mean[c]) / cfg.std[c]);
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [images.len(), 3, s, s]), device)
}
