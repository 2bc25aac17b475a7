//! `duet demo --quick` end to end (the README's main command at toy size),
//! then the inference commands on the run it leaves: `eval model` writes
//! files that `eval geneval` and `eval mmmu` score to the same numbers,
//! `generate` writes PNGs, `ask` answers; bad input gets an error, not a
//! panic.

mod common;

use common::{duet, fails_with, p};

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "stderr: {err}");
    String::from_utf8_lossy(&out.stdout).to_string() + &err
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn quick_demo_then_inference_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("demo");

    // The demo: every stage runs and the report is complete.
    let log = ok(duet(&["demo", "--quick", "--out", p(&run)]));
    for stage in ["[1/4] pretrain", "[2/4] pairs", "[3/4] rl", "[4/4] report"] {
        assert!(log.contains(stage), "{log}");
    }
    assert!(log.contains("$ duet pretrain all"), "{log}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in [
        "GenEval overall",
        "MC accuracy",
        "<svg",
        "data:image/png;base64,",
        "Training reward",
        "color_of_shape",
    ] {
        assert!(html.contains(needle), "report.html lacks `{needle}`");
    }
    for f in [
        "reward.svg",
        "geneval_tasks.svg",
        "mc_types.svg",
        "grid_before.png",
        "grid_after.png",
    ] {
        assert!(run.join("report").join(f).is_file(), "report/{f} missing");
    }
    let after = json(&run.join("rl/eval_after.json"));
    let overall = after["geneval"]["overall"].as_f64().unwrap();
    assert!(html.contains(&format!("{overall:.3}")));
    // The RL draws its pairs from the base's `rl` split (fresh scenes of the
    // training prompts), as the quick RL config asks; a split that is not
    // there is a clear error.
    assert!(run.join("data/rl/und_half.jsonl").is_file());
    assert!(!run.join("data/train/und_half.jsonl").exists());
    let pairs = std::fs::read_to_string(run.join("pairs.jsonl")).unwrap();
    assert!(pairs.contains("rl/images/"), "{}", &pairs[..300]);
    let bad = tmp.path().join("bad-split.toml");
    std::fs::write(
        &bad,
        "preset = \"pairgrpo\"\ndataset_train_split = \"nope\"\n",
    )
    .unwrap();
    fails_with(
        &duet(&[
            "rl",
            "--config",
            p(&bad),
            "--base",
            p(&run),
            "--output-dir",
            p(&tmp.path().join("bad-rl")),
        ]),
        &["dataset_train_split", "nope", "scenes.jsonl"],
    );

    // The RL's "before" is the base's report, which the RL run would have
    // repeated: one RL step with its own start evaluation agrees.
    assert!(log.contains("before: the base's evaluation"), "{log}");
    let own = tmp.path().join("rl-own-before");
    ok(duet(&[
        "rl",
        "--config",
        p(&run.join("rl.toml")),
        "--base",
        p(&run),
        "--output-dir",
        p(&own),
        "--max-steps",
        "1",
    ]));
    assert_eq!(
        json(&own.join("eval_before.json")),
        json(&run.join("rl/eval_before.json"))
    );
    let timings = json(&run.join("timings.json"));
    assert_eq!(timings["stages"].as_object().unwrap().len(), 4);

    // A second run reuses everything and only re-renders the report.
    let again = ok(duet(&["demo", "--quick", "--out", p(&run)]));
    assert_eq!(again.matches(": cached in").count(), 3, "{again}");

    // eval model: its own scores agree with GenEval's and MMMU's scorers run
    // on the files it wrote.
    let ev = tmp.path().join("eval");
    ok(duet(&[
        "eval",
        "model",
        "--model",
        p(&run),
        "--out",
        p(&ev),
        "--max-prompts",
        "3",
        "--images-per-prompt",
        "2",
    ]));
    let scores = json(&ev.join("scores.json"));
    let rescored = tmp.path().join("rescored.jsonl");
    ok(duet(&[
        "eval",
        "geneval",
        "--images",
        p(&ev.join("geneval")),
        "--out",
        p(&rescored),
    ]));
    let lines = |f: &Path| -> Vec<(bool, f64)> {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["correct"].as_bool().unwrap(),
                    v["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let own = lines(&ev.join("geneval/results.jsonl"));
    assert_eq!(own.len(), 6);
    assert_eq!(own, lines(&rescored));
    let mmmu_out = tmp.path().join("mmmu.json");
    ok(duet(&[
        "eval",
        "mmmu",
        "--answers",
        p(&run.join("data/test/answers.json")),
        "--predictions",
        p(&ev.join("mmmu")),
        "--out",
        p(&mmmu_out),
    ]));
    let m = json(&mmmu_out);
    let (num, correct) = (
        m["overall"]["num"].as_f64().unwrap(),
        m["overall"]["correct"].as_f64().unwrap(),
    );
    assert_eq!(m["missing"], 0);
    assert!(num > 0.0);
    assert!((correct / num - scores["mc_accuracy"].as_f64().unwrap()).abs() < 1e-12);

    // generate and ask.
    let gen_dir = tmp.path().join("gen");
    let out = ok(duet(&[
        "generate",
        "--model",
        p(&run),
        "--prompt",
        "a photo of a red square",
        "--out",
        p(&gen_dir),
        "-n",
        "2",
        "--top-k",
        "16",
    ]));
    assert!(out.contains("0001.png"));
    let img = image::open(gen_dir.join("0001.png")).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    ok(duet(&[
        "ask",
        "--model",
        p(&run),
        "--image",
        p(&gen_dir.join("0000.png")),
        "--question",
        "How many squares are in the image?",
        "--max-new-tokens",
        "4",
    ]));

    // Bad input.
    fails_with(
        &duet(&[
            "generate",
            "--model",
            p(&tmp.path().join("nope")),
            "--prompt",
            "x",
            "--out",
            p(&gen_dir),
        ]),
        &["nope", "no such directory"],
    );
    fails_with(
        &duet(&[
            "ask",
            "--model",
            p(&run),
            "--image",
            p(&run.join("report.html")),
            "--question",
            "?",
        ]),
        &["report.html"],
    );
    fails_with(
        &duet(&[
            "--backend",
            "cuda",
            "generate",
            "--model",
            p(&run),
            "--prompt",
            "a photo of a square",
            "--out",
            p(&gen_dir),
        ]),
        &["--backend cuda"],
    );
}
