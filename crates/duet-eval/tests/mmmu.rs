//! MMMU scoring over both prediction formats and its aggregation.

use duet_eval::mmmu::{read_answers, read_predictions, score};
use std::path::Path;

const ANSWERS: &str = r#"{
    "validation_Art_1": {"question_type": "multiple-choice", "ground_truth": "B"},
    "validation_Art_2": {"question_type": "multiple-choice", "ground_truth": "A"},
    "validation_Math_1": {"question_type": "short-answer", "ground_truth": ["24/7", "3.429"]},
    "validation_Math_2": {"question_type": "multiple-choice", "ground_truth": "C"},
    "validation_Art_Theory_1": {"question_type": "multiple-choice", "ground_truth": "D"},
    "validation_Physics_1": {"question_type": "short-answer", "ground_truth": "30"}
}"#;

fn write(dir: &Path, rel: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn eval_only_dict_format() {
    let dir = tempfile::tempdir().unwrap();
    let answers = write(dir.path(), "answers.json", ANSWERS);
    // MC answers are compared exactly (as main_eval_only.py does), after
    // reading an <answer> tag; open answers are parsed.
    let preds = write(
        dir.path(),
        "preds.json",
        r#"{"validation_Art_1": "B", "validation_Art_2": "(A)", "validation_Math_1": "so it is 3.43",
            "validation_Math_2": "<think>hmm</think><answer>C</answer>", "validation_Physics_1": "30.0"}"#,
    );
    let r = score(
        &read_predictions(&preds).unwrap(),
        &read_answers(&answers).unwrap(),
        &answers,
    )
    .unwrap();
    assert_eq!(r.overall.num, 5);
    assert_eq!(r.overall.correct, 4, "{:?}", r.judged);
    assert_eq!(r.missing, 1, "Art_Theory has no prediction");
    assert_eq!(r.fallbacks, 0);
    let art = r
        .disciplines
        .iter()
        .find(|d| d.0 == "Art and Design")
        .unwrap();
    assert_eq!((art.1.num, art.1.correct), (2, 1));
    let sci = r.disciplines.iter().find(|d| d.0 == "Science").unwrap();
    // Instance-weighted: Math 2/2 and Physics 1/1 → 3/3.
    assert_eq!((sci.1.num, sci.1.correct), (3, 3));
    assert_eq!(sci.2, vec!["Math".to_string(), "Physics".to_string()]);
    let table = r.to_string();
    assert!(table.contains("| Overall-Science"), "{table}");
    assert!(table.contains("0.800"), "{table}");
}

#[test]
fn per_subject_output_json_format_with_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    let answers = write(dir.path(), "answers.json", ANSWERS);
    let mc = |id: &str, resp: &str| {
        format!(
            r#"{{"id": "{id}", "question_type": "multiple-choice", "answer": "?", "all_choices": ["A","B","C","D"],
               "index2ans": {{"A": "red", "B": "blue square", "C": "green", "D": "white"}}, "response": "{resp}"}}"#
        )
    };
    write(
        dir.path(),
        "out/Art/output.json",
        &format!(
            "[{}, {}]",
            mc(
                "validation_Art_1",
                "I would say the answer is blue square here"
            ),
            mc("validation_Art_2", "no idea")
        ),
    );
    write(
        dir.path(),
        "out/Art_Theory/output.json",
        &format!("[{}]", mc("validation_Art_Theory_1", "(D)")),
    );
    write(
        dir.path(),
        "out/Math/output.json",
        r#"[{"id": "validation_Math_1", "question_type": "short-answer", "answer": "x", "response": "The answer is 24/7"}]"#,
    );
    let preds = read_predictions(&dir.path().join("out")).unwrap();
    let r = score(&preds, &read_answers(&answers).unwrap(), &answers).unwrap();
    assert_eq!(r.overall.num, 4);
    assert_eq!(r.overall.correct, 3, "{:?}", r.judged);
    assert_eq!(
        r.fallbacks, 1,
        "'no idea' has no letter: counted wrong, not guessed"
    );
    assert_eq!(r.subjects["Art_Theory"].correct, 1);
    let art = r
        .disciplines
        .iter()
        .find(|d| d.0 == "Art and Design")
        .unwrap();
    assert_eq!((art.1.num, art.1.correct), (3, 2));
}

#[test]
fn unknown_ids_and_malformed_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let answers = write(dir.path(), "answers.json", ANSWERS);
    let preds = write(dir.path(), "preds.json", r#"{"validation_Art_9": "A"}"#);
    let err = score(
        &read_predictions(&preds).unwrap(),
        &read_answers(&answers).unwrap(),
        &answers,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("preds.json") && err.contains("validation_Art_9"),
        "{err}"
    );
    let bad = write(dir.path(), "bad.json", r#"{"validation_Art_1": "A",}"#);
    let err = read_predictions(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");
}
