//! MMMU scoring over its two prediction formats, with MMMU's aggregation:
//! accuracy per subject, and instance-weighted (micro) accuracy per discipline
//! and overall.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use duet_data::io::read_json;
use duet_data::records::AnswerEntry;
use serde::{Deserialize, Serialize};

use super::parse::{McParse, answer_tag, eval_open, parse_multi_choice, parse_open};
use crate::Tally;
use crate::error::{EvalError, Result};

/// MMMU's six disciplines and their subjects (`DOMAIN_CAT2SUB_CAT`), then
/// ShapeWorld's question types as a seventh. Other subjects go to "Other".
pub const DISCIPLINES: [(&str, &[&str]); 7] = [
    ("Art and Design", &["Art", "Art_Theory", "Design", "Music"]),
    (
        "Business",
        &["Accounting", "Economics", "Finance", "Manage", "Marketing"],
    ),
    (
        "Science",
        &["Biology", "Chemistry", "Geography", "Math", "Physics"],
    ),
    (
        "Health and Medicine",
        &[
            "Basic_Medical_Science",
            "Clinical_Medicine",
            "Diagnostics_and_Laboratory_Medicine",
            "Pharmacy",
            "Public_Health",
        ],
    ),
    (
        "Humanities and Social Science",
        &["History", "Literature", "Sociology", "Psychology"],
    ),
    (
        "Tech and Engineering",
        &[
            "Agriculture",
            "Architecture_and_Engineering",
            "Computer_Science",
            "Electronics",
            "Energy_and_Power",
            "Materials",
            "Mechanical_Engineering",
        ],
    ),
    (
        "ShapeWorld",
        &[
            "count",
            "color_of_shape",
            "shape_of_color",
            "existence",
            "spatial",
        ],
    ),
];

/// MMMU's subject of an id: the tokens between the split and the number
/// (`validation_Art_Theory_3` → `Art_Theory`).
pub fn subject_of(id: &str) -> String {
    let parts: Vec<&str> = id.split('_').collect();
    if parts.len() < 3 {
        return String::new();
    }
    parts[1..parts.len() - 1].join("_")
}

/// One item of a per-subject `output.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputItem {
    pub id: String,
    #[serde(default)]
    pub question_type: Option<String>,
    #[serde(default)]
    pub all_choices: Vec<String>,
    #[serde(default)]
    pub index2ans: BTreeMap<String, String>,
    pub response: String,
}

/// A prediction to score: an eval-only answer string, or a raw response with
/// its choices.
#[derive(Debug, Clone)]
pub enum Prediction {
    /// `main_eval_only.py`: the final answer, compared exactly for MC.
    Final(String),
    /// `main_parse_and_eval.py`: a raw response to parse.
    Raw {
        response: String,
        all_choices: Vec<String>,
        index2ans: Vec<(String, String)>,
    },
}

/// Per-item judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged {
    pub id: String,
    pub subject: String,
    pub correct: bool,
    /// The parser found no answer (MMMU would have guessed at random).
    pub fallback: bool,
}

/// Judges one prediction against its answer entry.
pub fn judge(id: &str, pred: &Prediction, gold: &AnswerEntry) -> Judged {
    let text = match pred {
        Prediction::Final(s) => s.as_str(),
        Prediction::Raw { response, .. } => response.as_str(),
    };
    let text = answer_tag(text).unwrap_or(text);
    let golds = gold.ground_truth.as_slice();
    let (correct, fallback) = if gold.question_type == "multiple-choice" {
        match pred {
            Prediction::Final(_) => (golds.iter().any(|g| g == text), false),
            Prediction::Raw {
                all_choices,
                index2ans,
                ..
            } => match parse_multi_choice(text, all_choices, index2ans) {
                McParse::Letter(l) => (golds.contains(&l), false),
                McParse::Fallback => (false, true),
            },
        }
    } else {
        (eval_open(golds, &parse_open(text)), false)
    };
    Judged {
        id: id.to_string(),
        subject: subject_of(id),
        correct,
        fallback,
    }
}

/// Reads predictions: a JSON file (id → answer, MMMU's eval-only format) or a
/// directory of `<Subject>/output.json` lists (MMMU's parse-and-eval format).
/// Each prediction comes with the file it was read from.
pub fn read_predictions(path: &Path) -> Result<Vec<(PathBuf, String, Prediction)>> {
    let mut out = Vec::new();
    if path.is_dir() {
        let mut subjects: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| duet_data::DataError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path().join("output.json")))
            .filter(|p| p.is_file())
            .collect();
        subjects.sort();
        if subjects.is_empty() {
            return Err(EvalError::Predictions {
                path: path.to_path_buf(),
                message: "no <Subject>/output.json found".into(),
            });
        }
        for file in subjects {
            let items: Vec<OutputItem> = read_json(&file)?;
            for it in items {
                let pred = Prediction::Raw {
                    response: it.response,
                    all_choices: it.all_choices,
                    index2ans: it.index2ans.into_iter().collect(),
                };
                out.push((file.clone(), it.id, pred));
            }
        }
    } else {
        let map: BTreeMap<String, String> = read_json(path)?;
        out.extend(
            map.into_iter()
                .map(|(id, a)| (path.to_path_buf(), id, Prediction::Final(a))),
        );
    }
    Ok(out)
}

