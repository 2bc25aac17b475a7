//! Generator settings. Sizes are fractions of the image side so that the same
//! world renders at 64, 128 or 384 pixels.

use serde::{Deserialize, Serialize};

/// Where objects may sit: anywhere, or on an 8 × 8 grid of cells (see
/// [`ShapeWorldConfig::grid_cells`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Free,
    Grid,
}

/// How the options of a closed-set multiple-choice question are listed.
///
/// `shuffled` (the default) puts the correct option at a random letter, so the
/// answer letter must be copied from the option list. `canonical` lists the
/// options in vocabulary order and closed sets in full (all colours, all four
/// shapes, all four relations; counts ascending, as always): the letter is then
/// a fixed function of the answer, which a model that reads the image but
/// cannot yet copy a letter from its prompt can still get right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionOrder {
    #[default]
    Shuffled,
    Canonical,
}

impl OptionOrder {
    pub fn is_shuffled(&self) -> bool {
        *self == OptionOrder::Shuffled
    }
}

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
    /// Grid layout: `Some(cells)` divides the side into `cells` × `cells`
    /// cells (8 at 64 px: the VQ's 8-px patches and the ViT's patches) and
    /// puts every object on a block of whole cells, so each patch shows one of
    /// a finite set of shape parts that an 8×8-patch tokenizer can represent
    /// exactly. `None`: free positions and sizes (at 64 px, even 1024 k-means
    /// patch codes recover only 85 % of free scenes exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_cells: Option<u32>,
    /// Object sides, in cells, under the grid layout (drawn from uniformly).
    #[serde(
        default = "default_grid_sizes",
        skip_serializing_if = "is_default_grid_sizes"
    )]
    pub grid_sizes: Vec<u32>,
    /// Under the grid layout a shape is drawn this fraction of a cell inside
    /// its block on every side, so shapes in neighbouring blocks never touch.
    #[serde(
        default = "default_grid_inset",
        skip_serializing_if = "is_default_grid_inset"
    )]
    pub grid_inset: f64,
    /// Option order of the generated multiple-choice questions; left out of
    /// manifests when shuffled, so older manifests regenerate byte for byte.
    #[serde(default, skip_serializing_if = "OptionOrder::is_shuffled")]
    pub option_order: OptionOrder,
}

fn default_grid_sizes() -> Vec<u32> {
    vec![2, 3]
}

fn default_grid_inset() -> f64 {
    0.125
}

// Defaults are left out of manifests, so free-layout manifests written
// before the grid layout existed regenerate byte for byte.
fn is_default_grid_sizes(v: &[u32]) -> bool {
    v == default_grid_sizes().as_slice()
}

fn is_default_grid_inset(v: &f64) -> bool {
    *v == default_grid_inset()
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
            grid_cells: None,
            grid_sizes: default_grid_sizes(),
            grid_inset: default_grid_inset(),
            option_order: OptionOrder::Shuffled,
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

    /// Default settings at another image size, on the 8 × 8 grid layout.
    pub fn grid(image_size: u32) -> Self {
        ShapeWorldConfig {
            grid_cells: Some(8),
            ..Self::with_size(image_size)
        }
    }

    /// Default settings at `image_size` with the named layout.
    pub fn with_layout(image_size: u32, layout: Layout) -> Self {
        match layout {
            Layout::Free => Self::with_size(image_size),
            Layout::Grid => Self::grid(image_size),
        }
    }

    /// Side of one grid cell in pixels, under the grid layout.
    pub fn cell_px(&self) -> Option<f64> {
        self.grid_cells
            .map(|c| self.image_size as f64 / c.max(1) as f64)
    }

    /// Smallest object side in pixels.
    pub fn min_size_px(&self) -> f64 {
        match (self.cell_px(), self.grid_sizes.iter().min()) {
            (Some(cell), Some(&k)) => (k as f64 - 2.0 * self.grid_inset) * cell,
            _ => self.min_size_frac * self.image_size as f64,
        }
    }
}
