//! Tokenizer, chat prompts and image preprocessing.

use std::collections::HashMap;
use std::path::PathBuf;

use burn::prelude::*;
use duet_model::Cpu;
use duet_model::preprocess::{PreprocessConfig, pixel_values};
use duet_model::prompts::{JanusTokenizer, generation_prompt, understanding_prompt};
use duet_model::weights::WeightMap;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, Tokenizer};

type B = Cpu;

/// A word-level tokenizer.json with Janus's special tokens.
fn tokenizer_file(dir: &std::path::Path) -> PathBuf {
    let words = [
        "[UNK]",
        "a",
        "photo",
        "of",
        "red",
        "circle",
        "how",
        "many",
        "?",
        "<",
        "|",
        ">",
        ":",
        "User",
        "Assistant",
    ];
    let vocab: HashMap<String, u32> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Whitespace {}));
    let specials = [
        "<|User|>",
        "<|Assistant|>",
        "<begin_of_image>",
        "<end_of_image>",
        "<image_placeholder>",
        "<eos>",
    ];
    tok.add_special_tokens(
        &specials
            .iter()
            .map(|s| AddedToken::from(s.to_string(), true))
            .collect::<Vec<_>>(),
    );
    let path = dir.join("tokenizer.json");
    tok.save(&path, false).unwrap();
    path
}

#[test]
fn prompts_tokenize_with_special_tokens_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let tok = JanusTokenizer::from_file(&tokenizer_file(dir.path())).unwrap();
    let boi = tok.id("<begin_of_image>").unwrap();
    let ids = tok
        .encode(&generation_prompt("a photo of a red circle", "<eos>"))
        .unwrap();
    assert_eq!(*ids.last().unwrap(), boi);
    assert_eq!(ids[0], tok.id("<|User|>").unwrap());
    assert_eq!(tok.decode(&ids[2..7]).unwrap(), "a photo of a red");
    let img = tok.id("<image_placeholder>").unwrap();
    let ids = tok
        .encode(&understanding_prompt("how many ?", None, 16, "<eos>"))
        .unwrap();
    assert_eq!(ids.iter().filter(|&&t| t == img).count(), 16);
    assert!(
        tok.id("<nope>")
            .unwrap_err()
            .to_string()
            .contains("no token `<nope>`")
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    assert!(
        JanusTokenizer::from_file(&bad)
            .err()
            .unwrap()
            .to_string()
            .contains("bad.json")
    );
}

#[test]
fn preprocessing_matches_transformers_within_a_level() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/janus-tiny");
    let refs = WeightMap::open(&dir.join("reference.safetensors")).unwrap();
    let (rgb, shape) = refs.i64("pre_input_rgb_hwc_uint8").unwrap();
    let img = image::RgbImage::from_raw(
        shape[1] as u32,
        shape[0] as u32,
        rgb.iter().map(|&v| v as u8).collect(),
    )
    .unwrap();
    let got = pixel_values::<B>(&[img], &PreprocessConfig::janus(64), &Default::default());
    let (want, wshape) = refs.f32("pre_pixel_values_pil_backend").unwrap();
    let want = Tensor::<B, 4>::from_data(TensorData::new(want, wshape), &Default::default());
    let diff = (got - want).abs();
    let max: f32 = diff.clone().max().into_scalar();
    let mean: f32 = diff.mean().into_scalar();
    println!(
        "preprocessing vs PIL backend: max abs {max:.4}, mean abs {mean:.5} (one 8-bit level = {:.4})",
        1.0 / 127.5
    );
    // Bicubic implementations differ by up to one 8-bit level (janus.md §8.3
    // measured the same between transformers' own two backends).
    assert!(mean < 1.0 / 127.5, "mean {mean}");
    assert!(max <= 1.0 / 127.5 + 1e-6, "max {max}");
}
