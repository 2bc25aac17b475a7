//! Generator settings. Sizes are fractions of the image side so that the same
//! world renders at 64, 128 or 384 pixels.

use serde::{Deserialize, Serialize};

/// How ShapeWorld scenes are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeWorldConfig {
    /// Image side in pixels (square images).
    pub image_size: u32,
    /// Smallest object, as a fraction of the side (0.18 → 11.5 px at 64: big
    /// enough for a 16-px VQ patch grid to keep its shape).
    pub min_size_frac: f64,
    /// Largest object, as a fraction of the side (0.34 → 21.8 px at 64: four
    /// such objects still fit without overlap).
    pub max_size_frac: f64,
    /// Minimum gap between object boxes, as a fraction of the side (3.2 px at
    /// 64), so that blur cannot merge neighbours.
    pub margin_frac: f64,
    /// Minimum gap between an object and the image border, in pixels.
    pub border_px: f64,
    /// Sub-samples per pixel axis for antialiasing (4 → 16 samples per pixel).
    pub supersample: u32,
    /// Most objects per scene.
    pub max_objects: usize,
    /// Random layouts tried before a prompt is declared unrealisable.
    pub max_layout_attempts: usize,
}

impl Default for ShapeWorldConfig {
    fn default() -> Self {
        ShapeWorldConfig {
            image_size: 64,
            min_size_frac: 0.18,
            max_size_frac: 0.34,
            margin_frac: 0.05,
            border_px: 1.0,
            supersample: 4,
            max_objects: 4,
            max_layout_attempts: 2000,
        }
    }
}

impl ShapeWorldConfig {
    /// Default settings at another image size.
    pub fn with_size(image_size: u32) -> Self {
        ShapeWorldConfig {
            image_size,
            ..Default::default()
        }
    }

    /// Smallest object side in pixels.
    pub fn min_size_px(&self) -> f64 {
        self.min_size_frac * self.image_size as f64
    }
}
