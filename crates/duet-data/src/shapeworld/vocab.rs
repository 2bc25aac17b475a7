//! ShapeWorld's classes and colours, and GenEval's English for them.

use serde::{Deserialize, Serialize};

/// Object classes. Four, so that "what shape is…" has four options; each has
/// a distinct fill ratio or row-width profile, so a classical detector can
/// tell them apart even after blur and JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Diamond,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Diamond => "diamond",
        }
    }

    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|x| x.name() == s)
    }

    /// True when the point `(u, v)`, in units of the object's size and centred
    /// on it (v grows downward), lies inside the shape. Triangles point up.
    pub fn contains(self, u: f64, v: f64) -> bool {
        match self {
            Shape::Circle => u * u + v * v <= 0.25,
            Shape::Square => u.abs() <= 0.5 && v.abs() <= 0.5,
            Shape::Triangle => v <= 0.5 && u.abs() <= (v + 0.5) / 2.0,
            Shape::Diamond => u.abs() + v.abs() <= 0.5,
        }
    }
}

/// Colours: six of GenEval's ten names, far apart in RGB and from the
/// background, so that they survive VQ compression, blur and JPEG. Orange,
/// pink and brown sit too close to red/yellow/purple for that; black would be
/// too close to the dark background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Red,
    Yellow,
    Green,
    Blue,
    Purple,
    White,
}

impl Color {
    pub const ALL: [Color; 6] = [
        Color::Red,
        Color::Yellow,
        Color::Green,
        Color::Blue,
        Color::Purple,
        Color::White,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Yellow => "yellow",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Purple => "purple",
            Color::White => "white",
        }
    }

    pub fn parse(s: &str) -> Option<Color> {
        Color::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The sRGB value objects of this colour are painted with.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Color::Red => [220, 40, 40],
            Color::Yellow => [235, 215, 40],
            Color::Green => [40, 180, 70],
            Color::Blue => [50, 90, 230],
            Color::Purple => [160, 60, 200],
            Color::White => [240, 240, 240],
        }
    }
}

/// The background every scene is painted on (a dark neutral grey).
pub const BACKGROUND: [u8; 3] = [48, 48, 48];

/// GenEval's article rule: "an" before a lowercase vowel, else "a".
pub fn with_article(word: &str) -> String {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

/// GenEval's plural rule: "es" after a final "s", else "s".
pub fn plural(word: &str) -> String {
    if word.ends_with('s') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// GenEval's number words.
pub const NUMBER_WORDS: [&str; 11] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

pub(crate) fn known<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|x| name(*x)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_follows_geneval() {
        assert_eq!(with_article("apple"), "an apple");
        assert_eq!(with_article("circle"), "a circle");
        assert_eq!(plural("bus"), "buses");
        assert_eq!(plural("diamond"), "diamonds");
    }

    #[test]
    fn shape_masks_have_the_expected_fill() {
        let n = 400;
        for (shape, fill) in [
            (Shape::Circle, std::f64::consts::PI / 4.0),
            (Shape::Square, 1.0),
            (Shape::Triangle, 0.5),
            (Shape::Diamond, 0.5),
        ] {
            let mut inside = 0;
            for i in 0..n {
                for j in 0..n {
                    let u = (i as f64 + 0.5) / n as f64 - 0.5;
                    let v = (j as f64 + 0.5) / n as f64 - 0.5;
                    inside += shape.contains(u, v) as usize;
                }
            }
            let got = inside as f64 / (n * n) as f64;
            assert!((got - fill).abs() < 0.01, "{shape:?}: {got}");
        }
    }

    #[test]
    fn palette_is_far_from_background_and_itself() {
        let d = |a: [u8; 3], b: [u8; 3]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (*x as f64 - y as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        for c in Color::ALL {
            assert!(d(c.rgb(), BACKGROUND) > 120.0, "{c:?}");
            for e in Color::ALL {
                if c != e {
                    assert!(d(c.rgb(), e.rgb()) > 90.0, "{c:?} {e:?}");
                }
            }
        }
    }
}
