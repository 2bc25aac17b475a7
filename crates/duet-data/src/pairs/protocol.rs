//! The JSON lines spoken with an external annotator program (docs/pairs.md
//! has the schema with examples). Unknown reply fields are refused, so a
//! misspelt key is reported instead of read as a missing caption.

use serde::{Deserialize, Serialize};

/// One request line.
#[derive(Debug, Serialize)]
pub(super) struct Request<'a> {
    pub id: &'a str,
    pub task: &'static str,
    pub attempt: usize,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<&'a str>,
}

/// One reply line: a caption, a QA, or an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Reply {
    pub id: String,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
    pub options: Option<Vec<String>>,
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A reply line shortened for an error message.
pub(super) fn clip(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
