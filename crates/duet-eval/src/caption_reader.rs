//! A ShapeWorld caption read as detections, so GenEval's rules can judge an
//! image by what a model *says* is in it: each "a {colour} {shape} at
//! {place}" phrase becomes a box on its cell of the caption's 3 × 3 grid.
//! The dual self-reward's `self_check` form uses it to ask whether the
//! model's own captions of a generated image satisfy the prompt.

use duet_data::geometry::BBox;
use duet_data::shapeworld::{Color, Shape};

use crate::detector::Detection;

/// `(row, col)` of a place phrase ("top left", "center", "bottom", …).
fn cell(place: &[&str]) -> Option<(usize, usize)> {
    let row = |w: &str| match w {
        "top" => Some(0),
        "bottom" => Some(2),
        _ => None,
    };
    let col = |w: &str| match w {
        "left" => Some(0),
        "right" => Some(2),
        _ => None,
    };
    match place {
        ["center"] => Some((1, 1)),
        [w] => row(w).map(|r| (r, 1)).or_else(|| col(w).map(|c| (1, c))),
        [r, c] => Some((row(r)?, col(c)?)),
        _ => None,
    }
}

/// Detections for the phrases of `caption` that name a colour, a shape and
/// a place; other phrases are skipped (they state nothing checkable).
pub fn caption_detections(caption: &str, width: u32, height: u32) -> Vec<Detection> {
    let (cw, ch) = (width as f64 / 3.0, height as f64 / 3.0);
    let mut out = Vec::new();
    for phrase in caption.split(" and ").flat_map(|p| p.split(", ")) {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        let [article, color, shape, "at", place @ ..] = words.as_slice() else {
            continue;
        };
        if !matches!(*article, "a" | "an") {
            continue;
        }
        let (Some(color), Some(shape), Some((r, c))) =
            (Color::parse(color), Shape::parse(shape), cell(place))
        else {
            continue;
        };
        let (x0, y0) = (c as f64 * cw, r as f64 * ch);
        out.push(Detection {
            class: shape.name().to_string(),
            bbox: BBox {
                x0: x0 + 1.0,
                y0: y0 + 1.0,
                x1: x0 + cw - 1.0,
                y1: y0 + ch - 1.0,
            },
            score: 1.0,
            color: Some(color.name().to_string()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geneval::rules::{Thresholds, evaluate, filter_detections};
    use duet_data::records::GenEvalMetadata;

    fn judge(caption: &str, meta: &str) -> bool {
        let meta: GenEvalMetadata = serde_json::from_str(meta).unwrap();
        let dets = caption_detections(caption, 64, 64);
        evaluate(
            &filter_detections(&dets, meta.tag, &Thresholds::default()),
            &meta,
        )
        .0
    }

    #[test]
    fn captions_are_judged_by_geneval_rules() {
        let two = r#"{"tag":"counting","include":[{"class":"diamond","count":2}],"exclude":[{"class":"diamond","count":3}],"prompt":"a photo of two diamonds"}"#;
        assert!(judge(
            "a purple diamond at top left and a yellow diamond at bottom",
            two
        ));
        assert!(!judge("a purple diamond at top left", two));
        assert!(!judge(
            "a red diamond at top, a red diamond at center and a red diamond at bottom",
            two
        ));
        let color = r#"{"tag":"colors","include":[{"class":"circle","count":1,"color":"blue"}],"prompt":"a photo of a blue circle"}"#;
        assert!(judge("a blue circle at left", color));
        assert!(!judge("a red circle at left", color));
        // "a diamond above a circle": the diamond's row is above the circle's.
        let above = r#"{"tag":"position","include":[{"class":"circle","count":1},{"class":"diamond","count":1,"position":["above",0]}],"prompt":"a photo of a diamond above a circle"}"#;
        assert!(judge(
            "a green diamond at top and a red circle at bottom",
            above
        ));
        assert!(!judge(
            "a red circle at top and a green diamond at bottom",
            above
        ));
        // Phrases without a place state nothing checkable.
        assert!(caption_detections("a red circle", 64, 64).is_empty());
    }
}
