//! `duet rl` on a miniature base: a run killed with SIGKILL at a random
//! moment and resumed ends with the same metrics and weights as an
//! uninterrupted run; a non-finite reward stops the step with a clear error
//! before any checkpoint of it is written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use burn::backend::Autodiff;
use duet_model::Cpu;
use duet_rl::eval::EvalConfig;
use duet_rl::pretrain::encoder::EncoderTrainConfig;
use duet_rl::pretrain::recipe::{self, DataSection, Progress, Recipe, RunLayout, Stage};
use duet_rl::pretrain::sft::SftTrainConfig;
use duet_rl::pretrain::vq::VqTrainConfig;
use duet_rl::rewards::{Reward, Sample, ScoreCtx};
use duet_rl::trainer::config::RlConfig;
use duet_rl::trainer::{Quiet, train_with};

type B = Autodiff<Cpu>;

struct Silent;
impl Progress for Silent {
    fn stage(&mut self, _: &str, _: usize, _: usize) {}
    fn step(&mut self, _: usize, _: String) {}
    fn finish(&mut self, _: String) {}
}

/// A miniature base (random-ish weights after a few SFT steps), built once.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let r = Recipe {
            preset: "shapeworld".into(),
            data: DataSection {
                n: 60,
                seed: 3,
                layout: Default::default(),
                option_order: Default::default(),
                rl: 0,
            },
            vq: VqTrainConfig {
                max_steps: 2,
                batch_size: 2,
                ..Default::default()
            },
            encoder: EncoderTrainConfig {
                max_steps: 2,
                batch_size: 4,
                ..Default::default()
            },
            encoder_eval_scenes: 8,
            init_vision_from_encoder: true,
            sft: SftTrainConfig {
                max_steps: 2,
                understanding_batch_size: 2,
                generation_batch_size: 2,
                ..Default::default()
            },
            eval: EvalConfig::default(),
        };
        let layout = RunLayout { root: dir.clone() };
        recipe::run::<B>(
            &r,
            &layout,
            &[Stage::Vq, Stage::Encoder, Stage::Sft],
            false,
            &Default::default(),
            &mut Silent,
        )
        .unwrap();
        dir
    })
}

fn config(out: &Path) -> String {
    format!(
        r#"
preset = "grpo"
base = "{base}"
output_dir = "{out}"
max_steps = 6
save_steps = 2
save_total_limit = 5
prompts_per_step = 1
num_generations = 3
micro_batch_size = 8
# The ratio moves within a step, and a frozen reference is scored.
num_iterations = 2
beta = 0.04
learning_rate = 1e-3
eval_steps = 3
eval_on_start = false
[eval]
max_mc_items = 4
max_prompts = 1
images_per_prompt = 1
[final_eval]
max_mc_items = 4
max_prompts = 1
images_per_prompt = 1
"#,
        base = base().display(),
        out = out.display()
    )
}

/// Metrics without wall-clock fields.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let m = v.as_object_mut().unwrap();
            m.retain(|k, _| !k.starts_with("timing_s/") && k != "step_time");
            v
        })
        .collect()
}

fn duet_rl(cfg: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_duet"));
    c.args(["rl", "--config", cfg.to_str().unwrap()]);
    if resume {
        c.arg("--resume");
    }
    c.env("RUST_BACKTRACE", "0");
    c
}

#[test]
fn killed_and_resumed_run_matches_an_uninterrupted_one() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let (ca, cb) = (t.path().join("a.toml"), t.path().join("b.toml"));
    std::fs::write(&ca, config(&a)).unwrap();
    std::fs::write(&cb, config(&b)).unwrap();
    let t0 = Instant::now();
    let out = duet_rl(&ca, false).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = t0.elapsed();
    // Kill at a random moment after the first checkpoint (seeded by the
    // clock: any moment must work).
    let mut child = duet_rl(&cb, false)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !b.join("checkpoint-2").join("trainer_state.json").exists() {
        assert!(started.elapsed() < full * 3, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let remaining = full.saturating_sub(started.elapsed()).as_millis() as u64;
    std::thread::sleep(Duration::from_millis(nanos % remaining.max(1) / 2));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Starting afresh over the checkpoints is refused; --resume continues.
    let refused = duet_rl(&cb, false).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));
    let out = duet_rl(&cb, true).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ma, mb) = (metrics(&a), metrics(&b));
    assert_eq!(ma.len(), 6);
    assert_eq!(mb.len(), 6);
    // Same keys, same values: exactly for counts and rewards, and to 1e-6
    // relative for float statistics (a reloaded Linear weight is a transposed
    // view, so GEMMs may round differently in the last bit; see
    // docs/parity.md).
    for (x, y) in ma.iter().zip(&mb) {
        let (x, y) = (x.as_object().unwrap(), y.as_object().unwrap());
        assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
        for (k, v) in x {
            let w = &y[k];
            match (v.as_f64(), w.as_f64()) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-3),
                    "step {}: `{k}` differs after resume: {a} vs {b}",
                    x["step"]
                ),
                _ => assert_eq!(v, w, "step {}: `{k}`", x["step"]),
            }
        }
        for k in [
            "reward",
            "rewards/mc_accuracy/mean",
            "num_groups",
            "completions/mean_length",
        ] {
            assert_eq!(x[k], y[k], "step {}: `{k}` must match exactly", x["step"]);
        }
    }
    // The ratio moved in the second iteration and the KL was measured.
    assert!(
        ma.iter()
            .any(|m| m["policy_logp_drift"].as_f64().unwrap() > 0.0)
    );
    assert!(ma.iter().all(|m| m["kl"].as_f64().unwrap().is_finite()));
    assert!(ma[2].get("eval/mc_accuracy").is_some());
    let w = |d: &Path| std::fs::read(d.join("checkpoint-6").join("model.safetensors")).unwrap();
    assert!(w(&a) == w(&b), "final weights differ");
}

