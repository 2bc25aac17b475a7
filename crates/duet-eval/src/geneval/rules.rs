//! GenEval's per-image rules, on detections.
//!
//! [`evaluate`] reproduces GenEval's `evaluate` (include clauses AND, exclude
//! clauses OR, colour and position judged on the top-`count` detections, the
//! same reason strings). [`evaluate_dense`] is the partial-credit score of RL
//! reward servers (flow-GRPO's `reward-server`), with two deliberate fixes
//! documented there.

use std::collections::BTreeMap;

use duet_data::geometry::relative_position;
use duet_data::records::{GenEvalMetadata, Task};

use crate::detector::Detection;

/// GenEval's colour names, in its order (used for the colour reason).
pub const GENEVAL_COLORS: [&str; 10] = [
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
];

/// Detection filtering knobs, at GenEval's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum confidence (strictly greater) for every task but counting.
    pub threshold: f64,
    /// Minimum confidence for counting.
    pub counting_threshold: f64,
    /// Most detections kept per class.
    pub max_objects: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            threshold: 0.3,
            counting_threshold: 0.9,
            max_objects: 16,
        }
    }
}

/// Detections kept per class, most confident first.
pub type Objects = BTreeMap<String, Vec<Detection>>;

/// Keeps detections above the task's threshold, at most `max_objects` per
/// class, sorted by descending confidence.
pub fn filter_detections(dets: &[Detection], tag: Task, th: &Thresholds) -> Objects {
    let thr = if tag == Task::Counting {
        th.counting_threshold
    } else {
        th.threshold
    };
    let mut out: Objects = BTreeMap::new();
    for d in dets.iter().filter(|d| d.score > thr) {
        out.entry(d.class.clone()).or_default().push(d.clone());
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        v.truncate(th.max_objects);
    }
    out
}

fn found<'a>(objects: &'a Objects, class: &str, take: usize) -> &'a [Detection] {
    objects
        .get(class)
        .map(|v| &v[..v.len().min(take)])
        .unwrap_or(&[])
}

fn colors_of(dets: &[Detection]) -> Vec<&str> {
    dets.iter()
        .map(|d| d.color.as_deref().unwrap_or(""))
        .collect()
}

/// GenEval's verdict: `(correct, reason)`, reason empty when correct and the
/// failure reasons joined by newlines otherwise.
pub fn evaluate(objects: &Objects, meta: &GenEvalMetadata) -> (bool, String) {
    let mut correct = true;
    let mut reason = Vec::new();
    let mut groups: Vec<Option<&[Detection]>> = Vec::new();
    for req in &meta.include {
        let n = req.count as usize;
        let got = found(objects, &req.class, n);
        let mut matched = true;
        if got.len() < n {
            matched = false;
            reason.push(format!("expected {}>={n}, found {}", req.class, got.len()));
        } else {
            if let Some(color) = &req.color {
                let colors = colors_of(got);
                let k = colors.iter().filter(|c| *c == color).count();
                if k < n {
                    matched = false;
                    let others: Vec<String> = GENEVAL_COLORS
                        .iter()
                        .filter(|c| colors.contains(c))
                        .map(|c| format!("{} {c}", colors.iter().filter(|x| *x == c).count()))
                        .collect();
                    reason.push(format!(
                        "expected {color} {}>={n}, found {k} {color}; and {}",
                        req.class,
                        others.join(", ")
                    ));
                }
            }
            if let (Some((rel, target)), true) = (req.position, matched) {
                match groups.get(target).copied().flatten() {
                    None => {
                        matched = false;
                        reason.push(format!("no target for {} to be {}", req.class, rel.name()));
                    }
                    Some(tgt) => {
                        'pairs: for a in got {
                            for b in tgt {
                                let rels = relative_position(&a.bbox, &b.bbox);
                                if !rels.contains(&rel) {
                                    matched = false;
                                    let names: Vec<&str> = rels.iter().map(|r| r.name()).collect();
                                    reason.push(format!(
                                        "expected {} {} target, found {} target",
                                        req.class,
                                        rel.name(),
                                        names.join(" and ")
                                    ));
                                    break 'pairs;
                                }
                            }
                        }
                    }
                }
            }
        }
        correct &= matched;
        groups.push(matched.then_some(got));
    }
    for req in &meta.exclude {
        let have = objects.get(&req.class).map_or(0, Vec::len);
        if have >= req.count as usize {
            correct = false;
            reason.push(format!(
                "expected {}<{}, found {have}",
                req.class, req.count
            ));
        }
    }
    (correct, reason.join("\n"))
}

/// The reward server's strict verdict and dense score: `(strict_correct,
/// score)`. Per include clause: a count sub-score `1 − |count − found| /
/// count` over *all* kept detections of the class (exact count needed for
/// strictness); then, if the count is exact, a colour sub-score `1 − |count −
/// right colour| / count`, and a position sub-score 1 or 0; a clause whose
/// count is wrong gets 0 for its colour/position term. The score is the mean
/// of the sub-scores.
///
/// Two fixes against the reference, both so the score is a proper [0, 1]
/// reward: count sub-scores are clipped at 0 (the reference goes negative when
/// more than twice the asked objects are found), and a failed position adds
/// only its 0 (the reference also appends a 1, scoring a wrong relation 0.75).
pub fn evaluate_dense(objects: &Objects, meta: &GenEvalMetadata) -> (bool, f64) {
    let mut strict = true;
    let mut subs: Vec<f64> = Vec::new();
    let mut groups: Vec<Option<&[Detection]>> = Vec::new();
    for req in &meta.include {
        let n = req.count as f64;
        let all = objects.get(&req.class).map(|v| &v[..]).unwrap_or(&[]);
        subs.push((1.0 - (n - all.len() as f64).abs() / n).max(0.0));
        let mut matched = all.len() == req.count as usize;
        if !matched {
            if req.color.is_some() || req.position.is_some() {
                subs.push(0.0);
            }
        } else {
            if let Some(color) = &req.color {
                let k = colors_of(all).iter().filter(|c| *c == color).count() as f64;
                subs.push((1.0 - (n - k).abs() / n).max(0.0));
                matched &= k == n;
            }
            if let (Some((rel, target)), true) = (req.position, matched) {
                let ok = groups.get(target).copied().flatten().is_some_and(|tgt| {
                    all.iter().all(|a| {
                        tgt.iter()
                            .all(|b| relative_position(&a.bbox, &b.bbox).contains(&rel))
                    })
                });
                subs.push(if ok { 1.0 } else { 0.0 });
                matched &= ok;
            }
        }
        strict &= matched;
        groups.push(matched.then_some(all));
    }
    let score = if subs.is_empty() {
        0.0
    } else {
        subs.iter().sum::<f64>() / subs.len() as f64
    };
    (strict, score)
}
