//! Image features for clustering and retrieval. PairUni uses a ResNet-50
//! without its head; duet's encoders plug in through [`ImageEmbedder`] from
//! the crates that own them. [`PixelEmbedder`] needs no model, so the whole
//! pipeline runs and is tested on a CPU: it describes flat-colour scenes by
//! the colours, edge directions and blob count that a ShapeWorld scene's
//! attributes (colours, shapes, counts) show up as.

use std::path::Path;

use image::RgbImage;
use image::imageops::FilterType;
use rayon::prelude::*;

use super::matrix::Features;
use super::options::Stage;
use crate::error::{DataError, Result};

/// Maps images to feature vectors of one fixed length.
pub trait ImageEmbedder {
    /// Shown in errors and summaries.
    fn name(&self) -> String;
    /// Images per call.
    fn batch_size(&self) -> usize {
        64
    }
    /// One vector per image, in order.
    fn embed(&mut self, images: &[&Path]) -> Result<Vec<Vec<f32>>>;
}

/// Reads an image in any enabled format (PNG, JPEG) as RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let img = image::open(path).map_err(|source| DataError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(img.to_rgb8())
}

/// Model-free features (277 numbers): a colour histogram of object interiors
/// (27 bins), a colour × edge-direction histogram (27 × 9), and the number of
/// blobs (one-hot, 0–6+), each block unit length and weighted equally, so the
/// cosine of two images is the mean of three cosines. The background is the
/// commonest colour of the border and is left out; without that every
/// picture would be mostly background and look alike.
#[derive(Debug, Clone)]
pub struct PixelEmbedder {
    /// Images are resized to this side first (ShapeWorld's own size by default).
    pub side: u32,
}

impl Default for PixelEmbedder {
    fn default() -> Self {
        PixelEmbedder { side: 64 }
    }
}

const LEVELS: usize = 3;
const COLORS: usize = LEVELS * LEVELS * LEVELS;
const DIRS: usize = 9;
const BLOBS: usize = 7;
/// The feature length of [`PixelEmbedder`].
pub const PIXEL_DIM: usize = COLORS + COLORS * DIRS + BLOBS;

fn bin(p: [u8; 3]) -> usize {
    let q = |v: u8| (v as usize * LEVELS / 256).min(LEVELS - 1);
    (q(p[0]) * LEVELS + q(p[1])) * LEVELS + q(p[2])
}

fn dist(a: [u8; 3], b: [u8; 3]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, y)| (x as f32 - y as f32).powi(2))
        .sum::<f32>()
        .sqrt()
}

impl PixelEmbedder {
    /// The feature vector of one image.
    pub fn embed_rgb(&self, img: &RgbImage) -> Vec<f32> {
        let img = if img.width() == self.side && img.height() == self.side {
            img.clone()
        } else {
            image::imageops::resize(img, self.side, self.side, FilterType::Triangle)
        };
        let (w, h) = (img.width() as usize, img.height() as usize);
        let px = |x: usize, y: usize| img.get_pixel(x as u32, y as u32).0;
        // Background: the commonest colour bin on the border, as its mean RGB.
        let mut border: Vec<[u8; 3]> = (0..w).flat_map(|x| [px(x, 0), px(x, h - 1)]).collect();
        border.extend((0..h).flat_map(|y| [px(0, y), px(w - 1, y)]));
        let mut counts = [0usize; COLORS];
        border.iter().for_each(|&p| counts[bin(p)] += 1);
        let top = (0..COLORS).max_by_key(|&b| counts[b]).unwrap_or(0);
        let mean = |c: usize| {
            let sel: Vec<f32> = border
                .iter()
                .filter(|&&p| bin(p) == top)
                .map(|p| p[c] as f32)
                .collect();
            (sel.iter().sum::<f32>() / sel.len().max(1) as f32).round() as u8
        };
        let bg = [mean(0), mean(1), mean(2)];
        // Soft foreground mask: antialiased rims get fractional weight.
        let d: Vec<f32> = (0..w * h).map(|i| dist(px(i % w, i / w), bg)).collect();
        let mask: Vec<f32> = d.iter().map(|&v| (v / 120.0).min(1.0)).collect();
        let mut feat = vec![0f32; PIXEL_DIM];
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                let neighbours = [i - 1, i + 1, i - w, i + w];
                // Interior colour: the pixel and its 4 neighbours share a bin.
                if mask[i] >= 1.0
                    && neighbours
                        .iter()
                        .all(|&j| bin(px(j % w, j / w)) == bin(px(x, y)))
                {
                    feat[bin(px(x, y))] += 1.0;
                }
                let m = |dx: isize, dy: isize| {
                    mask[(y as isize + dy) as usize * w + (x as isize + dx) as usize]
                };
                let gx = m(1, -1) + 2.0 * m(1, 0) + m(1, 1) - m(-1, -1) - 2.0 * m(-1, 0) - m(-1, 1);
                let gy = m(-1, 1) + 2.0 * m(0, 1) + m(1, 1) - m(-1, -1) - 2.0 * m(0, -1) - m(1, -1);
                let mag = (gx * gx + gy * gy).sqrt();
                if mag < 0.5 {
                    continue;
                }
                // The edge's colour is that of its most saturated neighbour.
                let (mut best, mut color) = (-1.0, 0);
                for dy in -1..=1isize {
                    for dx in -1..=1isize {
                        let j = (y as isize + dy) as usize * w + (x as isize + dx) as usize;
                        if d[j] > best {
                            best = d[j];
                            color = bin(px(j % w, j / w));
                        }
                    }
                }
                // Direction modulo 180°, split linearly between two bins.
                let a = gy.atan2(gx).rem_euclid(std::f32::consts::PI) / std::f32::consts::PI
                    * DIRS as f32;
                let lo = a.floor() as usize % DIRS;
                let frac = a - a.floor();
                let base = COLORS + color * DIRS;
                feat[base + lo] += mag * (1.0 - frac);
                feat[base + (lo + 1) % DIRS] += mag * frac;
            }
        }
        let blobs = count_blobs(&d, w, h, 60.0, 4);
        feat[COLORS + COLORS * DIRS + blobs.min(BLOBS - 1)] = 1.0;
        for block in [0..COLORS, COLORS..COLORS + COLORS * DIRS] {
            let s = &mut feat[block];
            s.iter_mut().for_each(|v| *v = v.sqrt());
            let n = s.iter().map(|v| v * v).sum::<f32>().sqrt();
            if n > 0.0 {
                s.iter_mut().for_each(|v| *v /= n);
            }
        }
        feat
    }
}

