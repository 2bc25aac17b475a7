//! The error type of duet-eval; variants name the file, line or item at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] duet_data::DataError),
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("{path}: prediction for `{id}` has no entry in the answer file {answers}")]
    UnknownId {
        path: PathBuf,
        id: String,
        answers: PathBuf,
    },
    #[error("{path}: {message}")]
    Predictions { path: PathBuf, message: String },
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
