//! The error type of duet-model; variants name the file or tensor at fault.

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid config: {message}")]
    Config { path: String, message: String },
    #[error("{path}: not a safetensors file: {message}")]
    Safetensors { path: String, message: String },
    #[error("{path}: missing tensor `{key}` (expected shape {expected:?})")]
    MissingTensor {
        path: String,
        key: String,
        expected: Vec<usize>,
    },
    #[error("{path}: unexpected tensor(s) not used by the model: {keys}")]
    UnexpectedTensors { path: String, keys: String },
    #[error("{path}: tensor `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: String,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{key}` has dtype {dtype}, which cannot be converted to f32")]
    Dtype {
        path: String,
        key: String,
        dtype: String,
    },
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
