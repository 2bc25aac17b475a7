//! The error type of duet-data. Every variant names the file, line or item it
//! concerns, so a user can find the bad input without a debugger.

use std::path::PathBuf;

/// Errors raised while generating, reading or writing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: malformed JSON record: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    JsonFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: not a readable image ({source})")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{path}: expected a PNG image, found {found}")]
    NotPng { path: PathBuf, found: String },
    #[error("{context}: unknown {kind} `{name}` (known: {known})")]
    Unknown {
        context: String,
        kind: &'static str,
        name: String,
        known: String,
    },
    #[error("cannot realise a scene for prompt `{prompt}`: {reason}")]
    Unrealisable { prompt: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}:{line}: item `{id}`: {reason}")]
    BadItem {
        path: PathBuf,
        line: usize,
        id: String,
        reason: String,
    },
    #[error("{path}:{line}: duplicate id `{id}` (first on line {first_line})")]
    DuplicateId {
        path: PathBuf,
        line: usize,
        id: String,
        first_line: usize,
    },
    #[error("{path}:{line}: item `{id}`: image {image} not found")]
    MissingImage {
        path: PathBuf,
        line: usize,
        id: String,
        image: PathBuf,
    },
    #[error("annotator `{annotator}`, item `{item}`: {reason}")]
    Annotator {
        annotator: String,
        item: String,
        reason: String,
    },
    #[error(
        "item `{item}`: every {kind} from annotator `{annotator}` contradicted its source ({attempts} attempts); last: {reason}"
    )]
    Inconsistent {
        annotator: String,
        item: String,
        kind: &'static str,
        attempts: usize,
        reason: String,
    },
    #[error("embedder `{embedder}`, image {image}: {reason}")]
    Embedding {
        embedder: String,
        image: PathBuf,
        reason: String,
    },
    #[error(
        "refusing to evaluate: {count} prompt(s) of {eval_file} also occur in training split {train_file} (first: `{first}`)"
    )]
    TrainTestLeak {
        eval_file: PathBuf,
        train_file: PathBuf,
        count: usize,
        first: String,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
