//! The metrics log: one JSON object per step under TRL's names (`reward`,
//! `reward_std`, `frac_reward_zero_std`, `rewards/<name>/mean`, `kl`,
//! `clip_ratio/*`, `entropy`, `completions/*`) plus verl-style
//! `timing_s/*`, and held-out `eval/*` numbers when an evaluation ran.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::batch::Experience;
use super::config::RlConfig;
use super::update::UpdateReport;
use crate::error::{Result, RlError};
use crate::eval::EvalReport;

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// The metrics of one finished step (`step` counts from 1).
pub fn step_line(
    step: usize,
    cfg: &RlConfig,
    exp: &Experience,
    rep: &UpdateReport,
    lr: f64,
    names: &[String],
    weights: &[f64],
) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("step".into(), json!(step));
    // The weighted total per row, per task.
    let und_rows = exp.und.len();
    let n_rows = exp.components.first().map_or(0, Vec::len);
    let total = |r: usize| -> Option<f64> {
        let mut any = false;
        let mut s = 0.0;
        for (c, w) in exp.components.iter().zip(weights) {
            if let Some(v) = c[r] {
                any = true;
                s += w * v;
            }
        }
        any.then_some(s)
    };
    let all: Vec<f64> = (0..n_rows).filter_map(total).collect();
    let (rm, rs) = mean_std(&all);
    m.insert("reward".into(), json!(rm));
    m.insert("reward_std".into(), json!(rs));
    let und: Vec<f64> = (0..und_rows.min(n_rows)).filter_map(total).collect();
    if !und.is_empty() {
        m.insert("understanding/reward".into(), json!(mean_std(&und).0));
    }
    let generation: Vec<f64> = (und_rows..n_rows).filter_map(total).collect();
    if !generation.is_empty() {
        m.insert("generation/reward".into(), json!(mean_std(&generation).0));
    }
    m.insert(
        "frac_reward_zero_std".into(),
        json!(exp.advantages.frac_zero_std()),
    );
    for (c, name) in exp.components.iter().zip(names) {
        let v: Vec<f64> = c.iter().flatten().copied().collect();
        let (a, b) = mean_std(&v);
        m.insert(format!("rewards/{name}/mean"), json!(a));
        m.insert(format!("rewards/{name}/std"), json!(b));
    }
    let s = &rep.stats;
    let per_tok = |x: f64| if s.tokens > 0.0 { x / s.tokens } else { 0.0 };
    m.insert("loss".into(), json!(rep.loss));
    m.insert("grad_norm".into(), json!(rep.grad_norm));
    m.insert("learning_rate".into(), json!(lr));
    m.insert("entropy".into(), json!(per_tok(s.neg_logp)));
    if cfg.beta != 0.0 {
        m.insert("kl".into(), json!(per_tok(s.kl)));
    }
    m.insert("clip_ratio/low_mean".into(), json!(per_tok(s.clip_low)));
    m.insert("clip_ratio/high_mean".into(), json!(per_tok(s.clip_high)));
    m.insert(
        "clip_ratio/region_mean".into(),
        json!(per_tok(s.clip_region)),
    );
    m.insert("policy_logp_drift".into(), json!(rep.ratio_drift));
    if cfg.algorithm == super::config::Algorithm::Grpo {
        m.insert(
            "sampling/sampling_logp_difference/mean".into(),
            json!(rep.sampler_gap_mean),
        );
        m.insert(
            "sampling/sampling_logp_difference/max".into(),
            json!(rep.sampler_gap_max),
        );
    }
    let lens: Vec<f64> = exp.und.iter().map(|r| r.0.response.len() as f64).collect();
    if !lens.is_empty() {
        m.insert("completions/mean_length".into(), json!(mean_std(&lens).0));
        m.insert(
            "completions/min_length".into(),
            json!(lens.iter().copied().fold(f64::INFINITY, f64::min)),
        );
        m.insert(
            "completions/max_length".into(),
            json!(lens.iter().copied().fold(0.0, f64::max)),
        );
        let clipped = exp.und.iter().filter(|r| r.0.truncated).count() as f64 / lens.len() as f64;
        m.insert("completions/clipped_ratio".into(), json!(clipped));
    }
    m.insert("num_groups".into(), json!(exp.groups.len()));
    if cfg.dynamic_sampling {
        m.insert(
            "dynamic_sampling/dropped_groups".into(),
            json!(exp.dropped_groups),
        );
    }
    Value::Object(m)
}

/// Held-out numbers as `eval/*` keys.
pub fn add_eval(line: &mut Value, r: &EvalReport) {
    line["eval/mc_accuracy"] = json!(r.mc_accuracy);
    line["eval/geneval_overall"] = json!(r.geneval.overall);
    line["eval/geneval_dense"] = json!(r.geneval.mean_dense_score);
    if let Some(c) = &r.captions {
        line["eval/caption_accuracy"] = json!(c.caption.acc());
        line["eval/caption_exact"] = json!(c.caption_exact.acc());
        line["eval/caption_sampled_accuracy"] = json!(c.caption_sampled.acc());
        line["eval/caption_to_image"] = json!(c.caption_to_image.acc());
    }
}

/// A report as JSON (without the images).
pub fn eval_json(r: &EvalReport) -> Value {
    json!({
        "mc_accuracy": r.mc_accuracy,
        "mc_by_type": r.mc_by_type,
        "mc_unparsed": r.mc_unparsed,
        "geneval": r.geneval,
        "captions": r.captions,
    })
}

/// Rewrites the log from a checkpoint's history (dropping lines of steps
/// after it, which a resumed run redoes).
pub fn rewrite(path: &Path, history: &[Value]) -> Result<()> {
    let mut text = String::new();
    for h in history {
        text.push_str(&h.to_string());
        text.push('\n');
    }
    Ok(duet_data::io::write_atomic(path, text.as_bytes())?)
}

/// Appends one line (a crash can at worst lose the line being written;
/// `rewrite` on resume makes the log agree with the checkpoint).
pub fn append(path: &Path, line: &Value) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| RlError::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| RlError::io(path, e))
}
