//! Boxes and GenEval's relative-position rule.
//!
//! The rule lives here, not in the scorer, because the ShapeWorld generator must
//! place objects so that the scorer will agree with the prompt.

use serde::{Deserialize, Serialize};

/// GenEval's position margin: each axis offset is shrunk by this fraction of
/// the sum of the two box extents before the direction test.
pub const POSITION_THRESHOLD: f64 = 0.1;

/// An axis-aligned box in pixels, `[x0, y0, x1, y1]` with y growing downward
/// (the mmdetection convention GenEval uses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 4]", into = "[f64; 4]")]
pub struct BBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl From<[f64; 4]> for BBox {
    fn from(v: [f64; 4]) -> Self {
        BBox {
            x0: v[0],
            y0: v[1],
            x1: v[2],
            y1: v[3],
        }
    }
}

impl From<BBox> for [f64; 4] {
    fn from(b: BBox) -> Self {
        [b.x0, b.y0, b.x1, b.y1]
    }
}

impl BBox {
    /// The centre `(x, y)`.
    pub fn center(&self) -> (f64, f64) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }
    /// True when the boxes, each grown by `margin` on every side, intersect.
    pub fn intersects(&self, other: &BBox, margin: f64) -> bool {
        self.x0 - margin < other.x1 + margin
            && other.x0 - margin < self.x1 + margin
            && self.y0 - margin < other.y1 + margin
            && other.y0 - margin < self.y1 + margin
    }
}

/// A spatial relation of GenEval's position task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Relation {
    #[serde(rename = "left of")]
    LeftOf,
    #[serde(rename = "right of")]
    RightOf,
    #[serde(rename = "above")]
    Above,
    #[serde(rename = "below")]
    Below,
}

impl Relation {
    pub const ALL: [Relation; 4] = [
        Relation::LeftOf,
        Relation::RightOf,
        Relation::Above,
        Relation::Below,
    ];

    /// GenEval's wording ("left of", "right of", "above", "below").
    pub fn name(self) -> &'static str {
        match self {
            Relation::LeftOf => "left of",
            Relation::RightOf => "right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    pub fn parse(s: &str) -> Option<Relation> {
        Relation::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// The relations that hold for box `a` relative to reference box `b`, by
/// GenEval's rule: the centre offset is shrunk on each axis by
/// `0.1 × (extent_a + extent_b)` (clipped at zero, sign kept); if both shrunk
/// components vanish there is no relation; otherwise the shrunk offset is
/// divided by the raw centre distance and a component beyond ±0.5 names a
/// direction. Returned in the order left, right, above, below.
pub fn relative_position(a: &BBox, b: &BBox) -> Vec<Relation> {
    let (ax, ay) = a.center();
    let (bx, by) = b.center();
    let (ox, oy) = (ax - bx, ay - by);
    let shrink =
        |off: f64, ext: f64| (off.abs() - POSITION_THRESHOLD * ext).max(0.0) * off.signum();
    let rx = shrink(ox, a.width() + b.width());
    let ry = shrink(oy, a.height() + b.height());
    if rx.abs() < 1e-3 && ry.abs() < 1e-3 {
        return Vec::new();
    }
    let norm = (ox * ox + oy * oy).sqrt();
    let (dx, dy) = (rx / norm, ry / norm);
    let mut out = Vec::new();
    if dx < -0.5 {
        out.push(Relation::LeftOf);
    }
    if dx > 0.5 {
        out.push(Relation::RightOf);
    }
    if dy < -0.5 {
        out.push(Relation::Above);
    }
    if dy > 0.5 {
        out.push(Relation::Below);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f64, y: f64, s: f64) -> BBox {
        BBox::from([x - s / 2.0, y - s / 2.0, x + s / 2.0, y + s / 2.0])
    }

    #[test]
    fn clear_directions() {
        assert_eq!(
            relative_position(&b(10., 30., 10.), &b(50., 30., 10.)),
            vec![Relation::LeftOf]
        );
        assert_eq!(
            relative_position(&b(50., 30., 10.), &b(10., 30., 10.)),
            vec![Relation::RightOf]
        );
        assert_eq!(
            relative_position(&b(30., 5., 10.), &b(30., 50., 10.)),
            vec![Relation::Above]
        );
        assert_eq!(
            relative_position(&b(30., 50., 10.), &b(30., 5., 10.)),
            vec![Relation::Below]
        );
    }

    #[test]
    fn diagonal_gives_two_and_overlap_gives_none() {
        let r = relative_position(&b(10., 10., 4.), &b(50., 50., 4.));
        assert_eq!(r, vec![Relation::LeftOf, Relation::Above]);
        // Offset 1 px with 20 px boxes: the 0.1 margin (4 px) swallows it.
        assert!(relative_position(&b(31., 30., 20.), &b(30., 30., 20.)).is_empty());
    }

    #[test]
    fn margin_is_applied_before_normalising() {
        // dx = 20, boxes 20 wide: shrunk to 16; dy = 14, boxes 20 high: shrunk to 10.
        // Normalised by |(20, 14)| = 24.41: dx' = 0.655 (right), dy' = 0.41 (none).
        let r = relative_position(&b(50., 44., 20.), &b(30., 30., 20.));
        assert_eq!(r, vec![Relation::RightOf]);
    }

    #[test]
    fn bbox_serialises_as_array() {
        let s = serde_json::to_string(&b(5., 5., 2.)).unwrap();
        assert_eq!(s, "[4.0,4.0,6.0,6.0]");
    }
}
