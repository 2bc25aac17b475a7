//! Antialiased rendering by supersampling: each pixel's colour is the
//! background blended with the object colour by the fraction of its sub-samples
//! inside the shape. Pure f64 arithmetic, so output is identical everywhere.

use image::{ImageEncoder, RgbImage};

use super::config::ShapeWorldConfig;
use super::scene::Scene;
use super::vocab::BACKGROUND;
use crate::error::{DataError, Result};

/// Renders a scene to an RGB image.
pub fn render(scene: &Scene, cfg: &ShapeWorldConfig) -> RgbImage {
    let mut img = RgbImage::from_pixel(scene.width, scene.height, image::Rgb(BACKGROUND));
    let ss = cfg.supersample.max(1);
    let n = (ss * ss) as f64;
    for obj in &scene.objects {
        let b = obj.bbox();
        let x0 = (b.x0.floor() as i64 - 1).max(0) as u32;
        let y0 = (b.y0.floor() as i64 - 1).max(0) as u32;
        let x1 = ((b.x1.ceil() as i64 + 1).max(0) as u32).min(scene.width);
        let y1 = ((b.y1.ceil() as i64 + 1).max(0) as u32).min(scene.height);
        let rgb = obj.color.rgb();
        for y in y0..y1 {
            for x in x0..x1 {
                let mut inside = 0u32;
                for sy in 0..ss {
                    for sx in 0..ss {
                        let px = x as f64 + (sx as f64 + 0.5) / ss as f64;
                        let py = y as f64 + (sy as f64 + 0.5) / ss as f64;
                        let u = (px - obj.center[0]) / obj.size;
                        let v = (py - obj.center[1]) / obj.size;
                        inside += obj.shape.contains(u, v) as u32;
                    }
                }
                if inside == 0 {
                    continue;
                }
                let a = inside as f64 / n;
                let p = img.get_pixel_mut(x, y);
                for (dst, &src) in p.0.iter_mut().zip(&rgb) {
                    *dst = (*dst as f64 * (1.0 - a) + src as f64 * a).round() as u8;
                }
            }
        }
    }
    img
}

/// Encodes an image as PNG bytes (deterministic for a given `image` version).
pub fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encoding an in-memory RGB image cannot fail");
    out
}

/// Reads an image file that must be a PNG, as RGB.
pub fn load_png(path: &std::path::Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Png) => {}
        Ok(other) => {
            return Err(DataError::NotPng {
                path: path.to_path_buf(),
                found: format!("{other:?}"),
            });
        }
        Err(_) => {
            return Err(DataError::NotPng {
                path: path.to_path_buf(),
                found: "unrecognised bytes".to_string(),
            });
        }
    }
    let img =
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).map_err(|source| {
            DataError::Image {
                path: path.to_path_buf(),
                source,
            }
        })?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapeworld::scene::Object;
    use crate::shapeworld::vocab::{Color, Shape};

    #[test]
    fn edges_are_blended_and_interiors_solid() {
        let cfg = ShapeWorldConfig::default();
        let scene = Scene {
            width: 64,
            height: 64,
            objects: vec![Object {
                shape: Shape::Circle,
                color: Color::Red,
                center: [32.0, 32.0],
                size: 20.0,
            }],
        };
        let img = render(&scene, &cfg);
        assert_eq!(img.get_pixel(32, 32).0, Color::Red.rgb());
        assert_eq!(img.get_pixel(2, 2).0, BACKGROUND);
        // A pixel straddling the rim is neither.
        let rim = img.get_pixel(39, 38).0;
        assert!(rim != Color::Red.rgb() && rim != BACKGROUND, "{rim:?}");
        let back = load_png_bytes(&png_bytes(&img));
        assert_eq!(back, img);
    }

    fn load_png_bytes(b: &[u8]) -> RgbImage {
        image::load_from_memory(b).unwrap().to_rgb8()
    }
}
