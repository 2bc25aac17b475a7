//! GenEval prompts over ShapeWorld's classes, and their partition into splits.
//!
//! The prompt space is small (a few hundred strings), so scenes alone cannot
//! keep evaluation honest: the *prompts* are partitioned, and a test prompt is
//! never seen in training. That is what the train/test guard checks.

use rand::seq::SliceRandom;

use super::vocab::{Color, NUMBER_WORDS, Shape, plural, with_article};
use crate::geometry::Relation;
use crate::records::{ExcludeClause, GenEvalMetadata, IncludeClause, Task};

fn clause(
    shape: Shape,
    count: u32,
    color: Option<Color>,
    position: Option<(Relation, usize)>,
) -> IncludeClause {
    IncludeClause {
        class: shape.name().to_string(),
        count,
        color: color.map(|c| c.name().to_string()),
        position,
    }
}

fn meta(
    tag: Task,
    include: Vec<IncludeClause>,
    exclude: Vec<ExcludeClause>,
    prompt: String,
) -> GenEvalMetadata {
    GenEvalMetadata {
        tag,
        include,
        exclude,
        prompt,
    }
}

/// Every GenEval prompt expressible with ShapeWorld's shapes and colours, by
/// GenEval's templates, in suite order (task, then a fixed enumeration).
pub fn prompt_space() -> Vec<GenEvalMetadata> {
    let mut out = Vec::new();
    let pairs: Vec<(Shape, Shape)> = Shape::ALL
        .iter()
        .flat_map(|&a| {
            Shape::ALL
                .iter()
                .filter(move |&&b| b != a)
                .map(move |&b| (a, b))
        })
        .collect();
    for s in Shape::ALL {
        let p = format!("a photo of {}", with_article(s.name()));
        out.push(meta(
            Task::SingleObject,
            vec![clause(s, 1, None, None)],
            vec![],
            p,
        ));
    }
    for &(a, b) in &pairs {
        let p = format!(
            "a photo of {} and {}",
            with_article(a.name()),
            with_article(b.name())
        );
        out.push(meta(
            Task::TwoObject,
            vec![clause(a, 1, None, None), clause(b, 1, None, None)],
            vec![],
            p,
        ));
    }
    for s in Shape::ALL {
        for n in 2..=4u32 {
            let p = format!(
                "a photo of {} {}",
                NUMBER_WORDS[n as usize],
                plural(s.name())
            );
            let ex = ExcludeClause {
                class: s.name().to_string(),
                count: n + 1,
            };
            out.push(meta(
                Task::Counting,
                vec![clause(s, n, None, None)],
                vec![ex],
                p,
            ));
        }
    }
    for s in Shape::ALL {
        for c in Color::ALL {
            let p = format!("a photo of {} {}", with_article(c.name()), s.name());
            out.push(meta(
                Task::Colors,
                vec![clause(s, 1, Some(c), None)],
                vec![],
                p,
            ));
        }
    }
    for &(a, b) in &pairs {
        for rel in Relation::ALL {
            let p = format!(
                "a photo of {} {} {}",
                with_article(a.name()),
                rel.name(),
                with_article(b.name())
            );
            // GenEval lists the reference object first.
            let include = vec![clause(b, 1, None, None), clause(a, 1, None, Some((rel, 0)))];
            out.push(meta(Task::Position, include, vec![], p));
        }
    }
    for &(a, b) in &pairs {
        for ca in Color::ALL {
            for cb in Color::ALL.into_iter().filter(|&c| c != ca) {
                let p = format!(
                    "a photo of {} {} and {} {}",
                    with_article(ca.name()),
                    a.name(),
                    with_article(cb.name()),
                    b.name()
                );
                let include = vec![clause(a, 1, Some(ca), None), clause(b, 1, Some(cb), None)];
                out.push(meta(Task::ColorAttr, include, vec![], p));
            }
        }
    }
    out
}

/// Fractions of each task's prompts held by train, val and test.
pub const PROMPT_FRACTIONS: [f64; 3] = [0.7, 0.1, 0.2];