/// A reward that turns NaN on its `at`-th call.
struct NanAt {
    calls: usize,
    at: usize,
}

impl Reward<Cpu> for NanAt {
    fn name(&self) -> &str {
        "nan_probe"
    }
    fn score(
        &mut self,
        _: &ScoreCtx<Cpu>,
        samples: &[Sample],
    ) -> duet_rl::Result<Vec<Option<f64>>> {
        self.calls += 1;
        let v = if self.calls == self.at { f64::NAN } else { 0.5 };
        Ok(samples.iter().map(|_| Some(v)).collect())
    }
}

#[test]
fn a_nan_reward_stops_the_step_before_its_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    let mut cfg = RlConfig::from_str(&config(&out), "test").unwrap();
    cfg.save_steps = 1;
    cfg.num_iterations = 1;
    cfg.beta = 0.0;
    cfg.eval_steps = 0;
    let err = train_with::<B>(
        &cfg,
        false,
        &Default::default(),
        &mut Quiet,
        vec![(Box::new(NanAt { calls: 0, at: 2 }), 1.0)],
    )
    .err()
    .expect("the NaN must stop the run");
    let msg = err.to_string();
    assert!(msg.contains("non-finite reward `nan_probe`"), "{msg}");
    assert!(out.join("checkpoint-1").is_dir());
    assert!(!out.join("checkpoint-2").exists());
    assert_eq!(metrics(&out).len(), 1);
}

/// The dual preset in both directions on captions: rollouts are captions
/// (R_U with the caption restated as a GenEval prompt) and
/// caption-conditioned images (R_G as the self-check over sampled
/// captions), scored by the frozen initial model; the held-out evaluation
/// captions and draws test scenes.
#[test]
fn dual_preset_trains_on_captions_both_ways() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("run");
    let cfg = t.path().join("dual.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
preset = "dual-grpo"
base = "{base}"
output_dir = "{out}"
generation_prompt = "caption"
rewards = [
    {{ type = "dual_understanding", scorer = "frozen_init", prompt = "geneval" }},
    {{ type = "dual_generation", scorer = "frozen_init", form = "self_check", samples = 2 }},
    {{ type = "dual_generation", name = "r_g_contrastive", scorer = "frozen_init", form = "contrastive", weight = 0.0 }},
]
max_steps = 2
save_steps = 2
prompts_per_step = 2
num_generations = 3
eval_steps = 0
eval_on_start = false
[final_eval]
max_mc_items = 2
max_prompts = 1
images_per_prompt = 1
caption_scenes = 3
"#,
            base = base().display(),
            out = out.display()
        ),
    )
    .unwrap();
    let run = duet_rl(&cfg, false).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = metrics(&out);
    assert_eq!(m.len(), 2);
    // R_U is a mean log-probability; R_G a share of passing captions.
    let r_u = m[0]["rewards/dual_understanding/mean"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(r_u < 0.0, "R_U = {r_u}");
    let r_g = m[0]["rewards/dual_generation/mean"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!((0.0..=1.0).contains(&r_g), "R_G = {r_g}");
    // ℓ(own) − log mean_j exp ℓ_j ≤ log J, with J ≤ 2 prompts per step
    // (unscorable, hence absent, when both prompts are the same).
    let mut seen = 0;
    for line in &m {
        if let Some(c) = line["rewards/r_g_contrastive/mean"].as_f64() {
            assert!(
                c.is_finite() && c <= 2f64.ln() + 1e-9,
                "contrastive R_G = {c}"
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no step scored the contrastive R_G: {m:?}");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("eval_after.json")).unwrap()).unwrap();
    assert_eq!(after["captions"]["caption"]["num"], 3);
    assert_eq!(after["captions"]["caption_to_image"]["num"], 3);
    assert_eq!(after["captions"]["caption_sampled"]["num"], 3 * 4);
}