/// Connected components (4-neighbour) of pixels farther than `thresh` from
/// the background, ignoring specks smaller than `min_px`.
fn count_blobs(d: &[f32], w: usize, h: usize, thresh: f32, min_px: usize) -> usize {
    let mut seen = vec![false; w * h];
    let mut blobs = 0;
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || d[start] <= thresh {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = 0;
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if !seen[j] && d[j] > thresh {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        blobs += (size >= min_px) as usize;
    }
    blobs
}

impl ImageEmbedder for PixelEmbedder {
    fn name(&self) -> String {
        "pixels".into()
    }

    fn batch_size(&self) -> usize {
        256
    }

    fn embed(&mut self, images: &[&Path]) -> Result<Vec<Vec<f32>>> {
        images
            .par_iter()
            .map(|p| load_rgb(p).map(|img| self.embed_rgb(&img)))
            .collect()
    }
}

/// Scales each vector to unit length in place (zero vectors stay zero: they
/// match nothing). Non-finite values or ragged lengths are refused, naming
/// the image, since they would poison every similarity.
pub fn l2_normalise(feats: &mut [Vec<f32>], images: &[&Path], embedder: &str) -> Result<()> {
    let dim = feats.first().map_or(0, |f| f.len());
    for (f, img) in feats.iter_mut().zip(images) {
        let bad = |reason: String| DataError::Embedding {
            embedder: embedder.to_string(),
            image: img.to_path_buf(),
            reason,
        };
        if f.len() != dim {
            return Err(bad(format!(
                "{} features, the first image had {dim}",
                f.len()
            )));
        }
        if f.iter().any(|v| !v.is_finite()) {
            return Err(bad("non-finite feature".into()));
        }
        let n = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            f.iter_mut().for_each(|v| *v /= n);
        }
    }
    Ok(())
}

/// Embeds in the embedder's batches and L2-normalises.
pub fn embed_all(
    embedder: &mut dyn ImageEmbedder,
    images: &[&Path],
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<Features> {
    let mut feats: Vec<Vec<f32>> = Vec::with_capacity(images.len());
    for chunk in images.chunks(embedder.batch_size().max(1)) {
        let got = embedder.embed(chunk)?;
        if got.len() != chunk.len() {
            return Err(DataError::Embedding {
                embedder: embedder.name(),
                image: chunk[0].to_path_buf(),
                reason: format!("{} vectors for a batch of {}", got.len(), chunk.len()),
            });
        }
        feats.extend(got);
        progress(Stage::Embed, feats.len(), images.len());
    }
    l2_normalise(&mut feats, images, &embedder.name())?;
    Ok(Features::from_rows(&feats))
}
