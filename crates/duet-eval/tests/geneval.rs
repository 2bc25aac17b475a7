//! GenEval scoring end to end: scenes → PNG → ShapeDetector → GenEval rules.

use duet_data::io::read_jsonl;
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::{
    Color, GenerationItem, Object, Scene, Shape, ShapeWorldConfig, load_png, render,
};
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::{Summary, Thresholds, score_dir, score_image, write_prompt_folder};
use std::path::PathBuf;

fn meta(line: &str) -> GenEvalMetadata {
    serde_json::from_str(line).unwrap()
}

fn obj(shape: Shape, color: Color, x: f64, y: f64) -> Object {
    Object {
        shape,
        color,
        center: [x, y],
        size: 14.0,
    }
}

fn score(m: &GenEvalMetadata, objects: Vec<Object>) -> (bool, String, f64) {
    let cfg = ShapeWorldConfig::default();
    let scene = Scene {
        width: 64,
        height: 64,
        objects,
    };
    let r = score_image(
        &ShapeDetector::new(&cfg),
        &render(&scene, &cfg),
        m,
        &Thresholds::default(),
        "x.png".into(),
    );
    (r.correct, r.reason, r.score)
}

use Color::*;
use Shape::*;

#[test]
fn single_object() {
    let m = meta(
        r#"{"tag":"single_object","include":[{"class":"circle","count":1}],"prompt":"a photo of a circle"}"#,
    );
    assert_eq!(
        score(&m, vec![obj(Circle, Red, 20., 20.)]),
        (true, String::new(), 1.0)
    );
    let (ok, why, dense) = score(&m, vec![obj(Square, Red, 20., 20.)]);
    assert!(!ok);
    assert_eq!(why, "expected circle>=1, found 0");
    assert_eq!(dense, 0.0);
}

#[test]
fn two_object() {
    let m = meta(
        r#"{"tag":"two_object","include":[{"class":"circle","count":1},{"class":"square","count":1}],"prompt":"a photo of a circle and a square"}"#,
    );
    assert!(
        score(
            &m,
            vec![obj(Circle, Red, 15., 15.), obj(Square, Blue, 45., 45.)]
        )
        .0
    );
    let (ok, why, dense) = score(
        &m,
        vec![obj(Circle, Red, 15., 15.), obj(Triangle, Blue, 45., 45.)],
    );
    assert!(!ok);
    assert_eq!(why, "expected square>=1, found 0");
    assert_eq!(dense, 0.5);
}

#[test]
fn counting_is_exact_through_the_exclude_clause() {
    let m = meta(
        r#"{"tag":"counting","include":[{"class":"circle","count":3}],"exclude":[{"class":"circle","count":4}],"prompt":"a photo of three circles"}"#,
    );
    let three = vec![
        obj(Circle, Red, 12., 12.),
        obj(Circle, Blue, 50., 12.),
        obj(Circle, Green, 12., 50.),
    ];
    assert!(score(&m, three.clone()).0);
    let mut four = three;
    four.push(obj(Circle, White, 50., 50.));
    let (ok, why, dense) = score(&m, four);
    assert!(!ok);
    assert_eq!(why, "expected circle<4, found 4");
    assert!((dense - (1.0 - 1.0 / 3.0)).abs() < 1e-9, "{dense}");
}

#[test]
fn colors() {
    let m = meta(
        r#"{"tag":"colors","include":[{"class":"circle","count":1,"color":"red"}],"prompt":"a photo of a red circle"}"#,
    );
    assert!(score(&m, vec![obj(Circle, Red, 30., 30.)]).0);
    let (ok, why, dense) = score(&m, vec![obj(Circle, Blue, 30., 30.)]);
    assert!(!ok);
    assert_eq!(why, "expected red circle>=1, found 0 red; and 1 blue");
    assert_eq!(dense, 0.5);
}

