//! Checkpoint loading: errors that name the tensor, dtype upcasts, shards,
//! lm_head tying, and save → load round trips on other configurations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use duet_model::checkpoint;
use duet_model::janus::Janus;
use duet_model::weights::WeightMap;
use duet_model::{Cpu, JanusConfig};
use safetensors::Dtype;

type B = Cpu;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/janus-tiny/checkpoint")
}

/// Writes `tensors` (key → dtype, shape, bytes) as one safetensors file.
fn write_st(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, d, s, b)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::tensor::serialize(
        views,
        Some(HashMap::from([("format".into(), "pt".into())])),
    )
    .unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The fixture's tensors as f32 bytes.
fn fixture_tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let w = WeightMap::open(&fixture()).unwrap();
    let mut keys: Vec<String> = w.keys().cloned().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let (v, s) = w.f32(&k).unwrap();
            (
                k,
                Dtype::F32,
                s,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect()
}

fn checkpoint_with(tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    write_st(&dir.path().join("model.safetensors"), tensors);
    dir
}

fn load(dir: &Path) -> Result<Janus<B>, String> {
    checkpoint::load::<B>(dir, &Default::default())
        .map(|(_, m)| m)
        .map_err(|e| e.to_string())
}

fn logits(m: &Janus<B>) -> Tensor<B, 3> {
    let ids: Vec<u32> = vec![1, 9, 10, 11, 12, 13, 14, 15];
    m.forward_understanding(&ids, 1, None, false).unwrap().0
}

#[test]
fn a_missing_tensor_is_named_with_its_shape() {
    let mut t = fixture_tensors();
    t.retain(|x| x.0 != "model.language_model.layers.1.mlp.up_proj.weight");
    let err = load(checkpoint_with(&t).path()).unwrap_err();
    assert!(
        err.contains("missing tensor `model.language_model.layers.1.mlp.up_proj.weight` (expected shape [176, 64])"),
        "{err}"
    );
}

#[test]
fn a_changed_shape_is_named_with_both_shapes() {
    let mut t = fixture_tensors();
    let x = t
        .iter_mut()
        .find(|x| x.0 == "model.vision_model.post_layernorm.weight")
        .unwrap();
    x.2 = vec![16];
    x.3.truncate(16 * 4);
    let err = load(checkpoint_with(&t).path()).unwrap_err();
    assert!(
        err.contains(
            "tensor `model.vision_model.post_layernorm.weight` has shape [16], expected [32]"
        ),
        "{err}"
    );
}

#[test]
fn an_unexpected_tensor_and_an_integer_weight_are_refused() {
    let mut t = fixture_tensors();
    t.push(("model.extra.weight".into(), Dtype::F32, vec![2], vec![0; 8]));
    let err = load(checkpoint_with(&t).path()).unwrap_err();
    assert!(
        err.contains("unexpected tensor(s) not used by the model: model.extra.weight"),
        "{err}"
    );

    let mut t = fixture_tensors();
    let x = t
        .iter_mut()
        .find(|x| x.0 == "model.language_model.norm.weight")
        .unwrap();
    x.1 = Dtype::I32;
    let err = load(checkpoint_with(&t).path()).unwrap_err();
    assert!(
        err.contains("`model.language_model.norm.weight` has dtype I32"),
        "{err}"
    );
}

#[test]
fn f16_and_bf16_weights_are_upcast() {
    // The fixture already stores the VQ-VAE in bf16; store the decoder in f16 too.
    let w = WeightMap::open(&fixture()).unwrap();
    let t: Vec<_> = fixture_tensors()
        .into_iter()
        .map(|(k, d, s, b)| {
            if k.starts_with("model.language_model.layers.0.") {
                let (v, _) = w.f32(&k).unwrap();
                let h: Vec<u8> = v
                    .iter()
                    .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                    .collect();
                (k, Dtype::F16, s, h)
            } else {
                (k, d, s, b)
            }
        })
        .collect();
    let reference = logits(&load(&fixture()).unwrap());
    let got = logits(&load(checkpoint_with(&t).path()).unwrap());
    let err: f32 = (reference - got).abs().max().into_scalar();
    assert!(
        err > 0.0 && err < 2e-2,
        "f16 rounding should move logits a little: {err}"
    );
}

#[test]
fn sharded_checkpoints_load_through_the_index() {
    let t = fixture_tensors();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let (a, b) = t.split_at(t.len() / 2);
    write_st(&dir.path().join("model-00001-of-00002.safetensors"), a);
    write_st(&dir.path().join("model-00002-of-00002.safetensors"), b);
    let map: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|x| (x.0.clone(), "model-00001-of-00002.safetensors".into()))
        .chain(
            b.iter()
                .map(|x| (x.0.clone(), "model-00002-of-00002.safetensors".into())),
        )
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let reference = logits(&load(&fixture()).unwrap());
    let got = logits(&load(dir.path()).unwrap());
    assert_eq!((reference - got).abs().max().into_scalar(), 0.0);
}

#[test]
fn lm_head_is_tied_only_when_absent() {
    let mut t = fixture_tensors();
    t.retain(|x| x.0 != "lm_head.weight");
    let m = load(checkpoint_with(&t).path()).unwrap();
    let emb = m.language_model.embed_tokens.weight.val();
    let head = m.lm_head.weight.val().transpose();
    assert_eq!((emb - head).abs().max().into_scalar(), 0.0);
}

#[test]
fn every_preset_survives_save_and_load() {
    let dev = Default::default();
    for name in JanusConfig::PRESETS {
        let (cfg, ids) = JanusConfig::preset(name).unwrap();
        let model = cfg.init::<B>(&dev);
        let dir = tempfile::tempdir().unwrap();
        checkpoint::save(&model, &cfg, Some(&ids), None, dir.path()).unwrap();
        let (cfg2, back) = checkpoint::load::<B>(dir.path(), &dev).unwrap();
        assert_eq!(cfg2, cfg, "{name}");
        // transformers' strict config classes refuse `null` for typed fields.
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(
            !text.contains("null"),
            "{name}: config.json has a null: {text}"
        );
        assert_eq!(
            checkpoint::read_generation_ids(dir.path()).unwrap(),
            Some(ids.clone())
        );
        // Weights survive bit for bit: saving the reloaded model gives the same file.
        let again = tempfile::tempdir().unwrap();
        checkpoint::save(&back, &cfg2, Some(&ids), None, again.path()).unwrap();
        let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
        assert!(
            bytes(dir.path()) == bytes(again.path()),
            "{name}: re-saved weights differ"
        );
        // Outputs agree up to summation order (loaded weights are transposed views).
        let ids_in: Vec<u32> = vec![1, 9, 10, 11];
        let a = model
            .forward_understanding(&ids_in, 1, None, false)
            .unwrap()
            .0;
        let b = back
            .forward_understanding(&ids_in, 1, None, false)
            .unwrap()
            .0;
        assert!((a - b).abs().max().into_scalar() < 1e-5, "{name}");
    }
    assert!(
        JanusConfig::preset("huge")
            .unwrap_err()
            .to_string()
            .contains("unknown preset")
    );
}

#[test]
fn inconsistent_configs_are_refused_with_the_file_named() {
    let text = std::fs::read_to_string(fixture().join("config.json")).unwrap();
    let bad = text.replace(
        "\"projection_dim\": 64,\n    \"projection_dropout\"",
        "\"projection_dim\": 48,\n    \"projection_dropout\"",
    );
    assert_ne!(bad, text);
    let err = JanusConfig::from_json(&bad, "x/config.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x/config.json") && err.contains("projection_dim 48"),
        "{err}"
    );
}
