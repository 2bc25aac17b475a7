//! Prompts in Janus's chat format and the tokenizer around them.
//!
//! The template is transformers' Janus `chat_template`: `<|User|>: ` and
//! `<|Assistant|>:` roles, user turns followed by a blank line, assistant
//! turns by EOS, images as `<image_placeholder>` on their own line. The
//! processor then prepends the default system prompt (understanding), or
//! appends `<begin_of_image>` (generation), and expands each placeholder to
//! `<begin_of_image>` + N × `<image_placeholder>` + `<end_of_image>`.

use std::path::Path;

use crate::error::{ModelError, Result};

/// transformers' `JanusProcessor` default system prompt.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful language and vision assistant. You are able to understand the visual content that the user provides, and assist the user with a variety of tasks using natural language.\n\n";

pub const IMAGE_PLACEHOLDER: &str = "<image_placeholder>";
pub const BEGIN_OF_IMAGE: &str = "<begin_of_image>";
pub const END_OF_IMAGE: &str = "<end_of_image>";

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Image,
}

/// A chat turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `user`, `assistant`, or another role (rendered capitalised).
    pub role: String,
    pub content: Vec<Content>,
}

impl Message {
    pub fn user(content: Vec<Content>) -> Self {
        Message {
            role: "user".into(),
            content,
        }
    }
    pub fn assistant(text: &str) -> Self {
        Message {
            role: "assistant".into(),
            content: vec![Content::Text(text.into())],
        }
    }
}

/// Renders messages with Janus's chat template. `eos` is the EOS token text
/// (`<｜end▁of▁sentence｜>` for DeepSeek's tokenizer).
pub fn apply_chat_template(messages: &[Message], add_generation_prompt: bool, eos: &str) -> String {
    let mut out = String::new();
    for (m, msg) in messages.iter().enumerate() {
        let last = m + 1 == messages.len();
        let mut body = String::new();
        let n = msg.content.len();
        let mut prev_text = false;
        for (i, c) in msg.content.iter().enumerate() {
            match c {
                Content::Image => {
                    if i > 0 {
                        body.push('\n');
                    }
                    body.push_str(IMAGE_PLACEHOLDER);
                    if i + 1 < n {
                        body.push('\n');
                    }
                    prev_text = false;
                }
                Content::Text(t) => {
                    if prev_text {
                        body.push(' ');
                    }
                    body.push_str(t);
                    prev_text = true;
                }
            }
        }
        let body = body.trim().to_string();
        match msg.role.as_str() {
            "user" => out.push_str(&format!("<|User|>: {body}")),
            "assistant" => {
                if last && !add_generation_prompt && body.is_empty() {
                    out.push_str("<|Assistant|>:");
                } else {
                    out.push_str(&format!("<|Assistant|>: {body}"));
                }
            }
            other => {
                let mut r = other.chars();
                let cap: String = r
                    .next()
                    .map(|f| f.to_uppercase().chain(r).collect())
                    .unwrap_or_default();
                out.push_str(&format!("{cap}: {body}"));
            }
        }
        if !last || add_generation_prompt {
            out.push_str(if msg.role == "assistant" { eos } else { "\n\n" });
        }
    }
    if add_generation_prompt {
        out.push_str("<|Assistant|>:");
    }
    out
}

/// Expands every image placeholder to BOI + `n` placeholders + EOI.
pub fn expand_image_placeholders(text: &str, n: usize) -> String {
    let block = format!(
        "{BEGIN_OF_IMAGE}{}{END_OF_IMAGE}",
        IMAGE_PLACEHOLDER.repeat(n)
    );
    text.replace(IMAGE_PLACEHOLDER, &block)
}

/// The understanding prompt for one question about one image (system
/// prompt optional, as `use_default_system_prompt`), before tokenization.
pub fn understanding_prompt(
    question: &str,
    system: Option<&str>,
    image_tokens: usize,
    eos: &str,
) -> String {
    let chat = apply_chat_template(
        &[Message::user(vec![
            Content::Image,
            Content::Text(question.into()),
        ])],
        true,
        eos,
    );
    expand_image_placeholders(&format!("{}{chat}", system.unwrap_or("")), image_tokens)
}

/// The image-generation prompt: the chat turn and `<begin_of_image>`.
pub fn generation_prompt(prompt: &str, eos: &str) -> String {
    let chat = apply_chat_template(
        &[Message::user(vec![Content::Text(prompt.into())])],
        true,
        eos,
    );
    format!("{chat}{BEGIN_OF_IMAGE}")
}

/// A `tokenizer.json` tokenizer with Janus's special tokens resolved.
pub struct JanusTokenizer {
    pub inner: tokenizers::Tokenizer,
}

impl JanusTokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ModelError::Config {
            path: path.display().to_string(),
            message: format!("not a tokenizer.json: {e}"),
        })?;
        Ok(JanusTokenizer { inner })
    }

    /// Token ids of `text`, with the tokenizer's special tokens (BOS) added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, true)
            .map_err(|e| ModelError::Input(format!("tokenizing `{text}`: {e}")))?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| ModelError::Input(format!("decoding {ids:?}: {e}")))
    }

    /// The id of a special token, read from the tokenizer (never hard-coded).
    pub fn id(&self, token: &str) -> Result<u32> {
        self.inner
            .token_to_id(token)
            .ok_or_else(|| ModelError::Input(format!("tokenizer has no token `{token}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOS: &str = "<｜end▁of▁sentence｜>";

    #[test]
    fn templates_match_transformers_examples() {
        let msg = Message::user(vec![
            Content::Text("What is shown in this image?".into()),
            Content::Image,
        ]);
        assert_eq!(
            apply_chat_template(&[msg], true, EOS),
            "<|User|>: What is shown in this image?\n<image_placeholder>\n\n<|Assistant|>:"
        );
        let turns = [
            Message::user(vec![Content::Text("Hi".into())]),
            Message::assistant("answer"),
            Message::user(vec![Content::Text("More?".into())]),
        ];
        assert_eq!(
            apply_chat_template(&turns, true, EOS),
            format!("<|User|>: Hi\n\n<|Assistant|>: answer{EOS}<|User|>: More?\n\n<|Assistant|>:")
        );
        assert_eq!(
            generation_prompt("a photo of a red circle", EOS),
            "<|User|>: a photo of a red circle\n\n<|Assistant|>:<begin_of_image>"
        );
        assert_eq!(
            expand_image_placeholders("x <image_placeholder> y", 2),
            "x <begin_of_image><image_placeholder><image_placeholder><end_of_image> y"
        );
        let p = understanding_prompt("How many?", Some(DEFAULT_SYSTEM_PROMPT), 1, EOS);
        assert!(p.starts_with(DEFAULT_SYSTEM_PROMPT));
        assert!(p.ends_with("<|User|>: <begin_of_image><image_placeholder><end_of_image>\nHow many?\n\n<|Assistant|>:"));
    }
}
