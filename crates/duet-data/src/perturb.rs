//! Image corruptions for robustness measurements: Gaussian pixel noise, a
//! Gaussian blur and a JPEG round trip — the degradations a generated image
//! or a re-encoded dataset suffers.

use image::RgbImage;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Adds i.i.d. Gaussian noise of standard deviation `sigma` (in 0–255 units)
/// to every channel, clamping to the valid range.
pub fn gaussian_noise(img: &RgbImage, sigma: f64, rng: &mut impl Rng) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (*c as f64
                + sigma * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng))
            .round()
            .clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Gaussian blur with standard deviation `sigma` pixels (`image`'s own).
pub fn gaussian_blur(img: &RgbImage, sigma: f32) -> RgbImage {
    image::imageops::blur(img, sigma)
}

/// Encodes as JPEG at `quality` (1–100) and decodes again.
pub fn jpeg_round_trip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .expect("encoding an in-memory RGB image cannot fail");
    image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .expect("decoding the JPEG just written cannot fail")
        .to_rgb8()
}

/// The combined corruption of the robustness check: 1-px Gaussian blur, then
/// noise σ = 8/255, then JPEG quality 75 (noise after blur, so it is not
/// smoothed away).
pub fn standard_corruption(img: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    jpeg_round_trip(&gaussian_noise(&gaussian_blur(img, 1.0), 8.0, rng), 75)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_has_the_requested_spread_and_blur_preserves_mean() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let noisy = gaussian_noise(&img, 8.0, &mut rng);
        let vals: Vec<f64> = noisy.as_raw().iter().map(|&v| v as f64 - 128.0).collect();
        let var = vals.iter().map(|v| v * v).sum::<f64>() / vals.len() as f64;
        assert!((var.sqrt() - 8.0).abs() < 0.3, "{}", var.sqrt());
        let blurred = gaussian_blur(&noisy, 1.0);
        let mean = |i: &RgbImage| {
            i.as_raw().iter().map(|&v| v as f64).sum::<f64>() / i.as_raw().len() as f64
        };
        assert!((mean(&blurred) - mean(&noisy)).abs() < 0.5);
        let j = jpeg_round_trip(&img, 75);
        assert_eq!(j.dimensions(), (64, 64));
    }
}
