//! How ShapeWorld items become model inputs and targets, shared by SFT, RL
//! and evaluation so the three see the same prompts.
//!
//! - Multiple choice: MMMU's prompt (question, `(A) option` lines, MMMU's
//!   instruction); the target is `<answer>X</answer>`, which duet-eval's
//!   MMMU parser reads first.
//! - Captioning: "Describe the image." → the scene's caption.
//! - Text-to-image: the chat turn + `<begin_of_image>` → the VQ codes.

use burn::prelude::*;
use duet_data::records::{McItem, option_letter};
use duet_model::prompts::{JanusTokenizer, generation_prompt, understanding_prompt};
use image::RgbImage;

use crate::error::{Result, RlError};

/// The end-of-sentence string of Janus's chat template.
pub const EOS: &str = "<｜end▁of▁sentence｜>";
/// The captioning instruction.
pub const CAPTION_QUESTION: &str = "Describe the image.";
/// MMMU's multiple-choice instruction.
pub const MC_INSTRUCTION: &str = "Answer with the option's letter from the given choices directly.";

/// MMMU's prompt text for a multiple-choice item (image marker removed:
/// the chat template puts the image first).
pub fn mc_question(item: &McItem) -> String {
    let mut q = item.question.replace("<image 1>", "").trim().to_string();
    for (i, o) in item.options.iter().enumerate() {
        q.push_str(&format!("\n({}) {o}", option_letter(i)));
    }
    q.push('\n');
    q.push_str(MC_INSTRUCTION);
    q
}

/// An MC item's question asked open-ended: the question alone, without
/// options or instruction (the missing options are what tells it from MC;
/// every word is already in the ShapeWorld vocabulary).
pub fn short_question(item: &McItem) -> String {
    item.question.replace("<image 1>", "").trim().to_string()
}

/// The target text of a multiple-choice answer.
pub fn answer_text(letter: &str) -> String {
    format!("<answer>{letter}</answer>")
}

/// What an SFT multiple-choice target holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McTarget {
    /// `<answer>X</answer>`: MMMU's "letter directly".
    #[default]
    Letter,
    /// `red <answer>X</answer>`: the answer option's text, then its letter.
    /// The letter alone asks a from-scratch model for two hops at once
    /// (read the image, then find that option's letter), and the base
    /// learns neither (MC answers do not depend on the image at all after
    /// 600 steps); with the text first, each token's target is one hop: the
    /// text is open-ended VQA, the letter a copy from the prompt.
    OptionThenLetter,
}

/// The SFT target text of an MC item whose answer is `options[k]`, letter
/// `letter`.
pub fn mc_target_text(target: McTarget, option: &str, letter: &str) -> String {
    match target {
        McTarget::Letter => answer_text(letter),
        McTarget::OptionThenLetter => format!("{option} {}", answer_text(letter)),
    }
}

/// Token ids of the understanding prompt for `question` about one image.
pub fn understanding_ids(
    tok: &JanusTokenizer,
    question: &str,
    image_tokens: usize,
) -> Result<Vec<u32>> {
    let text = understanding_prompt(question, None, image_tokens, EOS);
    encode(tok, &text)
}

/// Token ids of the image-generation prompt (ends with BOI).
pub fn generation_ids(tok: &JanusTokenizer, prompt: &str) -> Result<Vec<u32>> {
    encode(tok, &generation_prompt(prompt, EOS))
}

/// Token ids of a response: the text without BOS, then EOS. A response is a
/// training target, so a word the tokenizer maps to `[UNK]` is an error, not
/// a target that teaches the model to say `[UNK]`.
pub fn response_ids(tok: &JanusTokenizer, text: &str, eos_id: u32) -> Result<Vec<u32>> {
    let mut ids = encode(tok, text)?;
    if let Ok(unk) = tok.id("[UNK]")
        && ids.contains(&unk)
    {
        return Err(RlError::Tokenizer(format!(
            "response `{text}` has a word the tokenizer does not know (it becomes [UNK]); \
             a tokenizer.json built before that word was added must be rebuilt"
        )));
    }
    if ids.first() == Some(&tok_bos(tok)?) {
        ids.remove(0);
    }
    ids.push(eos_id);
    Ok(ids)
}

