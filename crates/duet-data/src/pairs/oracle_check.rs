//! The oracle's consistency check: a completion is compared with the scene
//! graph of its item's image. A caption must name every object with its
//! colour, and nothing that is not there (PairUni: "C must not mention
//! objects absent from I" and must hold the details needed to answer Q). A
//! question must be one the scene can decide, with exactly one true option,
//! and that option must be the stated answer.

use std::collections::BTreeMap;

use super::complete::{McQa, Verifier};
use super::items::{GenItem, UndItem, letter_index};
use super::oracle::ShapeWorldOracle;
use crate::geometry::{Relation, relative_position};
use crate::shapeworld::scene::Scene;
use crate::shapeworld::vocab::{Color, NUMBER_WORDS, Shape, plural};

type Check = std::result::Result<(), String>;

impl Verifier for ShapeWorldOracle {
    fn check_caption(&self, item: &UndItem, text: &str) -> Check {
        let scene = self
            .scenes
            .get(item.image_path())
            .ok_or("no scene graph for the image")?;
        check_caption(scene, text)
    }

    fn check_qa(&self, item: &GenItem, qa: &McQa) -> Check {
        let scene = self
            .scenes
            .get(item.image_path())
            .ok_or("no scene graph for the image")?;
        check_qa(scene, qa)
    }
}

/// How many objects a phrase states: a number, or "several" for a bare plural.
#[derive(Clone, Copy)]
enum Stated {
    Exactly(usize),
    Several,
}

/// `(colour, shape, count)` for each shape word of the caption.
fn mentions(text: &str) -> Vec<(Option<Color>, Shape, Stated)> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let number = |w: &str| match w {
        "a" | "an" | "one" => Some(1),
        "no" => Some(0),
        _ => w
            .parse()
            .ok()
            .or_else(|| NUMBER_WORDS.iter().position(|n| *n == w)),
    };
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let (shape, is_plural) = match Shape::ALL.into_iter().find(|s| s.name() == *w) {
            Some(s) => (s, false),
            None => match Shape::ALL.into_iter().find(|s| plural(s.name()) == *w) {
                Some(s) => (s, true),
                None => continue,
            },
        };
        let color = i.checked_sub(1).and_then(|j| Color::parse(words[j]));
        let k = i.checked_sub(if color.is_some() { 2 } else { 1 });
        let stated = match k.and_then(|k| number(words[k])) {
            Some(n) => Stated::Exactly(n),
            None if is_plural => Stated::Several,
            None => Stated::Exactly(1),
        };
        out.push((color, shape, stated));
    }
    out
}