#[test]
fn position() {
    let m = meta(
        r#"{"tag":"position","include":[{"class":"square","count":1},{"class":"circle","count":1,"position":["left of",0]}],"prompt":"a photo of a circle left of a square"}"#,
    );
    assert!(
        score(
            &m,
            vec![obj(Circle, Red, 12., 30.), obj(Square, Blue, 50., 30.)]
        )
        .0
    );
    let (ok, why, dense) = score(
        &m,
        vec![obj(Circle, Red, 50., 30.), obj(Square, Blue, 12., 30.)],
    );
    assert!(!ok);
    assert_eq!(why, "expected circle left of target, found right of target");
    assert!((dense - 2.0 / 3.0).abs() < 1e-9, "{dense}");
    // No reference object at all.
    let (ok, why, _) = score(&m, vec![obj(Circle, Red, 12., 30.)]);
    assert!(!ok);
    assert_eq!(
        why,
        "expected square>=1, found 0\nno target for circle to be left of"
    );
}

#[test]
fn color_attr() {
    let m = meta(
        r#"{"tag":"color_attr","include":[{"class":"circle","count":1,"color":"red"},{"class":"square","count":1,"color":"blue"}],"prompt":"a photo of a red circle and a blue square"}"#,
    );
    assert!(
        score(
            &m,
            vec![obj(Circle, Red, 15., 15.), obj(Square, Blue, 45., 45.)]
        )
        .0
    );
    let (ok, why, dense) = score(
        &m,
        vec![obj(Circle, Red, 15., 15.), obj(Square, Green, 45., 45.)],
    );
    assert!(!ok);
    assert_eq!(why, "expected blue square>=1, found 0 blue; and 1 green");
    assert_eq!(dense, 0.75);
}

fn reference_split() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/shapeworld/test")
}

/// Every test prompt, with its ground-truth images in GenEval's layout,
/// scores 1.0 overall (and 1.0 dense).
#[test]
fn ground_truth_images_of_the_test_split_score_perfectly() {
    let split = reference_split();
    let prompts: Vec<GenEvalMetadata> =
        read_jsonl(&split.join("evaluation_metadata.jsonl")).unwrap();
    let items: Vec<GenerationItem> = read_jsonl(&split.join("generation.jsonl")).unwrap();
    let out = tempfile::tempdir().unwrap();
    for (i, m) in prompts.iter().enumerate() {
        let images: Vec<_> = items
            .iter()
            .filter(|it| it.metadata == *m)
            .map(|it| load_png(&split.join(&it.image)).unwrap())
            .collect();
        assert!(!images.is_empty(), "{}", m.prompt);
        write_prompt_folder(out.path(), i, m, &images).unwrap();
    }
    let det = ShapeDetector::new(&ShapeWorldConfig::default());
    let (_, results) = score_dir(out.path(), &det, &Thresholds::default(), |_, _| {}).unwrap();
    let s = Summary::from_results(&results);
    let failures: Vec<_> = results
        .iter()
        .filter(|r| !r.correct)
        .map(|r| (&r.prompt, &r.reason))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(s.tasks.len(), 6);
    assert_eq!(s.overall, 1.0);
    assert_eq!(s.mean_dense_score, 1.0);
    assert_eq!(s.total_images, items.len());
}

#[test]
fn bad_layouts_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let det = ShapeDetector::new(&ShapeWorldConfig::default());
    let th = Thresholds::default();
    let f = dir.path().join("00000");
    std::fs::create_dir_all(f.join("samples")).unwrap();
    // Missing metadata.
    let err = score_dir(dir.path(), &det, &th, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("00000/metadata.jsonl: missing"), "{err}");
    // Unknown tag.
    std::fs::write(
        f.join("metadata.jsonl"),
        r#"{"tag":"texture","include":[],"prompt":"p"}"#,
    )
    .unwrap();
    let err = score_dir(dir.path(), &det, &th, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metadata.jsonl:1") && err.contains("unknown variant `texture`"),
        "{err}"
    );
    // No samples.
    std::fs::write(
        f.join("metadata.jsonl"),
        r#"{"tag":"single_object","include":[{"class":"circle","count":1}],"prompt":"a photo of a circle"}"#,
    )
    .unwrap();
    let err = score_dir(dir.path(), &det, &th, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no samples"), "{err}");
    // A sample that is not a PNG.
    std::fs::write(f.join("samples/0000.png"), b"GIF89a not really").unwrap();
    let err = score_dir(dir.path(), &det, &th, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("0000.png") && err.contains("expected a PNG"),
        "{err}"
    );
}
