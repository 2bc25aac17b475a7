//! Understanding data derived from a scene graph: multiple-choice questions of
//! five types (4 options; 6 for colours listed in canonical order), and a
//! caption. Answers are exact by construction.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::config::OptionOrder;
use super::scene::Scene;
use super::vocab::{Color, Shape, plural};
use crate::geometry::{Relation, relative_position};

/// Question types; the MMMU `subject` of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuestionType {
    Count,
    ColorOfShape,
    ShapeOfColor,
    Existence,
    Spatial,
}

impl QuestionType {
    pub const ALL: [QuestionType; 5] = [
        QuestionType::Count,
        QuestionType::ColorOfShape,
        QuestionType::ShapeOfColor,
        QuestionType::Existence,
        QuestionType::Spatial,
    ];

    pub fn subject(self) -> &'static str {
        match self {
            QuestionType::Count => "count",
            QuestionType::ColorOfShape => "color_of_shape",
            QuestionType::ShapeOfColor => "shape_of_color",
            QuestionType::Existence => "existence",
            QuestionType::Spatial => "spatial",
        }
    }
}

/// A generated question: `options[answer]` is correct.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub kind: QuestionType,
    pub question: String,
    pub options: Vec<String>,
    pub answer: usize,
}

/// Shuffles `options` (the first being correct) and records where it went.
fn shuffled(
    kind: QuestionType,
    question: String,
    mut options: Vec<String>,
    rng: &mut impl Rng,
) -> Question {
    let correct = options[0].clone();
    options.shuffle(rng);
    let answer = options
        .iter()
        .position(|o| *o == correct)
        .expect("correct option kept");
    Question {
        kind,
        question: format!("<image 1> {question}"),
        options,
        answer,
    }
}

/// The options in the order given (vocabulary order), `correct` among them.
fn listed(kind: QuestionType, question: String, options: Vec<String>, correct: &str) -> Question {
    let answer = options
        .iter()
        .position(|o| o == correct)
        .expect("correct option listed");
    Question {
        kind,
        question: format!("<image 1> {question}"),
        options,
        answer,
    }
}

/// A question whose options are a whole closed set (`names`, in vocabulary
/// order): listed as they are, or the correct one first and then shuffled.
fn whole_set(
    kind: QuestionType,
    question: String,
    names: &[&str],
    correct: &str,
    order: OptionOrder,
    rng: &mut impl Rng,
) -> Question {
    match order {
        OptionOrder::Canonical => {
            let options = names.iter().map(|n| n.to_string()).collect();
            listed(kind, question, options, correct)
        }
        OptionOrder::Shuffled => {
            let options = std::iter::once(correct)
                .chain(names.iter().copied().filter(|&n| n != correct))
                .map(str::to_string)
                .collect();
            shuffled(kind, question, options, rng)
        }
    }
}

