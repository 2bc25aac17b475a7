//! The ShapeWorld oracle: its completions pass its own check, and the check
//! rejects completions that contradict the scene, naming the item.

use std::path::Path;

use duet_data::DataError;
use duet_data::pairs::complete::{complete_captions, complete_questions};
use duet_data::pairs::oracle_check::{check_caption, check_qa};
use duet_data::pairs::{
    Annotator, CompletionOptions, GenItem, McQa, SceneIndex, ShapeWorldOracle, UndItem,
    read_gen_items, read_und_items,
};
use duet_data::shapeworld::{GenerateOptions, Scene, generate};

fn dataset(dir: &Path) -> (Vec<UndItem>, Vec<GenItem>, ShapeWorldOracle) {
    generate(dir, &GenerateOptions::new(40, 3), |_, _| {}).unwrap();
    let (u, g) = (
        dir.join("train/understanding.jsonl"),
        dir.join("train/generation.jsonl"),
    );
    let scenes = SceneIndex::load(&SceneIndex::beside(&[&u, &g])).unwrap();
    assert_eq!(scenes.len(), 32);
    (
        read_und_items(&u).unwrap(),
        read_gen_items(&g).unwrap(),
        ShapeWorldOracle::new(scenes),
    )
}

#[test]
fn oracle_completions_pass_the_oracle_check() {
    let t = tempfile::tempdir().unwrap();
    let (und, gens, mut oracle) = dataset(t.path());
    let check = oracle.clone();
    let opts = CompletionOptions { max_attempts: 1 };
    let u: Vec<&UndItem> = und.iter().collect();
    let g: Vec<&GenItem> = gens.iter().collect();
    let caps = complete_captions(&mut oracle, &check, &u, opts, &mut |_| {}).unwrap();
    let qas = complete_questions(&mut oracle, &check, &g, opts, &mut |_| {}).unwrap();
    assert_eq!((caps.len(), qas.len()), (und.len(), gens.len()));
    assert!(caps.iter().all(|c| c.contains(" at ")), "{caps:?}");
}

/// Says the opposite of the truth: a caption naming an absent object, a QA
/// whose answer letter points at a wrong option.
struct Liar;

impl Annotator for Liar {
    fn name(&self) -> String {
        "liar".into()
    }
    fn captions(&mut self, items: &[&UndItem], _: usize) -> duet_data::error::Result<Vec<String>> {
        Ok(items.iter().map(|_| "a purple diamond and a purple diamond and a purple diamond and a purple diamond and a purple diamond".into()).collect())
    }
    fn questions(&mut self, items: &[&GenItem], _: usize) -> duet_data::error::Result<Vec<McQa>> {
        Ok(items
            .iter()
            .map(|_| McQa {
                question: "<image 1> How many circles are in the image?".into(),
                options: vec!["5".into(), "6".into(), "7".into(), "8".into()],
                answer: "A".into(),
            })
            .collect())
    }
}

#[test]
fn oracle_check_rejects_contradicting_completions_and_names_the_item() {
    let t = tempfile::tempdir().unwrap();
    let (und, gens, oracle) = dataset(t.path());
    let opts = CompletionOptions { max_attempts: 2 };
    let err = complete_captions(&mut Liar, &oracle, &[&und[0]], opts, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DataError::Inconsistent { attempts: 2, .. }),
        "{msg}"
    );
    assert!(msg.contains(&format!("item `{}`", und[0].id)), "{msg}");
    let err = complete_questions(&mut Liar, &oracle, &[&gens[0]], opts, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("item `{}`", gens[0].id)), "{msg}");
    assert!(msg.contains("no option is true"), "{msg}");
}

fn scene() -> Scene {
    serde_json::from_str(
        r#"{"width":64,"height":64,"objects":[
        {"shape":"circle","color":"red","center":[10,10],"size":12},
        {"shape":"circle","color":"red","center":[50,12],"size":12},
        {"shape":"square","color":"blue","center":[32,50],"size":12}]}"#,
    )
    .unwrap()
}

