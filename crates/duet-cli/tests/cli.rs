//! The `duet` binary end to end: the happy path, and bad input that must give
//! a clear error naming the file (and line), a non-zero exit and no panic.

mod common;

use common::{duet, fails_with, p};

#[test]
fn generate_render_and_score_ground_truth() {
    let t = tempfile::tempdir().unwrap();
    let sw = t.path().join("sw");
    let out = duet(&[
        "data",
        "shapeworld",
        "--out",
        p(&sw),
        "--n",
        "60",
        "--seed",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = sw.join("test/evaluation_metadata.jsonl");
    let gt = t.path().join("gt");
    let out = duet(&[
        "data",
        "render-geneval",
        "--metadata",
        p(&meta),
        "--out",
        p(&gt),
        "--samples",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = duet(&[
        "eval",
        "geneval",
        "--images",
        p(&gt),
        "--metadata",
        p(&meta),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Overall score (avg. over tasks): 1.00000"),
        "{stdout}"
    );
    assert!(gt.join("results.jsonl").is_file());

    // Training prompts are refused, found through the dataset's manifest.
    let train_meta = sw.join("train/evaluation_metadata.jsonl");
    let gt_train = t.path().join("gt_train");
    assert!(
        duet(&[
            "data",
            "render-geneval",
            "--metadata",
            p(&train_meta),
            "--out",
            p(&gt_train),
            "--samples",
            "1"
        ])
        .status
        .success()
    );
    let out = duet(&[
        "eval",
        "geneval",
        "--images",
        p(&gt_train),
        "--metadata",
        p(&train_meta),
    ]);
    fails_with(&out, &["refusing to evaluate", "train/generation.jsonl"]);
}

#[test]
fn malformed_jsonl_line_is_named() {
    let t = tempfile::tempdir().unwrap();
    let meta = t.path().join("meta.jsonl");
    std::fs::write(
        &meta,
        "{\"tag\":\"single_object\",\"include\":[{\"class\":\"circle\",\"count\":1}],\"prompt\":\"a photo of a circle\"}\n{\"tag\": \n",
    )
    .unwrap();
    let out = duet(&[
        "data",
        "render-geneval",
        "--metadata",
        p(&meta),
        "--out",
        p(&t.path().join("o")),
    ]);
    fails_with(&out, &["meta.jsonl:2", "malformed JSON"]);
}

#[test]
fn unknown_tag_and_unknown_class_are_named() {
    let t = tempfile::tempdir().unwrap();
    let meta = t.path().join("meta.jsonl");
    std::fs::write(
        &meta,
        "{\"tag\":\"texture\",\"include\":[],\"prompt\":\"x\"}\n",
    )
    .unwrap();
    let out = duet(&[
        "data",
        "render-geneval",
        "--metadata",
        p(&meta),
        "--out",
        p(&t.path().join("o")),
    ]);
    fails_with(&out, &["meta.jsonl:1", "unknown variant `texture`"]);
    std::fs::write(
        &meta,
        "{\"tag\":\"single_object\",\"include\":[{\"class\":\"bench\",\"count\":1}],\"prompt\":\"a photo of a bench\"}\n",
    )
    .unwrap();
    let out = duet(&[
        "data",
        "render-geneval",
        "--metadata",
        p(&meta),
        "--out",
        p(&t.path().join("o")),
    ]);
    fails_with(&out, &["meta.jsonl: prompt 1", "unknown class `bench`"]);
}

#[test]
fn missing_or_non_png_images_are_named() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("imgs/00000");
    std::fs::create_dir_all(f.join("samples")).unwrap();
    std::fs::write(
        f.join("metadata.jsonl"),
        "{\"tag\":\"single_object\",\"include\":[{\"class\":\"circle\",\"count\":1}],\"prompt\":\"a photo of a circle\"}\n",
    )
    .unwrap();
    let imgs = t.path().join("imgs");
    let out = duet(&["eval", "geneval", "--images", p(&imgs)]);
    fails_with(&out, &["00000/samples", "no samples"]);
    std::fs::write(
        f.join("samples/0000.png"),
        b"\xff\xd8\xff\xe0 a jpeg header",
    )
    .unwrap();
    let out = duet(&["eval", "geneval", "--images", p(&imgs)]);
    fails_with(&out, &["0000.png", "expected a PNG image, found Jpeg"]);
    let out = duet(&["eval", "geneval", "--images", p(&t.path().join("nowhere"))]);
    fails_with(&out, &["nowhere", "not a directory"]);
}

#[test]
fn prediction_for_an_unknown_id_is_named() {
    let t = tempfile::tempdir().unwrap();
    let answers = t.path().join("answers.json");
    std::fs::write(
        &answers,
        r#"{"test_count_1": {"question_type": "multiple-choice", "ground_truth": "A"}}"#,
    )
    .unwrap();
    let preds = t.path().join("preds.json");
    std::fs::write(&preds, r#"{"test_count_1": "A", "test_count_7": "B"}"#).unwrap();
    let out = duet(&[
        "eval",
        "mmmu",
        "--answers",
        p(&answers),
        "--predictions",
        p(&preds),
    ]);
    fails_with(&out, &["preds.json", "test_count_7", "answers.json"]);
    std::fs::write(&preds, r#"{"test_count_1": "A"}"#).unwrap();
    let out = duet(&[
        "eval",
        "mmmu",
        "--answers",
        p(&answers),
        "--predictions",
        p(&preds),
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("| Overall"));
}