/// One question of each type the scene supports (types whose referent would be
/// ambiguous are skipped: "what colour is the circle?" needs exactly one circle).
/// Under [`OptionOrder::Shuffled`] the random draws are those of every earlier
/// version, so existing datasets regenerate byte for byte.
pub fn questions(scene: &Scene, order: OptionOrder, rng: &mut impl Rng) -> Vec<Question> {
    let canonical = order == OptionOrder::Canonical;
    let mut out = Vec::new();

    // Count: mostly about shapes present, sometimes about an absent one (0).
    let present: Vec<Shape> = Shape::ALL
        .into_iter()
        .filter(|&s| scene.count_shape(s) > 0)
        .collect();
    let shape = if rng.random_bool(0.75) {
        *present.choose(rng).unwrap_or(&Shape::Circle)
    } else {
        Shape::ALL[rng.random_range(0..Shape::ALL.len())]
    };
    let n = scene.count_shape(shape);
    let starts: Vec<usize> = (0..=1).filter(|&s| s <= n && n <= s + 3).collect();
    let start = *starts.choose(rng).expect("counts are at most 4");
    out.push(Question {
        kind: QuestionType::Count,
        question: format!(
            "<image 1> How many {} are in the image?",
            plural(shape.name())
        ),
        options: (start..start + 4).map(|k| k.to_string()).collect(),
        answer: n - start,
    });

    let unique_shapes: Vec<Shape> = Shape::ALL
        .into_iter()
        .filter(|&s| scene.count_shape(s) == 1)
        .collect();
    if let Some(&shape) = unique_shapes.choose(rng) {
        let color = scene
            .objects
            .iter()
            .find(|o| o.shape == shape)
            .expect("present")
            .color;
        let q = format!("What color is the {}?", shape.name());
        if canonical {
            let options = Color::ALL.iter().map(|c| c.name().to_string()).collect();
            out.push(listed(QuestionType::ColorOfShape, q, options, color.name()));
        } else {
            let mut wrong: Vec<Color> = Color::ALL.into_iter().filter(|&c| c != color).collect();
            wrong.shuffle(rng);
            let options = std::iter::once(color)
                .chain(wrong.into_iter().take(3))
                .map(|c| c.name().to_string())
                .collect();
            out.push(shuffled(QuestionType::ColorOfShape, q, options, rng));
        }
    }

    let unique_colors: Vec<Color> = Color::ALL
        .into_iter()
        .filter(|&c| scene.count_color(c) == 1)
        .collect();
    if let Some(&color) = unique_colors.choose(rng) {
        let shape = scene
            .objects
            .iter()
            .find(|o| o.color == color)
            .expect("present")
            .shape;
        let q = format!("What shape is the {} object?", color.name());
        let names = Shape::ALL.map(|s| s.name());
        out.push(whole_set(
            QuestionType::ShapeOfColor,
            q,
            &names,
            shape.name(),
            order,
            rng,
        ));
    }

    // Existence: one kind present, three absent.
    let kinds: Vec<(Shape, Color)> = Shape::ALL
        .into_iter()
        .flat_map(|s| Color::ALL.into_iter().map(move |c| (s, c)))
        .collect();
    let absent: Vec<_> = kinds
        .iter()
        .filter(|(s, c)| scene.count_kind(*s, *c) == 0)
        .copied()
        .collect();
    if let Some(obj) = scene.objects.choose(rng)
        && absent.len() >= 3
    {
        let mut picked: Vec<(Shape, Color)> = std::iter::once((obj.shape, obj.color))
            .chain(absent.choose_multiple(rng, 3).copied())
            .collect();
        let name = |(s, c): (Shape, Color)| format!("{} {}", c.name(), s.name());
        let q = "Which of these objects is in the image?".to_string();
        if canonical {
            let correct = name(picked[0]);
            picked.sort_by_key(|k| kinds.iter().position(|x| x == k));
            let options = picked.into_iter().map(name).collect();
            out.push(listed(QuestionType::Existence, q, options, &correct));
        } else {
            let options = picked.into_iter().map(name).collect();
            out.push(shuffled(QuestionType::Existence, q, options, rng));
        }
    }

    // Spatial: an ordered pair of uniquely described objects with exactly one relation.
    let mut pairs = Vec::new();
    for a in &scene.objects {
        for b in &scene.objects {
            if std::ptr::eq(a, b)
                || scene.count_kind(a.shape, a.color) != 1
                || scene.count_kind(b.shape, b.color) != 1
            {
                continue;
            }
            if let [rel] = relative_position(&a.bbox(), &b.bbox())[..] {
                pairs.push((a, b, rel));
            }
        }
    }
    if let Some(&(a, b, rel)) = pairs.choose(rng) {
        let q = format!(
            "Where is the {} relative to the {}?",
            a.description(),
            b.description()
        );
        let names = Relation::ALL.map(|r| r.name());
        out.push(whole_set(
            QuestionType::Spatial,
            q,
            &names,
            rel.name(),
            order,
            rng,
        ));
    }
    out
}