fn tok_bos(tok: &JanusTokenizer) -> Result<u32> {
    tok.id("<｜begin▁of▁sentence｜>")
        .map_err(|e| RlError::Tokenizer(e.to_string()))
}

fn encode(tok: &JanusTokenizer, text: &str) -> Result<Vec<u32>> {
    tok.encode(text)
        .map_err(|e| RlError::Tokenizer(e.to_string()))
}

/// Decodes generated ids to text, dropping everything from EOS on.
pub fn decode_response(tok: &JanusTokenizer, ids: &[u32], eos_id: u32) -> Result<String> {
    let end = ids.iter().position(|&t| t == eos_id).unwrap_or(ids.len());
    tok.decode(&ids[..end])
        .map_err(|e| RlError::Tokenizer(e.to_string()))
}

/// Pixels `[batch, 3, h, w]` in [-1, 1] (Janus's mean 0.5 / std 0.5).
pub fn pixels<B: Backend>(images: &[&RgbImage], device: &B::Device) -> Tensor<B, 4> {
    crate::pretrain::vq::to_tensor(images, device)
}

/// Images from decoder output `[batch, 3, h, w]` in [-1, 1].
pub fn to_images<B: Backend>(x: Tensor<B, 4>) -> Vec<RgbImage> {
    let [b, _, h, w] = x.dims();
    let v = crate::tensors::to_vec(x);
    (0..b)
        .map(|i| {
            RgbImage::from_fn(w as u32, h as u32, |xx, yy| {
                let at = |c: usize| {
                    let k = ((i * 3 + c) * h + yy as usize) * w + xx as usize;
                    ((v[k] + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
                };
                image::Rgb([at(0), at(1), at(2)])
            })
        })
        .collect()
}

/// Text generation for a caption (`CAPTION_QUESTION`'s answer): up to 32
/// tokens (four objects with places take ~26), stopping at EOS.
pub fn caption_gen_cfg(
    ids: &duet_model::GenerationIds,
    sampling: duet_model::sampling::SamplingConfig,
) -> duet_model::generate::TextGenConfig {
    duet_model::generate::TextGenConfig {
        max_new_tokens: 32,
        stop_tokens: vec![ids.eos_token_id],
        pad_id: ids.pad_token_id,
        sampling,
    }
}

/// The model's captions of `images` (`CAPTION_QUESTION`, one row per
/// image, decoded up to EOS), drawn with `sampling`.
pub fn caption_images<B: Backend>(
    model: &duet_model::Janus<B>,
    tok: &JanusTokenizer,
    ids: &duet_model::GenerationIds,
    images: &[&RgbImage],
    sampling: duet_model::sampling::SamplingConfig,
) -> Result<Vec<String>> {
    let device = model.lm_head.weight.device();
    let question = understanding_ids(tok, CAPTION_QUESTION, image_tokens(model))?;
    let out = duet_model::generate::generate_text(
        model,
        &vec![question; images.len()],
        Some(pixels(images, &device)),
        &caption_gen_cfg(ids, sampling),
    )?;
    out.iter()
        .map(|r| decode_response(tok, r, ids.eos_token_id))
        .collect()
}

/// The conditional (no CFG) image-token scoring config.
pub fn cond_image_cfg(ids: &duet_model::GenerationIds) -> duet_model::generate::ImageGenConfig {
    use duet_model::generate::ImageGenConfig;
    use duet_model::sampling::SamplingConfig;
    ImageGenConfig {
        num_tokens: 0,
        cfg_scale: 1.0,
        pad_id: ids.pad_token_id,
        bos_id: ids.bos_token_id,
        boi_id: ids
            .generation_kwargs
            .boi_token_id
            .unwrap_or(ids.bos_token_id),
        sampling: SamplingConfig::default(),
        use_cache: false,
    }
}

/// Image tokens per image of `model` (its vision tower's patch count, which
/// the understanding prompt's placeholders must match).
pub fn image_tokens<B: Backend>(model: &duet_model::Janus<B>) -> usize {
    model
        .vision_model
        .embeddings
        .position_embedding
        .weight
        .dims()[0]
}
