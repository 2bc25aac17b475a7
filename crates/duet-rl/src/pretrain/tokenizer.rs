//! The word-level ShapeWorld tokenizer, built with the `tokenizers` crate and
//! saved as a standard `tokenizer.json`, so the same loader serves it and a
//! real Janus-Pro tokenizer.
//!
//! Ids 0–6 are fixed to match the `shapeworld` model preset: `[PAD]`, BOS,
//! EOS, the CFG pad `<｜▁pad▁｜>`, `<begin_of_image>`, `<end_of_image>`,
//! `<image_placeholder>`. Then the chat roles and answer tags, then every word
//! ShapeWorld text can contain, in a fixed order.

use std::collections::BTreeSet;
use std::path::Path;

use duet_data::geometry::Relation;
use duet_data::records::OPTION_LETTERS;
use duet_data::shapeworld::vocab::NUMBER_WORDS;
use duet_data::shapeworld::{Color, Shape};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

/// Special tokens, in id order.
pub const SPECIALS: [&str; 12] = [
    "[PAD]",
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜▁pad▁｜>",
    "<begin_of_image>",
    "<end_of_image>",
    "<image_placeholder>",
    "<|User|>",
    "<|Assistant|>",
    "<answer>",
    "</answer>",
    "[UNK]",
];

/// Added tokens that decoding keeps.
const KEPT_ON_DECODE: [&str; 4] = ["<|User|>", "<|Assistant|>", "<answer>", "</answer>"];

/// Splits like the `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`).
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_word = false;
    for ch in text.chars() {
        if ch.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let word = ch.is_alphanumeric() || ch == '_';
        if !cur.is_empty() && word != cur_word {
            out.push(std::mem::take(&mut cur));
        }
        cur_word = word;
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Words of the ShapeWorld prompts, captions, questions and options, the
/// MMMU prompt scaffolding and transformers' default system prompt.
fn words() -> BTreeSet<String> {
    let mut texts: Vec<String> = vec![
        "a an and of photo at top bottom left right center".into(),
        "Describe the image.".into(),
        "How many are in the image? What color is the? What shape is the object?".into(),
        "Which of these objects is in the image? Where is the relative to the?".into(),
        "Answer with the option's letter from the given choices directly.".into(),
        duet_model::prompts::DEFAULT_SYSTEM_PROMPT.into(),
        ": ? . , ' ( )".into(),
    ];
    for s in Shape::ALL {
        texts.push(format!(
            "{} {}",
            s.name(),
            duet_data::shapeworld::vocab::plural(s.name())
        ));
    }
    texts.extend(Color::ALL.iter().map(|c| c.name().to_string()));
    texts.extend(Relation::ALL.iter().map(|r| r.name().to_string()));
    texts.extend(NUMBER_WORDS.iter().map(|s| s.to_string()));
    texts.push("0 1 2 3 4 5 6 7 8 9".into());
    // Every letter MMMU's records allow (colour questions in canonical
    // order have six options, A–F).
    texts.extend(OPTION_LETTERS.iter().map(|l| format!("({l})")));
    texts.iter().flat_map(|t| pre_tokenize(t)).collect()
}

/// Errors building or saving the tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("building the ShapeWorld tokenizer: {0}")]
    Build(String),
    #[error("{path}: {message}")]
    Save { path: String, message: String },
}

/// Builds the tokenizer (BOS prepended by the post-processor, as DeepSeek's).
pub fn shapeworld_tokenizer() -> Result<Tokenizer, TokenizerError> {
    let mut vocab: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    vocab.extend(
        words()
            .into_iter()
            .filter(|w| !SPECIALS.contains(&w.as_str())),
    );
    let map = vocab
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(map)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Whitespace {}));
    // The chat roles and answer tags are added tokens (kept whole by the
    // pre-tokenizer) but not special: decoding with `skip_special_tokens`,
    // as responses are decoded, must keep `<answer>…</answer>` for the
    // format reward and MMMU's tag-first parsing, as a Janus-Pro tokenizer
    // (where they are plain text) does.
    let (specials, plain): (Vec<AddedToken>, Vec<AddedToken>) = SPECIALS
        .iter()
        .map(|s| AddedToken::from(s.to_string(), !KEPT_ON_DECODE.contains(s)))
        .partition(|t| t.special);
    tok.add_special_tokens(&specials);
    tok.add_tokens(&plain);
    let bos = SPECIALS[1];
    let post = TemplateProcessing::builder()
        .try_single(format!("{bos} $A"))
        .map_err(|e| TokenizerError::Build(e.to_string()))?
        .special_tokens(vec![(bos.to_string(), 1)])
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    tok.with_post_processor(Some(post));
    Ok(tok)
}