/// "a red circle at top left, a blue square at center and a green triangle at
/// bottom": objects in reading order with their cell of a 3×3 grid.
pub fn caption(scene: &Scene) -> String {
    let cell = |v: f64, side: u32| ((3.0 * v / side as f64).floor() as i64).clamp(0, 2) as usize;
    let mut objs: Vec<_> = scene
        .objects
        .iter()
        .map(|o| {
            (
                cell(o.center[1], scene.height),
                cell(o.center[0], scene.width),
                o,
            )
        })
        .collect();
    objs.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then(a.2.center[0].total_cmp(&b.2.center[0]))
    });
    let phrases: Vec<String> = objs
        .iter()
        .map(|(row, col, o)| {
            let place = match (row, col) {
                (1, 1) => "center".to_string(),
                (1, c) => ["left", "", "right"][*c].to_string(),
                (r, 1) => ["top", "", "bottom"][*r].to_string(),
                (r, c) => format!(
                    "{} {}",
                    ["top", "", "bottom"][*r],
                    ["left", "", "right"][*c]
                ),
            };
            format!("a {} at {place}", o.description())
        })
        .collect();
    match phrases.as_slice() {
        [] => "an empty picture".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapeworld::scene::Object;
    use rand::SeedableRng;

    fn obj(shape: Shape, color: Color, x: f64, y: f64) -> Object {
        Object {
            shape,
            color,
            center: [x, y],
            size: 12.0,
        }
    }

    fn scene() -> Scene {
        Scene {
            width: 64,
            height: 64,
            objects: vec![
                obj(Shape::Circle, Color::Red, 10.0, 10.0),
                obj(Shape::Square, Color::Blue, 50.0, 12.0),
                obj(Shape::Circle, Color::Green, 32.0, 50.0),
            ],
        }
    }

    #[test]
    fn answers_match_the_scene() {
        for order in [OptionOrder::Shuffled, OptionOrder::Canonical] {
            answers_match_the_scene_in(order);
        }
    }

    #[test]
    fn canonical_order_lists_closed_sets_in_vocabulary_order() {
        let s = scene();
        let mut seen = 0;
        for seed in 0..50 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for q in questions(&s, OptionOrder::Canonical, &mut rng) {
                let want: Vec<String> = match q.kind {
                    QuestionType::ColorOfShape => {
                        Color::ALL.iter().map(|c| c.name().to_string()).collect()
                    }
                    QuestionType::ShapeOfColor => {
                        Shape::ALL.iter().map(|s| s.name().to_string()).collect()
                    }
                    QuestionType::Spatial => {
                        Relation::ALL.iter().map(|r| r.name().to_string()).collect()
                    }
                    _ => continue,
                };
                assert_eq!(q.options, want, "{q:?}");
                seen += 1;
            }
        }
        assert!(seen > 50, "only {seen} closed-set questions");
    }

    fn answers_match_the_scene_in(order: OptionOrder) {
        let s = scene();
        for seed in 0..50 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for q in questions(&s, order, &mut rng) {
                let n = match (order, q.kind) {
                    (OptionOrder::Canonical, QuestionType::ColorOfShape) => Color::ALL.len(),
                    _ => 4,
                };
                assert_eq!(q.options.len(), n, "{q:?}");
                let a = &q.options[q.answer];
                match q.kind {
                    QuestionType::Count => {
                        let shape = Shape::ALL
                            .into_iter()
                            .find(|s| q.question.contains(&plural(s.name())))
                            .unwrap();
                        assert_eq!(a, &s.count_shape(shape).to_string());
                    }
                    // Only the square is unique by shape; only reds/blues/greens are unique by colour.
                    QuestionType::ColorOfShape => assert_eq!(a, "blue"),
                    QuestionType::ShapeOfColor => {
                        assert!(
                            q.question.contains("red")
                                || q.question.contains("green")
                                || q.question.contains("blue")
                        );
                        let want = if q.question.contains("blue") {
                            "square"
                        } else {
                            "circle"
                        };
                        assert_eq!(a, want);
                    }
                    QuestionType::Existence => {
                        let present = ["red circle", "blue square", "green circle"];
                        assert!(present.contains(&a.as_str()));
                        let others = q
                            .options
                            .iter()
                            .filter(|o| present.contains(&o.as_str()))
                            .count();
                        assert_eq!(others, 1);
                    }
                    QuestionType::Spatial => {
                        if q.question
                            .contains("Where is the red circle relative to the blue square")
                        {
                            assert_eq!(a, "left of");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn caption_reads_in_order() {
        assert_eq!(
            caption(&scene()),
            "a red circle at top left, a blue square at top right and a green circle at bottom"
        );
    }
}
