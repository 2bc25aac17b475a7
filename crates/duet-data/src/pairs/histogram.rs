//! The similarity histogram of retrieved pairs (PairUni App. B.3 shows one):
//! counts in fixed-width bins, as text for the terminal and as a PNG bar
//! chart drawn with the `image` crate (see [`super::font`] for why not plotters).

use image::{Rgb, RgbImage};

use super::font::{draw_text, text_width};
use crate::shapeworld::png_bytes;

/// Counts of values in `bins` equal bins over `[lo, hi]` (the last bin is
/// closed, so a similarity of exactly 1 is counted).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<usize>,
}

impl Histogram {
    pub fn new(values: &[f32], lo: f32, hi: f32, bins: usize) -> Self {
        let bins = bins.max(1);
        let mut counts = vec![0; bins];
        let w = (hi - lo) / bins as f32;
        for &v in values {
            if v.is_finite() && v >= lo && v <= hi {
                let b = (((v - lo) / w) as usize).min(bins - 1);
                counts[b] += 1;
            }
        }
        Histogram { lo, hi, counts }
    }

    /// Bin `b`'s lower edge.
    pub fn edge(&self, b: usize) -> f32 {
        self.lo + (self.hi - self.lo) * b as f32 / self.counts.len() as f32
    }

    /// One line per bin: `0.60–0.65  123  ####`.
    pub fn to_text(&self, width: usize) -> String {
        let max = self.counts.iter().copied().max().unwrap_or(0).max(1);
        let mut s = String::new();
        for (b, &c) in self.counts.iter().enumerate() {
            let bar = "#".repeat((c * width).div_ceil(max));
            s.push_str(&format!(
                "  {:.3}–{:.3} {c:>7}  {bar}\n",
                self.edge(b),
                self.edge(b + 1)
            ));
        }
        s
    }

    /// A 720×400 PNG bar chart with axis labels and a title.
    pub fn to_png(&self, title: &str) -> Vec<u8> {
        let (w, h) = (720u32, 400u32);
        let (left, right, top, bottom) = (70u32, 20u32, 40u32, 50u32);
        let ink = Rgb([30, 30, 30]);
        let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        let (pw, ph) = (w - left - right, h - top - bottom);
        let max = self.counts.iter().copied().max().unwrap_or(0).max(1);
        let n = self.counts.len() as u32;
        for (b, &c) in self.counts.iter().enumerate() {
            let x0 = left + b as u32 * pw / n;
            let x1 = left + (b as u32 + 1) * pw / n;
            let bh = (c as u64 * ph as u64 / max as u64) as u32;
            for x in x0 + 1..x1.saturating_sub(1).max(x0 + 2) {
                for y in top + ph - bh..top + ph {
                    img.put_pixel(x, y, Rgb([70, 110, 190]));
                }
            }
        }
        for x in left..left + pw {
            img.put_pixel(x, top + ph, ink);
        }
        for y in top..=top + ph {
            img.put_pixel(left, y, ink);
        }
        // x ticks at five evenly spaced edges; y ticks at 0 and the maximum.
        for t in 0..=4u32 {
            let x = left + t * pw / 4;
            let v = self.lo + (self.hi - self.lo) * t as f32 / 4.0;
            for y in top + ph..top + ph + 5 {
                img.put_pixel(x.min(w - 1), y, ink);
            }
            let label = format!("{v:.2}");
            let lx = x.saturating_sub(text_width(&label, 2) / 2);
            draw_text(&mut img, lx, top + ph + 9, &label, 2, ink);
        }
        for (v, y) in [(0, top + ph), (max, top)] {
            let label = v.to_string();
            let lx = left.saturating_sub(8 + text_width(&label, 2));
            draw_text(&mut img, lx, y.saturating_sub(5), &label, 2, ink);
        }
        let axis = "COSINE SIMILARITY";
        draw_text(
            &mut img,
            left + (pw - text_width(axis, 2)) / 2,
            h - 18,
            axis,
            2,
            ink,
        );
        draw_text(&mut img, left, 12, title, 2, ink);
        png_bytes(&img)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_bins_and_the_png_decodes() {
        let h = Histogram::new(&[0.6, 0.61, 0.79, 1.0, 0.2, f32::NAN], 0.6, 1.0, 4);
        assert_eq!(h.counts, [2, 1, 0, 1]);
        assert!(h.to_text(10).lines().count() == 4);
        let png = h.to_png("RETRIEVED PAIRS (N=4)");
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (720, 400));
    }
}