/// Writes `tokenizer.json` to `path`.
pub fn save(tok: &Tokenizer, path: &Path) -> Result<(), TokenizerError> {
    tok.save(path, true).map_err(|e| TokenizerError::Save {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_data::shapeworld::{GenerateOptions, OptionOrder, generate};
    use duet_model::JanusConfig;
    use duet_model::prompts::{
        DEFAULT_SYSTEM_PROMPT, JanusTokenizer, generation_prompt, understanding_prompt,
    };

    #[test]
    fn ids_match_the_preset_and_every_shapeworld_text_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        save(&shapeworld_tokenizer().unwrap(), &path).unwrap();
        let tok = JanusTokenizer::from_file(&path).unwrap();
        let (cfg, ids) = JanusConfig::preset("shapeworld").unwrap();
        assert_eq!(tok.id("<image_placeholder>").unwrap(), cfg.image_token_id);
        assert_eq!(tok.id("<｜begin▁of▁sentence｜>").unwrap(), ids.bos_token_id);
        assert_eq!(tok.id("<｜end▁of▁sentence｜>").unwrap(), ids.eos_token_id);
        assert_eq!(tok.id("<｜▁pad▁｜>").unwrap(), ids.pad_token_id);
        assert_eq!(
            tok.id("<begin_of_image>").unwrap(),
            ids.generation_kwargs.boi_token_id.unwrap()
        );
        assert!((tok.inner.get_vocab_size(true) as usize) <= cfg.text_config.vocab_size);
        // Responses are decoded skipping special tokens; the tags stay.
        let ids = tok.encode("red <answer>C</answer>").unwrap();
        assert_eq!(
            tok.decode(&ids).unwrap().replace(' ', ""),
            "red<answer>C</answer>"
        );
        assert!(tok.decode(&[ids[0]]).unwrap().is_empty(), "BOS is skipped");

        let unk = tok.id("[UNK]").unwrap();
        for order in [OptionOrder::Shuffled, OptionOrder::Canonical] {
            every_text_is_known(&tok, unk, order);
        }
    }

    fn every_text_is_known(tok: &JanusTokenizer, unk: u32, order: OptionOrder) {
        let data = tempfile::tempdir().unwrap();
        let mut opts = GenerateOptions::new(60, 3);
        opts.config.option_order = order;
        generate(data.path(), &opts, |_, _| {}).unwrap();
        let eos = "<｜end▁of▁sentence｜>";
        let mut texts = Vec::new();
        for line in std::fs::read_to_string(data.path().join("train/scenes.jsonl"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(generation_prompt(v["prompt"].as_str().unwrap(), eos));
            texts.push(v["caption"].as_str().unwrap().to_string());
        }
        for line in std::fs::read_to_string(data.path().join("train/understanding.jsonl"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let q = v["question"].as_str().unwrap().replace("<image 1> ", "");
            texts.push(understanding_prompt(
                &q,
                Some(DEFAULT_SYSTEM_PROMPT),
                64,
                eos,
            ));
            for o in v["options"].as_array().unwrap() {
                texts.push(o.as_str().unwrap().to_string());
            }
            texts.push(format!(
                "<answer>{}</answer>",
                v["answer"].as_str().unwrap()
            ));
        }
        for t in &texts {
            let ids = tok.encode(t).unwrap();
            assert_eq!(ids[0], 1, "BOS first: {t}");
            assert!(
                !ids.contains(&unk),
                "unknown word in `{t}`: {:?}",
                tok.decode(&ids)
            );
        }
    }
}