/// Splits each task's prompts into disjoint train/val/test lists (shuffled with
/// `rng`); every split gets at least one prompt of every task.
pub fn partition_prompts(rng: &mut impl rand::Rng) -> [Vec<GenEvalMetadata>; 3] {
    let space = prompt_space();
    let mut out: [Vec<GenEvalMetadata>; 3] = Default::default();
    for task in Task::ALL {
        let mut ps: Vec<_> = space.iter().filter(|m| m.tag == task).cloned().collect();
        ps.shuffle(rng);
        let n = ps.len();
        let n_val = ((n as f64 * PROMPT_FRACTIONS[1]).round() as usize).max(1);
        let n_test = ((n as f64 * PROMPT_FRACTIONS[2]).round() as usize).max(1);
        let n_train = n - n_val - n_test;
        let mut it = ps.into_iter();
        out[0].extend(it.by_ref().take(n_train));
        out[1].extend(it.by_ref().take(n_val));
        out[2].extend(it);
    }
    out
}

/// A caption ("a red square at top left, a blue circle at right and a red
/// square at bottom") restated in the GenEval prompt form the generator is
/// trained on ("a photo of two red squares and a blue circle"): places are
/// dropped and repeated kinds counted, in order of first mention. The dual
/// self-reward R_U asks the generator for the image under this form when the
/// generator never saw captions as prompts. Phrases that do not start with
/// an article are kept as they are.
pub fn caption_as_prompt(caption: &str) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for phrase in caption.split(" and ").flat_map(|p| p.split(", ")) {
        let phrase = phrase.split(" at ").next().unwrap_or(phrase).trim();
        if phrase.is_empty() {
            continue;
        }
        let (kind, n) = match phrase.split_once(' ') {
            Some(("a" | "an", rest)) => (rest.to_string(), 1),
            _ => (phrase.to_string(), 1),
        };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, c)) => *c += n,
            None => kinds.push((kind, n)),
        }
    }
    let parts: Vec<String> = kinds
        .into_iter()
        .map(|(kind, n)| match n {
            1 => with_article(&kind),
            _ => {
                let (head, last) = kind.rsplit_once(' ').unwrap_or(("", &kind));
                let word = NUMBER_WORDS.get(n).map_or(n.to_string(), |w| w.to_string());
                let noun = plural(last);
                if head.is_empty() {
                    format!("{word} {noun}")
                } else {
                    format!("{word} {head} {noun}")
                }
            }
        })
        .collect();
    match parts.as_slice() {
        [] => "a photo".to_string(),
        [one] => format!("a photo of {one}"),
        [init @ .., last] => format!("a photo of {} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn captions_become_geneval_prompts() {
        assert_eq!(
            caption_as_prompt("a red square at top left"),
            "a photo of a red square"
        );
        assert_eq!(
            caption_as_prompt("a white circle at top and a red triangle at bottom right"),
            "a photo of a white circle and a red triangle"
        );
        assert_eq!(
            caption_as_prompt(
                "a purple diamond at top left, a purple diamond at center and a yellow diamond at bottom"
            ),
            "a photo of two purple diamonds and a yellow diamond"
        );
        assert_eq!(caption_as_prompt(""), "a photo");
    }

    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn space_has_geneval_shape() {
        let space = prompt_space();
        let count = |t| space.iter().filter(|m| m.tag == t).count();
        assert_eq!(count(Task::SingleObject), 4);
        assert_eq!(count(Task::TwoObject), 12);
        assert_eq!(count(Task::Counting), 12);
        assert_eq!(count(Task::Colors), 24);
        assert_eq!(count(Task::Position), 48);
        assert_eq!(count(Task::ColorAttr), 360);
        let unique: HashSet<_> = space.iter().map(|m| m.prompt.as_str()).collect();
        assert_eq!(unique.len(), space.len());
        let pos = space.iter().find(|m| m.tag == Task::Position).unwrap();
        assert_eq!(
            serde_json::to_string(pos).unwrap(),
            r#"{"tag":"position","include":[{"class":"square","count":1},{"class":"circle","count":1,"position":["left of",0]}],"prompt":"a photo of a circle left of a square"}"#
        );
    }

    #[test]
    fn partition_is_disjoint_and_covers_every_task() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let parts = partition_prompts(&mut rng);
        let sets: Vec<HashSet<_>> = parts
            .iter()
            .map(|p| p.iter().map(|m| m.prompt.clone()).collect())
            .collect();
        assert!(
            sets[0].is_disjoint(&sets[1])
                && sets[0].is_disjoint(&sets[2])
                && sets[1].is_disjoint(&sets[2])
        );
        assert_eq!(
            sets.iter().map(|s| s.len()).sum::<usize>(),
            prompt_space().len()
        );
        for part in &parts {
            for t in Task::ALL {
                assert!(part.iter().any(|m| m.tag == t));
            }
        }
    }
}