/// Every object named with its colour, the right number of times, and no
/// object that is absent.
pub fn check_caption(scene: &Scene, text: &str) -> Check {
    let mut said: BTreeMap<(Color, Shape), (usize, bool)> = BTreeMap::new();
    for (color, shape, stated) in mentions(text) {
        let Some(color) = color else {
            if let Stated::Exactly(n) = stated
                && n != scene.count_shape(shape)
            {
                let have = scene.count_shape(shape);
                return Err(format!(
                    "says {n} {}, the image has {have}",
                    plural(shape.name())
                ));
            }
            continue;
        };
        let have = scene.count_kind(shape, color);
        let kind = format!("{} {}", color.name(), shape.name());
        match stated {
            Stated::Exactly(0) if have > 0 => {
                return Err(format!("says there is no {kind}, the image has {have}"));
            }
            Stated::Exactly(0) => {}
            _ if have == 0 => return Err(format!("mentions a {kind}, which is not in the image")),
            Stated::Exactly(n) => said.entry((color, shape)).or_default().0 += n,
            Stated::Several => said.entry((color, shape)).or_default().1 = true,
        }
    }
    for o in &scene.objects {
        let have = scene.count_kind(o.shape, o.color);
        let kind = format!("{} {}", o.color.name(), o.shape.name());
        match said.get(&(o.color, o.shape)) {
            None => return Err(format!("does not mention the {kind}")),
            Some(&(n, several)) if !(n == have || (several && have >= 2 && n <= have)) => {
                return Err(format!("counts {n} {kind}(s), the image has {have}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The option texts that are true of the scene, for the question forms the
/// ShapeWorld generator writes.
fn true_options(scene: &Scene, qa: &McQa) -> std::result::Result<Vec<usize>, String> {
    let q = qa.question.replace("<image 1>", "");
    let q = q.trim();
    let only = |opts: &[String], truth: &dyn Fn(&str) -> bool| {
        opts.iter()
            .enumerate()
            .filter(|(_, o)| truth(o.trim()))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let unique_kind = |phrase: &str| -> std::result::Result<(Color, Shape), String> {
        let (c, s) = phrase.split_once(' ').ok_or("unknown object")?;
        let kind = (
            Color::parse(c).ok_or("unknown colour")?,
            Shape::parse(s).ok_or("unknown shape")?,
        );
        match scene.count_kind(kind.1, kind.0) {
            1 => Ok(kind),
            n => Err(format!(
                "refers to `the {phrase}`, of which the image has {n}"
            )),
        }
    };
    if let Some(rest) = q
        .strip_prefix("How many ")
        .and_then(|r| r.strip_suffix(" are in the image?"))
    {
        let shape = Shape::ALL
            .into_iter()
            .find(|s| plural(s.name()) == rest)
            .ok_or_else(|| format!("unknown shape `{rest}`"))?;
        let n = scene.count_shape(shape).to_string();
        return Ok(only(&qa.options, &|o| o == n));
    }
    if let Some(rest) = q
        .strip_prefix("What color is the ")
        .and_then(|r| r.strip_suffix('?'))
    {
        let shape = Shape::parse(rest).ok_or_else(|| format!("unknown shape `{rest}`"))?;
        let objs: Vec<_> = scene.objects.iter().filter(|o| o.shape == shape).collect();
        let [obj] = objs[..] else {
            return Err(format!(
                "asks about `the {rest}`, of which the image has {}",
                objs.len()
            ));
        };
        return Ok(only(&qa.options, &|o| o == obj.color.name()));
    }
    if let Some(rest) = q
        .strip_prefix("What shape is the ")
        .and_then(|r| r.strip_suffix(" object?"))
    {
        let color = Color::parse(rest).ok_or_else(|| format!("unknown colour `{rest}`"))?;
        let objs: Vec<_> = scene.objects.iter().filter(|o| o.color == color).collect();
        let [obj] = objs[..] else {
            return Err(format!(
                "asks about `the {rest} object`; the image has {}",
                objs.len()
            ));
        };
        return Ok(only(&qa.options, &|o| o == obj.shape.name()));
    }
    if q == "Which of these objects is in the image?" {
        return Ok(only(&qa.options, &|o| {
            o.split_once(' ').is_some_and(|(c, s)| {
                matches!((Color::parse(c), Shape::parse(s)), (Some(c), Some(s)) if scene.count_kind(s, c) > 0)
            })
        }));
    }
    if let Some(rest) = q
        .strip_prefix("Where is the ")
        .and_then(|r| r.strip_suffix('?'))
    {
        let (a, b) = rest
            .split_once(" relative to the ")
            .ok_or("unknown spatial form")?;
        let find = |(c, s): (Color, Shape)| {
            scene
                .objects
                .iter()
                .find(|o| o.color == c && o.shape == s)
                .expect("counted once")
        };
        let (a, b) = (find(unique_kind(a)?), find(unique_kind(b)?));
        let rels = relative_position(&a.bbox(), &b.bbox());
        return Ok(only(&qa.options, &|o| {
            Relation::ALL
                .into_iter()
                .any(|r| r.name() == o && rels.contains(&r))
        }));
    }
    Err(format!(
        "cannot be checked against the scene (unknown question form: `{q}`)"
    ))
}

/// Exactly one true option, and it is the answer.
pub fn check_qa(scene: &Scene, qa: &McQa) -> Check {
    let truth = true_options(scene, qa)?;
    let answer = letter_index(&qa.answer)
        .ok_or_else(|| format!("answer `{}` is not a letter", qa.answer))?;
    match truth[..] {
        [] => Err("no option is true of the image".into()),
        [i] if i == answer => Ok(()),
        [i] => Err(format!(
            "answer {} (`{}`) is false; the image says `{}`",
            qa.answer,
            qa.options.get(answer).map_or("", |s| s.as_str()),
            qa.options[i]
        )),
        _ => Err(format!("{} options are true of the image", truth.len())),
    }
}
