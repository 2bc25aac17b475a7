//! duet-rl's errors: each names the file, tensor or step it is about.

/// Errors of training and checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },
    #[error("non-finite {what}: {detail}")]
    NonFinite { what: String, detail: String },
    #[error("config {path}: {message}")]
    Config { path: String, message: String },
    #[error("data: {0}")]
    Data(String),
    #[error(transparent)]
    Model(#[from] duet_model::ModelError),
    #[error(transparent)]
    DataSet(#[from] duet_data::DataError),
    #[error(transparent)]
    Eval(#[from] duet_eval::EvalError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

pub type Result<T> = std::result::Result<T, RlError>;

impl RlError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        RlError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