/// Reads MMMU's answer file (id → {question_type, ground_truth}).
pub fn read_answers(path: &Path) -> Result<BTreeMap<String, AnswerEntry>> {
    Ok(read_json(path)?)
}

/// The scored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub subjects: BTreeMap<String, Tally>,
    /// Discipline rows in MMMU's order, each with its subjects.
    pub disciplines: Vec<(String, Tally, Vec<String>)>,
    pub overall: Tally,
    /// Items whose response no rule could parse (scored wrong).
    pub fallbacks: usize,
    /// Answer ids with no prediction (left out, as MMMU does).
    pub missing: usize,
    pub judged: Vec<Judged>,
}

/// Scores predictions against an answer file. A prediction whose id the answer
/// file lacks is an error naming the file and the id.
pub fn score(
    preds: &[(PathBuf, String, Prediction)],
    answers: &BTreeMap<String, AnswerEntry>,
    answers_path: &Path,
) -> Result<Report> {
    let mut judged = Vec::with_capacity(preds.len());
    for (file, id, pred) in preds {
        let gold = answers.get(id).ok_or_else(|| EvalError::UnknownId {
            path: file.clone(),
            id: id.clone(),
            answers: answers_path.to_path_buf(),
        })?;
        judged.push(judge(id, pred, gold));
    }
    let predicted: std::collections::HashSet<&str> = preds.iter().map(|p| p.1.as_str()).collect();
    let missing = answers
        .keys()
        .filter(|k| !predicted.contains(k.as_str()))
        .count();
    Ok(aggregate(judged, missing))
}

/// MMMU's aggregation over judged items.
pub fn aggregate(judged: Vec<Judged>, missing: usize) -> Report {
    let mut subjects: BTreeMap<String, Tally> = BTreeMap::new();
    for j in &judged {
        subjects
            .entry(j.subject.clone())
            .or_default()
            .add(j.correct);
    }
    let mut disciplines = Vec::new();
    let mut placed = std::collections::HashSet::new();
    for (name, subs) in DISCIPLINES {
        let present: Vec<String> = subs
            .iter()
            .filter(|s| subjects.contains_key(**s))
            .map(|s| s.to_string())
            .collect();
        if present.is_empty() {
            continue;
        }
        let mut t = Tally::default();
        for s in &present {
            t.merge(subjects[s]);
            placed.insert(s.clone());
        }
        disciplines.push((name.to_string(), t, present));
    }
    let others: Vec<String> = subjects
        .keys()
        .filter(|s| !placed.contains(*s))
        .cloned()
        .collect();
    if !others.is_empty() {
        let mut t = Tally::default();
        for s in &others {
            t.merge(subjects[s]);
        }
        disciplines.push(("Other".to_string(), t, others));
    }
    let overall = Tally {
        num: judged.len(),
        correct: judged.iter().filter(|j| j.correct).count(),
    };
    Report {
        subjects,
        disciplines,
        overall,
        fallbacks: judged.iter().filter(|j| j.fallback).count(),
        missing,
        judged,
    }
}

impl fmt::Display for Report {
    /// MMMU's `print_results.py` table (accuracy as a fraction, 3 decimals).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .subjects
            .keys()
            .map(|s| s.len())
            .chain(self.disciplines.iter().map(|d| d.0.len() + 8))
            .max()
            .unwrap_or(7)
            .max(7);
        writeln!(
            f,
            "| {:<width$} | {:>8} | {:>5} |",
            "Subject", "Data Num", "Acc"
        )?;
        writeln!(
            f,
            "|{}+{}+{}|",
            "-".repeat(width + 2),
            "-".repeat(10),
            "-".repeat(7)
        )?;
        for (name, t, subs) in &self.disciplines {
            writeln!(
                f,
                "| {:<width$} | {:>8} | {:>5.3} |",
                format!("Overall-{name}"),
                t.num,
                t.acc()
            )?;
            for s in subs {
                let t = self.subjects[s];
                writeln!(f, "| {:<width$} | {:>8} | {:>5.3} |", s, t.num, t.acc())?;
            }
        }
        writeln!(
            f,
            "| {:<width$} | {:>8} | {:>5.3} |",
            "Overall",
            self.overall.num,
            self.overall.acc()
        )?;
        write!(
            f,
            "unparsable responses (scored wrong; MMMU guesses at random): {}\nanswer ids without a prediction (left out): {}",
            self.fallbacks, self.missing
        )
    }
}
