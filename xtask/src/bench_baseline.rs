//! `cargo xtask bench save` / `cargo xtask bench check`: criterion baselines
//! of every bench target, and one command that names each bench whose mean
//! time rose by more than a threshold since the saved baseline (and fails).
//! Baselines live in cargo's target dir, so they compare runs on one machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, bail};
use serde_json::Value;

/// Every criterion bench target: (package, bench).
const BENCHES: [(&str, &str); 3] = [
    ("duet-model", "sampling"),
    ("duet-rl", "grpo_step"),
    ("duet-eval", "scorers"),
];

#[derive(clap::Args)]
pub struct BaselineArgs {
    /// Baseline name (criterion's `--save-baseline` / `--baseline`).
    #[arg(long, default_value = "main")]
    name: String,
    /// Only the benches whose id matches this criterion filter (a regex).
    filter: Option<String>,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    base: BaselineArgs,
    /// A mean time this many percent above the baseline's is a regression.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
}

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| PathBuf::from("target"), PathBuf::from)
}

fn run_benches(criterion_args: &[&str], filter: Option<&str>) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (pkg, bench) in BENCHES {
        let mut cmd = Command::new(&cargo);
        cmd.args(["bench", "-q", "-p", pkg, "--bench", bench, "--"]);
        cmd.args(criterion_args);
        cmd.args(filter);
        let status = cmd
            .status()
            .with_context(|| format!("running {cargo} bench"))?;
        anyhow::ensure!(
            status.success(),
            "`cargo bench -p {pkg} --bench {bench}` failed"
        );
    }
    Ok(())
}

/// `cargo xtask bench save`: runs every bench and saves it as baseline.
pub fn save(a: BaselineArgs) -> anyhow::Result<()> {
    run_benches(&["--save-baseline", &a.name], a.filter.as_deref())?;
    println!(
        "saved baseline `{}` under {}/criterion; compare with `cargo xtask bench check --name {}`",
        a.name,
        target_dir().display(),
        a.name
    );
    Ok(())
}

/// One bench's change against the baseline, from criterion's files.
struct Change {
    id: String,
    mean: f64,
    lower: f64,
    upper: f64,
}

impl Change {
    /// Slower by more than `limit` (a fraction), and surely slower at all.
    fn regressed(&self, limit: f64) -> bool {
        self.mean > limit && self.lower > 0.0
    }
}

fn read_json(p: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// Every `change/estimates.json` under `dir` written since `since`.
fn changes(dir: &Path, since: SystemTime, out: &mut Vec<Change>) -> anyhow::Result<()> {
    let est = dir.join("change/estimates.json");
    if est.is_file() && std::fs::metadata(&est)?.modified()? >= since {
        let e = read_json(&est)?;
        let meta = read_json(&dir.join("new/benchmark.json"))?;
        let f = |path: &[&str]| {
            let v = path.iter().fold(&e["mean"], |v, k| &v[*k]);
            v.as_f64()
                .with_context(|| format!("{}: no mean.{}", est.display(), path.join(".")))
        };
        out.push(Change {
            id: meta["full_id"].as_str().unwrap_or("?").to_string(),
            mean: f(&["point_estimate"])?,
            lower: f(&["confidence_interval", "lower_bound"])?,
            upper: f(&["confidence_interval", "upper_bound"])?,
        });
    }
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && !matches!(name, "change" | "new" | "base" | "report") {
            changes(&p, since, out)?;
        }
    }
    Ok(())
}

/// `cargo xtask bench check`: runs every bench against the baseline and
/// fails when one is slower by more than the threshold (the whole 95 %
/// interval of its mean change above zero, the estimate above threshold).
pub fn check(a: CheckArgs) -> anyhow::Result<()> {
    let start = SystemTime::now();
    let name = &a.base.name;
    run_benches(&["--baseline-lenient", name], a.base.filter.as_deref())?;
    let root = target_dir().join("criterion");
    let mut found = Vec::new();
    if root.is_dir() {
        changes(&root, start, &mut found)?;
    }
    if found.is_empty() {
        bail!(
            "no bench that ran had a baseline `{name}` under {} (check the filter; save one with `cargo xtask bench save --name {name}`)",
            root.display()
        );
    }
    found.sort_by(|x, y| y.mean.total_cmp(&x.mean));
    let limit = a.threshold / 100.0;
    let mut regressed = 0;
    println!("| bench | mean time vs `{name}` | 95 % interval | |\n|---|---|---|---|");
    for c in &found {
        let bad = c.regressed(limit);
        regressed += usize::from(bad);
        println!(
            "| {} | {:+.1} % | {:+.1} … {:+.1} % | {} |",
            c.id,
            100.0 * c.mean,
            100.0 * c.lower,
            100.0 * c.upper,
            if bad { "**regressed**" } else { "" }
        );
    }
    if regressed > 0 {
        bail!(
            "{regressed} of {} benches are more than {} % slower than baseline `{name}`",
            found.len(),
            a.threshold
        );
    }
    println!(
        "no bench more than {} % slower than baseline `{name}` ({} compared)",
        a.threshold,
        found.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench_dir(root: &Path, rel: &str, id: &str, mean: f64, lower: f64, upper: f64) {
        let d = root.join(rel);
        std::fs::create_dir_all(d.join("change")).unwrap();
        std::fs::create_dir_all(d.join("new")).unwrap();
        let ci =
            format!(r#"{{"lower_bound":{lower},"upper_bound":{upper},"confidence_level":0.95}}"#);
        let est = format!(r#"{{"mean":{{"point_estimate":{mean},"confidence_interval":{ci}}}}}"#);
        std::fs::write(d.join("change/estimates.json"), est).unwrap();
        std::fs::write(
            d.join("new/benchmark.json"),
            format!(r#"{{"full_id":"{id}"}}"#),
        )
        .unwrap();
    }

    /// Criterion's files are found at any depth and read into changes; only
    /// a mean above the threshold with an interval above zero regresses.
    #[test]
    fn reads_criterion_changes_and_flags_regressions() {
        let root = std::env::temp_dir().join(format!("duet-xtask-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let since = SystemTime::now() - std::time::Duration::from_secs(5);
        bench_dir(&root, "g/a/1", "g/a/1", 0.25, 0.15, 0.35);
        bench_dir(&root, "g/b", "g/b", 0.12, -0.02, 0.25);
        bench_dir(&root, "h", "h", -0.30, -0.35, -0.25);
        let mut found = Vec::new();
        changes(&root, since, &mut found).unwrap();
        found.sort_by(|x, y| x.id.cmp(&y.id));
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["g/a/1", "g/b", "h"]);
        let flags: Vec<bool> = found.iter().map(|c| c.regressed(0.10)).collect();
        assert_eq!(flags, [true, false, false]);
        assert!(!found[0].regressed(0.30), "25 % is under a 30 % threshold");
        let mut later = Vec::new();
        changes(
            &root,
            SystemTime::now() + std::time::Duration::from_secs(60),
            &mut later,
        )
        .unwrap();
        assert!(
            later.is_empty(),
            "files older than the run are not this run's"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
