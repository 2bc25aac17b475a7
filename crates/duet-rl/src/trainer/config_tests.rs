//! Tests of the trainer config: presets, layering, validation.

use super::*;
use crate::rewards::RewardKind;

#[test]
fn contrastive_r_g_needs_two_prompts_per_step() {
    let text = "preset = \"grpo\"\nprompts_per_step = 1\nrewards = [{ type = \"dual_generation\", form = \"contrastive\" }]";
    let e = RlConfig::from_str(text, "c.toml").unwrap_err().to_string();
    assert!(
        e.contains("c.toml") && e.contains("prompts_per_step"),
        "{e}"
    );
    let ok = text.replace("prompts_per_step = 1", "prompts_per_step = 2");
    assert!(RlConfig::from_str(&ok, "c.toml").is_ok());
}

#[test]
fn every_preset_parses_and_layers() {
    for (name, _) in PRESETS {
        let c = RlConfig::preset(name).unwrap();
        assert_eq!(c.preset.as_deref(), Some(name));
        assert!(!c.rewards.is_empty(), "{name}");
    }
    let p = RlConfig::preset("pairgrpo").unwrap();
    assert!(p.pairs.is_some());
    assert_eq!(p.pair_weight, PairWeightFn::Sqrt);
    let s = RlConfig::preset("dual-simpo").unwrap();
    assert_eq!(s.algorithm, Algorithm::Simpo);
    assert_eq!(s.understanding_task, UndTask::Caption);
    assert!(matches!(
        s.rewards[0].kind,
        RewardKind::DualUnderstanding { .. }
    ));
}

#[test]
fn overrides_and_errors_name_the_problem() {
    let c = RlConfig::from_str(
        "preset = \"grpo\"\nmax_steps = 7\n[eval]\nmax_prompts = 3",
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.max_steps, 7);
    assert_eq!(c.eval.max_prompts, 3);
    // Untouched keys of a table keep the preset's values.
    assert_eq!(c.eval.max_mc_items, 200);
    let e = RlConfig::from_str("preset = \"nope\"", "x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.toml") && e.contains("unknown preset `nope`"),
        "{e}"
    );
    let e = RlConfig::from_str("preset = \"grpo\"\nnum_generations = 1", "y.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("y.toml") && e.contains("num_generations"), "{e}");
    let e = RlConfig::from_str("preset = \"grpo\"\nloss_typ = \"dapo\"", "z.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loss_typ"), "{e}");
}
