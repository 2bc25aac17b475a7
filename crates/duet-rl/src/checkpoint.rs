//! Training checkpoints in HF Trainer's layout: `<output_dir>/checkpoint-<step>/`
//! holding the model files, `optimizer.safetensors` and `trainer_state.json`.
//!
//! A checkpoint directory is written under a temporary name and renamed into
//! place, so a run killed at any moment leaves either the complete previous
//! checkpoint or the complete new one. Randomness is derived from
//! `(seed, step)` (see [`step_rng`]), so the step is all the RNG state a
//! resumed run needs.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};

pub const TRAINER_STATE: &str = "trainer_state.json";
pub const OPTIMIZER: &str = "optimizer.safetensors";

/// `trainer_state.json`: where a run is and how it got there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Updates completed.
    pub global_step: usize,
    pub max_steps: usize,
    /// The run's seed; with `global_step` it fixes every later random draw.
    pub seed: u64,
    /// Metrics logged so far (one object per logging step), as HF.
    #[serde(default)]
    pub log_history: Vec<serde_json::Value>,
    /// Stage-specific state (e.g. the VQ's code-usage counters).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// The random stream of one step: the same `(seed, step)` always draws the
/// same numbers, whether or not the run was resumed in between.
pub fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step as u64 + 1);
    rng
}

/// Writes `checkpoint-<step>` in `output_dir`: `write_model` fills the
/// directory, then the trainer state is added and the directory renamed
/// into place. Older checkpoints beyond `keep` are removed.
pub fn save(
    output_dir: &Path,
    state: &TrainerState,
    keep: usize,
    write_model: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(output_dir).map_err(|e| RlError::io(output_dir, e))?;
    let name = format!("checkpoint-{}", state.global_step);
    let tmp = output_dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    write_model(&tmp)?;
    let text = serde_json::to_string_pretty(state).expect("plain data");
    duet_data::io::write_atomic(&tmp.join(TRAINER_STATE), text.as_bytes())?;
    let dest = output_dir.join(&name);
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| RlError::io(&dest, e))?;
    }
    std::fs::rename(&tmp, &dest).map_err(|e| RlError::io(&dest, e))?;
    let mut all = list(output_dir)?;
    while all.len() > keep.max(1) {
        let (_, old) = all.remove(0);
        std::fs::remove_dir_all(&old).map_err(|e| RlError::io(&old, e))?;
    }
    Ok(dest)
}

/// A stage's checkpoint settings.
pub struct SavePolicy {
    pub max_steps: usize,
    /// Save every this many steps (0 = only at the end).
    pub save_steps: usize,
    pub save_total_limit: usize,
    pub seed: u64,
}

/// Saves `checkpoint-<done>` when `done` is a multiple of `save_steps` or
/// the last step (and an output directory is given).
pub fn save_if_due(
    output_dir: Option<&Path>,
    policy: &SavePolicy,
    done: usize,
    history: &[serde_json::Value],
    extra: serde_json::Value,
    write_model: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let due = done == policy.max_steps
        || (policy.save_steps > 0 && done.is_multiple_of(policy.save_steps));
    let Some(dir) = output_dir.filter(|_| due) else {
        return Ok(());
    };
    let state = TrainerState {
        global_step: done,
        max_steps: policy.max_steps,
        seed: policy.seed,
        log_history: history.to_vec(),
        extra,
    };
    save(dir, &state, policy.save_total_limit, write_model).map(|_| ())
}

/// Complete checkpoints in `output_dir`, oldest first.
pub fn list(output_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(output_dir) else {
        return Ok(out);
    };
    for e in entries {
        let e = e.map_err(|e| RlError::io(output_dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(step) = name
            .strip_prefix("checkpoint-")
            .and_then(|s| s.parse().ok())
            && e.path().join(TRAINER_STATE).is_file()
        {
            out.push((step, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint, if any.
pub fn latest(output_dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(output_dir)?.pop().map(|(_, p)| p))
}

/// Reads `trainer_state.json` of a checkpoint directory.
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(TRAINER_STATE);
    let text = std::fs::read_to_string(&path).map_err(|e| RlError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| RlError::Checkpoint {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn step_streams_are_reproducible_and_distinct() {
        let a: u64 = step_rng(7, 3).random();
        let b: u64 = step_rng(7, 3).random();
        let c: u64 = step_rng(7, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn save_keeps_the_newest_and_ignores_incomplete_directories() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = TrainerState {
            global_step: 0,
            max_steps: 10,
            seed: 1,
            log_history: vec![],
            extra: serde_json::Value::Null,
        };
        for step in [2, 4, 6] {
            state.global_step = step;
            save(dir.path(), &state, 2, |d| {
                std::fs::write(d.join("model.bin"), b"x").map_err(|e| RlError::io(d, e))
            })
            .unwrap();
        }
        // A directory without trainer_state.json (killed mid-write) is not a checkpoint.
        std::fs::create_dir_all(dir.path().join("checkpoint-8")).unwrap();
        let steps: Vec<usize> = list(dir.path()).unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(steps, vec![4, 6]);
        let last = latest(dir.path()).unwrap().unwrap();
        assert_eq!(read_state(&last).unwrap().global_step, 6);
        assert!(last.join("model.bin").is_file());
    }
}
