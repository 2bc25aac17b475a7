//! `report.html` of a demo (or any pretrain run with an RL run in `rl/`):
//! one self-contained file — SVG charts inline, sample grids as base64 PNG —
//! plus the charts and grids as files under `report/`.

mod charts;
mod grids;
mod html;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use duet_data::records::GenEvalMetadata;
use duet_rl::eval::EvalConfig;
use serde_json::Value;

pub use grids::pick_prompts;

/// What the report draws beyond the run's own files.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Prompts in the before/after grids.
    pub prompts: usize,
    /// Samples per prompt (same seeds before and after).
    pub samples: usize,
    pub seed: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            prompts: 8,
            samples: 4,
            seed: 0,
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn read_opt(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Everything the report shows, read from a run directory.
pub struct RunData {
    pub metrics: Vec<Value>,
    pub before: Option<Value>,
    pub after: Value,
    pub pretrain: Option<Value>,
    pub rl_config: Option<Value>,
    pub timings: Option<Value>,
}

impl RunData {
    pub fn read(run: &Path) -> Result<RunData> {
        let rl = run.join("rl");
        let metrics: Vec<Value> = duet_data::io::read_jsonl(&rl.join("metrics.jsonl"))
            .with_context(|| {
                format!("{}: no finished RL run (run the demo first)", rl.display())
            })?;
        Ok(RunData {
            metrics,
            before: read_opt(&rl.join("eval_before.json"))?,
            after: read_json(&rl.join("eval_after.json"))?,
            pretrain: read_opt(&run.join("report.json"))?,
            rl_config: read_opt(&rl.join("rl_config.json"))?,
            timings: read_opt(&run.join("timings.json"))?,
        })
    }

    /// (step, value) of a metrics key over the run.
    pub fn series(&self, key: &str) -> Vec<(f64, f64)> {
        self.metrics
            .iter()
            .filter_map(|m| Some((m.get("step")?.as_f64()?, m.get(key)?.as_f64()?)))
            .collect()
    }
}

/// Mean of `key` over the metrics lines that have it.
fn mean(d: &RunData, key: &str) -> Option<f64> {
    let v: Vec<f64> = d.series(key).into_iter().map(|p| p.1).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Accuracy of a `{num, correct}` tally.
fn acc(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    let n = v.get("num")?.as_f64()?;
    (n > 0.0).then(|| v.get("correct").and_then(Value::as_f64).unwrap_or(0.0) / n)
}

fn per_key(
    after: &Value,
    before: Option<&Value>,
    path: &[&str],
) -> Vec<(String, Option<f64>, Option<f64>)> {
    let at = |v: &Value| path.iter().try_fold(v.clone(), |v, k| v.get(*k).cloned());
    let a = at(after)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    a.iter()
        .map(|(k, v)| {
            let b = before.and_then(at).and_then(|b| acc(b.get(k)));
            (k.clone(), b, acc(Some(v)))
        })
        .collect()
}

/// Renders `run/report.html` and `run/report/*`; returns the HTML's path.
pub fn write(run: &Path, opt: &ReportOptions) -> Result<PathBuf> {
    let d = RunData::read(run)?;
    let dir = run.join("report");
    let mut charts: Vec<(String, String)> = Vec::new();
    let mut chart = |file: &str, svg: String| -> Result<()> {
        duet_data::io::write_atomic(&dir.join(file), svg.as_bytes())?;
        charts.push((file.to_string(), svg));
        Ok(())
    };

    let reward_keys = [
        ("reward", "reward (both tasks)"),
        ("understanding/reward", "understanding"),
        ("generation/reward", "generation"),
    ];
    let rewards: Vec<charts::Series> = reward_keys
        .iter()
        .map(|(k, n)| (n.to_string(), smooth(&d.series(k), 5)))
        .filter(|s| !s.1.is_empty())
        .collect();
    chart(
        "reward.svg",
        charts::lines("Training reward (5-step mean)", "reward", &rewards)?,
    )?;

    let eval_keys = [
        ("eval/geneval_overall", "GenEval overall"),
        ("eval/geneval_dense", "GenEval dense"),
        ("eval/mc_accuracy", "MC accuracy"),
    ];
    let evals: Vec<charts::Series> = eval_keys
        .iter()
        .map(|(k, n)| (n.to_string(), d.series(k)))
        .filter(|s| !s.1.is_empty())
        .collect();
    if !evals.is_empty() {
        chart(
            "eval.svg",
            charts::lines("Held-out evaluation during training (val)", "score", &evals)?,
        )?;
    }

    let tasks = per_key(&d.after, d.before.as_ref(), &["geneval", "tasks"]);
    let types = per_key(&d.after, d.before.as_ref(), &["mc_by_type"]);
    for (file, title, rows) in [
        ("geneval_tasks.svg", "GenEval per task (test)", &tasks),
        (
            "mc_types.svg",
            "MC accuracy per question type (test)",
            &types,
        ),
    ] {
        let cats: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let mut groups = Vec::new();
        if d.before.is_some() {
            groups.push((
                "before".to_string(),
                rows.iter().map(|r| r.1.unwrap_or(0.0)).collect(),
            ));
        }
        groups.push((
            "after".to_string(),
            rows.iter().map(|r| r.2.unwrap_or(0.0)).collect(),
        ));
        chart(file, charts::bars(title, &cats, &groups)?)?;
    }

    let timing: Vec<charts::Series> = ["timing_s/rollout", "timing_s/reward", "timing_s/update"]
        .iter()
        .map(|k| (k.trim_start_matches("timing_s/").to_string(), d.series(k)))
        .filter(|s| !s.1.is_empty())
        .collect();
    chart(
        "step_time.svg",
        charts::lines("Time per RL step", "seconds", &timing)?,
    )?;

    // Before/after grids: same prompts, same seeds.
    let all: Vec<GenEvalMetadata> = duet_data::io::read_jsonl(
        &run.join("data")
            .join("test")
            .join("evaluation_metadata.jsonl"),
    )?;
    let prompts = pick_prompts(&all, opt.prompts);
    let cfg = EvalConfig {
        images_per_prompt: opt.samples,
        seed: opt.seed,
        ..Default::default()
    };
    let base = grids::draw(run, &prompts, &cfg)?;
    let tuned = grids::draw(&run.join("rl"), &prompts, &cfg)?;
    let mut rows = Vec::new();
    for (name, drawn) in [("before", &base), ("after", &tuned)] {
        let strips: Vec<image::RgbImage> = drawn.rows.iter().map(|r| grids::strip(r)).collect();
        let path = dir.join(format!("grid_{name}.png"));
        duet_data::io::write_atomic(
            &path,
            &duet_data::shapeworld::png_bytes(&grids::grid(&strips)),
        )?;
        rows.push(strips);
    }
    let samples: Vec<html::SampleRow> = prompts
        .iter()
        .enumerate()
        .map(|(i, m)| html::SampleRow {
            prompt: m.prompt.clone(),
            task: m.tag.name().to_string(),
            before: rows[0].get(i).cloned(),
            after: rows[1].get(i).cloned(),
            correct: (count(&base, i), count(&tuned, i)),
        })
        .collect();

    let page = html::page(&html::Page {
        run,
        data: &d,
        charts: &charts,
        tasks: &tasks,
        types: &types,
        samples: &samples,
        timing_means: [
            "timing_s/rollout",
            "timing_s/reward",
            "timing_s/update",
            "step_time",
        ]
        .iter()
        .filter_map(|k| mean(&d, k).map(|v| (k.to_string(), v)))
        .collect(),
    });
    let path = run.join("report.html");
    duet_data::io::write_atomic(&path, page.as_bytes())?;
    Ok(path)
}

fn count(d: &grids::Drawn, i: usize) -> usize {
    d.rows
        .get(i)
        .map_or(0, |r| r.iter().filter(|c| c.1).count())
}

/// Trailing mean over `k` points (the first points average what exists).
fn smooth(pts: &[(f64, f64)], k: usize) -> Vec<(f64, f64)> {
    (0..pts.len())
        .map(|i| {
            let lo = i.saturating_sub(k - 1);
            let w = &pts[lo..=i];
            (
                pts[i].0,
                w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
            )
        })
        .collect()
}