#[test]
fn caption_check_catches_absent_missing_and_miscounted_objects() {
    let s = scene();
    assert!(check_caption(&s, "two red circles and a blue square").is_ok());
    assert!(
        check_caption(
            &s,
            "a red circle at top left, a red circle at top right and a blue square at bottom"
        )
        .is_ok()
    );
    assert!(check_caption(&s, "red circles and a blue square").is_ok());
    let e = check_caption(&s, "two red circles, a blue square and a green triangle").unwrap_err();
    assert!(
        e.contains("green triangle, which is not in the image"),
        "{e}"
    );
    let e = check_caption(&s, "two red circles").unwrap_err();
    assert!(e.contains("does not mention the blue square"), "{e}");
    let e = check_caption(&s, "a red circle and a blue square").unwrap_err();
    assert!(e.contains("counts 1 red circle(s), the image has 2"), "{e}");
    let e = check_caption(&s, "three circles: red ones and a blue square").unwrap_err();
    assert!(e.contains("says 3 circles, the image has 2"), "{e}");
}

#[test]
fn qa_check_needs_exactly_one_true_option_as_the_answer() {
    let s = scene();
    let qa = |q: &str, opts: &[&str], a: &str| McQa {
        question: q.into(),
        options: opts.iter().map(|s| s.to_string()).collect(),
        answer: a.into(),
    };
    assert!(
        check_qa(
            &s,
            &qa(
                "<image 1> How many circles are in the image?",
                &["1", "2", "3", "4"],
                "B"
            )
        )
        .is_ok()
    );
    let e = check_qa(
        &s,
        &qa(
            "<image 1> How many circles are in the image?",
            &["1", "2", "3", "4"],
            "C",
        ),
    )
    .unwrap_err();
    assert!(e.contains("the image says `2`"), "{e}");
    assert!(
        check_qa(
            &s,
            &qa(
                "<image 1> What shape is the blue object?",
                &["circle", "square"],
                "B"
            )
        )
        .is_ok()
    );
    let e = check_qa(
        &s,
        &qa("<image 1> What color is the circle?", &["red", "blue"], "A"),
    )
    .unwrap_err();
    assert!(e.contains("of which the image has 2"), "{e}");
    let e = check_qa(
        &s,
        &qa(
            "<image 1> Which of these objects is in the image?",
            &["red circle", "blue square"],
            "A",
        ),
    )
    .unwrap_err();
    assert!(e.contains("2 options are true"), "{e}");
    let e = check_qa(&s, &qa("<image 1> Is it sunny?", &["yes", "no"], "A")).unwrap_err();
    assert!(e.contains("unknown question form"), "{e}");
}

/// The oracle asks its questions in the dataset's option order (from
/// `manifest.json`), and scene files of datasets that disagree are refused.
#[test]
fn oracle_follows_the_dataset_option_order() {
    use duet_data::shapeworld::OptionOrder;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = GenerateOptions::new(40, 3);
    opts.config.option_order = OptionOrder::Canonical;
    generate(a.path(), &opts, |_, _| {}).unwrap();
    generate(b.path(), &GenerateOptions::new(40, 3), |_, _| {}).unwrap();
    let (sa, sb) = (
        a.path().join("train/scenes.jsonl"),
        b.path().join("train/scenes.jsonl"),
    );
    let scenes = SceneIndex::load(std::slice::from_ref(&sa)).unwrap();
    assert_eq!(scenes.option_order(), OptionOrder::Canonical);
    let mut oracle = ShapeWorldOracle::new(scenes);
    let gens = read_gen_items(&a.path().join("train/generation.jsonl")).unwrap();
    let g: Vec<&GenItem> = gens.iter().collect();
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let colours = set(&["red", "yellow", "green", "blue", "purple", "white"]);
    let shapes = set(&["circle", "square", "triangle", "diamond"]);
    let qas = oracle.questions(&g, 0).unwrap();
    let mut closed = 0;
    for q in &qas {
        if q.question.contains("What color") {
            assert_eq!(q.options, colours, "{q:?}");
            closed += 1;
        } else if q.question.contains("What shape") {
            assert_eq!(q.options, shapes, "{q:?}");
            closed += 1;
        }
    }
    assert!(closed > 0, "no closed-set question among {}", qas.len());

    let err = SceneIndex::load(&[sa, sb]).unwrap_err().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("Canonical"),
        "{err}"
    );
}
