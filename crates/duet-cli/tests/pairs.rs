//! `duet pairs build` end to end: the happy path on a small ShapeWorld set,
//! and bad input (missing image, duplicate id, a failing or silent annotator)
//! that must name the item, exit 1 and leave no output file behind.

mod common;

use common::{duet, fails_with, p};

use std::path::{Path, PathBuf};
use std::process::Output;

/// A small dataset; returns the train split directory.
fn shapeworld(dir: &Path) -> PathBuf {
    let out = duet(&[
        "data",
        "shapeworld",
        "--out",
        p(dir),
        "--n",
        "60",
        "--seed",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("train")
}

fn build(split: &Path, und: &Path, out: &Path, extra: &[&str]) -> Output {
    let gen_file = split.join("generation.jsonl");
    let mut args = vec![
        "pairs",
        "build",
        "--und",
        p(und),
        "--gen",
        p(&gen_file),
        "--out",
        p(out),
    ];
    args.extend([
        "--clusters",
        "6",
        "--kmeans-batch",
        "64",
        "--kmeans-steps",
        "10",
    ]);
    args.extend(extra);
    duet(&args)
}

/// Nothing but the directory itself: no pairs file, histogram or temp file.
fn nothing_written(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn build_writes_pairs_histogram_and_summary() {
    let t = tempfile::tempdir().unwrap();
    let split = shapeworld(&t.path().join("sw"));
    let out = t.path().join("pairs/p.jsonl");
    let res = build(&split, &split.join("understanding.jsonl"), &out, &[]);
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        stdout.contains("aligned:") && stdout.contains("retrieved:"),
        "{stdout}"
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    assert!(lines.lines().count() > 6, "{lines}");
    assert!(lines.contains("\"pair_type\":\"retrieved\""));
    let png = std::fs::read(t.path().join("pairs/p.hist.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn missing_image_and_duplicate_id_are_named_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let split = shapeworld(&t.path().join("sw"));
    let text = std::fs::read_to_string(split.join("understanding.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replace("images/000000.png", "images/999999.png");
    let bad = split.join("und_bad.jsonl");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let outdir = t.path().join("out");
    let res = build(&split, &bad, &outdir.join("p.jsonl"), &[]);
    let id = text
        .lines()
        .nth(2)
        .unwrap()
        .split('"')
        .nth(3)
        .unwrap()
        .to_string();
    fails_with(
        &res,
        &[
            "und_bad.jsonl:3",
            &format!("item `{id}`"),
            "999999.png not found",
        ],
    );
    nothing_written(&outdir);

    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.push(lines[0].clone());
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let res = build(&split, &bad, &outdir.join("p.jsonl"), &[]);
    let first = text
        .lines()
        .next()
        .unwrap()
        .split('"')
        .nth(3)
        .unwrap()
        .to_string();
    let n = lines.len();
    fails_with(
        &res,
        &[&format!(
            "und_bad.jsonl:{n}: duplicate id `{first}` (first on line 1)"
        )],
    );
    nothing_written(&outdir);
}

#[test]
fn failing_or_silent_annotator_is_named_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let split = shapeworld(&t.path().join("sw"));
    let und = split.join("understanding.jsonl");
    let outdir = t.path().join("out");
    let out = outdir.join("p.jsonl");
    let res = build(
        &split,
        &und,
        &out,
        &["--annotator", "command:read -r line; exit 4"],
    );
    fails_with(
        &res,
        &[
            "annotator `command:read -r line; exit 4`",
            "exited before replying",
            "exit status: 4",
        ],
    );
    nothing_written(&outdir);
    let silent = [
        "--annotator",
        "command:sleep 30",
        "--annotator-timeout",
        "0.3",
    ];
    let res = build(&split, &und, &out, &silent);
    fails_with(&res, &["no reply within 0.3 s", "item `train_"]);
    nothing_written(&outdir);
    let res = build(&split, &und, &out, &["--annotator", "gpt"]);
    fails_with(
        &res,
        &["expected `oracle`, `model:CHECKPOINT_DIR` or `command:PROGRAM`"],
    );
    // An item whose image has no scene graph is named before any work.
    let other = t.path().join("other.png");
    std::fs::copy(split.join("images/000001.png"), &other).unwrap();
    let line = std::fs::read_to_string(&und)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .replace("images/000000.png", p(&other));
    let lonely = split.join("lonely.jsonl");
    std::fs::write(&lonely, line).unwrap();
    let res = build(&split, &lonely, &out, &[]);
    fails_with(
        &res,
        &["lonely.jsonl:1: item `train_", "has no scene graph in"],
    );
    nothing_written(&outdir);
}
