//! Checkpoints in Hugging Face's layout: `config.json`,
//! `generation_config.json` (optional), `model.safetensors` or shards with an
//! index, and `tokenizer.json` copied along. Saving writes the same layout
//! (f32), each file atomically, so transformers loads what duet trains.

use std::io::Write;
use std::path::Path;

use burn::prelude::*;

use crate::config::{GenerationIds, JanusConfig};
use crate::error::{ModelError, Result};
use crate::hf_keys::{HfModule, LM_HEAD};
use crate::janus::Janus;
use crate::weights::{Layout, Loader, ParamVisitor, Saver, WeightMap};

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| ModelError::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// Reads `config.json` of a checkpoint directory.
pub fn read_config(dir: &Path) -> Result<JanusConfig> {
    let p = dir.join("config.json");
    JanusConfig::from_json(&read(&p)?, &p.display().to_string())
}

/// Reads `generation_config.json` if present.
pub fn read_generation_ids(dir: &Path) -> Result<Option<GenerationIds>> {
    let p = dir.join("generation_config.json");
    if !p.is_file() {
        return Ok(None);
    }
    serde_json::from_str(&read(&p)?)
        .map(Some)
        .map_err(|e| ModelError::Config {
            path: p.display().to_string(),
            message: e.to_string(),
        })
}

/// Loads weights into `model` by HF key. Every parameter must be present
/// with its exact shape and every stored tensor must be used; `lm_head` is
/// tied to the token embedding only when the checkpoint lacks it.
pub fn load_weights<B: Backend>(
    model: &mut Janus<B>,
    weights: &WeightMap,
    device: &B::Device,
) -> Result<()> {
    let mut loader = Loader::<B>::new(weights, device);
    model.visit_hf_body(&mut loader)?;
    if weights.contains(&format!("{LM_HEAD}.weight")) {
        model.lm_head.visit_hf(LM_HEAD, &mut loader)?;
    } else {
        let emb = model.language_model.embed_tokens.weight.val(); // [V, D]
        let w = emb.transpose(); // burn Linear: [D, V]
        model.lm_head.weight = model
            .lm_head
            .weight
            .clone()
            .transform_for_load(w, model.lm_head.weight.id);
    }
    let unused = loader.unused();
    if !unused.is_empty() {
        return Err(ModelError::UnexpectedTensors {
            path: weights.source.clone(),
            keys: unused.join(", "),
        });
    }
    Ok(())
}

/// Builds the model described by `dir/config.json` and loads its weights.
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<(JanusConfig, Janus<B>)> {
    let cfg = read_config(dir)?;
    let weights = WeightMap::open(dir)?;
    let mut model = cfg.init_lazy::<B>(device);
    load_weights(&mut model, &weights, device)?;
    Ok((cfg, model))
}

/// Writes bytes through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |e| ModelError::Io {
        path: path.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Saves `model` as an HF checkpoint in `dir`: `model.safetensors` (f32,
/// HF keys, untied `lm_head`), `config.json`, `generation_config.json` when
/// given, and a copy of `tokenizer` when given.
pub fn save<B: Backend>(
    model: &Janus<B>,
    cfg: &JanusConfig,
    generation: Option<&GenerationIds>,
    tokenizer: Option<&Path>,
    dir: &Path,
) -> Result<()> {
    let mut saver = Saver::default();
    let mut m = model.clone();
    m.visit_hf_body(&mut saver)?;
    <Saver as ParamVisitor<B>>::visit(
        &mut saver,
        &format!("{LM_HEAD}.weight"),
        &mut m.lm_head.weight,
        Layout::Transposed,
    )?;
    write_atomic(&dir.join("model.safetensors"), &saver.to_bytes()?)?;
    let mut config = serde_json::to_value(cfg).expect("plain data");
    // transformers' strict config classes reject `null` for typed fields
    // (e.g. `num_patches`); an absent key takes their default instead.
    drop_nulls(&mut config);
    config["architectures"] = serde_json::json!(["JanusForConditionalGeneration"]);
    config["tie_word_embeddings"] = serde_json::json!(false);
    config["dtype"] = serde_json::json!("float32");
    let text = serde_json::to_string_pretty(&config).expect("plain data");
    write_atomic(&dir.join("config.json"), text.as_bytes())?;
    if let Some(g) = generation {
        let text = serde_json::to_string_pretty(g).expect("plain data");
        write_atomic(&dir.join("generation_config.json"), text.as_bytes())?;
    }
    if let Some(t) = tokenizer {
        let bytes = std::fs::read(t).map_err(|e| ModelError::Io {
            path: t.display().to_string(),
            source: e,
        })?;
        write_atomic(&dir.join("tokenizer.json"), &bytes)?;
    }
    Ok(())
}
