//! Safetensors I/O in Hugging Face's layout: reading single-file or sharded
//! checkpoints (f32, bf16, f16, f64 upcast to f32), and the two visitors
//! that walk a model's parameters by HF key — one loads, one saves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::{ModelError, Result};

/// How a parameter is laid out relative to PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Same shape and order (embeddings, convs, norms, biases).
    Same,
    /// A Linear weight: PyTorch stores `[out, in]`, burn `[in, out]`.
    Transposed,
}

impl Layout {
    /// Converts between PyTorch and burn order (the map is its own inverse).
    pub fn convert<B: Backend, const D: usize>(self, t: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Layout::Same => t,
            Layout::Transposed => t.transpose(),
        }
    }

    /// The shape on the other side of [`Layout::convert`].
    pub fn convert_shape(self, shape: &[usize]) -> Vec<usize> {
        match self {
            Layout::Same => shape.to_vec(),
            Layout::Transposed => shape.iter().rev().copied().collect(),
        }
    }
}

/// Something that is shown each parameter with its HF key.
pub trait ParamVisitor<B: Backend> {
    fn visit<const D: usize>(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, D>>,
        layout: Layout,
    ) -> Result<()>;
}

/// One stored tensor, not yet converted.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
    file: PathBuf,
}

/// All tensors of a checkpoint, by key.
pub struct WeightMap {
    tensors: HashMap<String, Raw>,
    /// What to call the checkpoint in errors.
    pub source: String,
}

fn io_err(path: &Path, e: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

impl WeightMap {
    /// Reads `model.safetensors`, or the shards listed in
    /// `model.safetensors.index.json`, from a checkpoint directory — or one
    /// `.safetensors` file.
    pub fn open(path: &Path) -> Result<Self> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let single = path.join("model.safetensors");
            let index = path.join("model.safetensors.index.json");
            if single.is_file() {
                vec![single]
            } else if index.is_file() {
                let text = std::fs::read_to_string(&index).map_err(|e| io_err(&index, e))?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| ModelError::Safetensors {
                        path: index.display().to_string(),
                        message: e.to_string(),
                    })?;
                let map = v
                    .get("weight_map")
                    .and_then(|m| m.as_object())
                    .ok_or_else(|| ModelError::Safetensors {
                        path: index.display().to_string(),
                        message: "no `weight_map` object".into(),
                    })?;
                let shards: std::collections::BTreeSet<String> = map
                    .values()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect();
                shards.into_iter().map(|f| path.join(f)).collect()
            } else {
                return Err(ModelError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "neither model.safetensors nor model.safetensors.index.json",
                    ),
                });
            }
        } else {
            vec![path.to_path_buf()]
        };
        let mut tensors = HashMap::new();
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| io_err(&file, e))?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            for (name, view) in st.tensors() {
                tensors.insert(
                    name,
                    Raw {
                        dtype: view.dtype(),
                        shape: view.shape().to_vec(),
                        bytes: view.data().to_vec(),
                        file: file.clone(),
                    },
                );
            }
        }
        Ok(WeightMap {
            tensors,
            source: path.display().to_string(),
        })
    }

    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// Shape of a stored tensor.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|r| r.shape.as_slice())
    }

    fn raw(&self, key: &str) -> Result<&Raw> {
        self.tensors
            .get(key)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.source.clone(),
                key: key.to_string(),
                expected: vec![],
            })
    }

    fn dtype_error(raw: &Raw, key: &str) -> ModelError {
        ModelError::Dtype {
            path: raw.file.display().to_string(),
            key: key.to_string(),
            dtype: format!("{:?}", raw.dtype),
        }
    }

    /// The tensor as f32 values (row-major) and its shape.
    pub fn f32(&self, key: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let raw = self.raw(key)?;
        let b = &raw.bytes;
        let values: Vec<f32> = match raw.dtype {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            _ => return Err(Self::dtype_error(raw, key)),
        };
        Ok((values, raw.shape.clone()))
    }

    /// Integer tensors (token ids in test fixtures) as i64.
    pub fn i64(&self, key: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        let raw = self.raw(key)?;
        let b = &raw.bytes;
        let values = match raw.dtype {
            Dtype::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            Dtype::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
            Dtype::U8 => b.iter().map(|&x| x as i64).collect(),
            _ => return Err(Self::dtype_error(raw, key)),
        };
        Ok((values, raw.shape.clone()))
    }
}

/// Loads parameters from a [`WeightMap`], checking shapes; remembers which
/// keys were used so leftovers can be reported.
pub struct Loader<'a, B: Backend> {
    pub weights: &'a WeightMap,
    pub device: B::Device,
    pub used: HashSet<String>,
}

impl<'a, B: Backend> Loader<'a, B> {
    pub fn new(weights: &'a WeightMap, device: &B::Device) -> Self {
        Loader {
            weights,
            device: device.clone(),
            used: HashSet::new(),
        }
    }

    /// Keys of the checkpoint that no parameter took.
    pub fn unused(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .weights
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

impl<B: Backend> ParamVisitor<B> for Loader<'_, B> {
    fn visit<const D: usize>(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, D>>,
        layout: Layout,
    ) -> Result<()> {
        let expected = layout.convert_shape(&param.lazy_shape().dims::<D>());
        let Some(found) = self.weights.shape(key) else {
            return Err(ModelError::MissingTensor {
                path: self.weights.source.clone(),
                key: key.to_string(),
                expected,
            });
        };
        if found != expected.as_slice() {
            return Err(ModelError::ShapeMismatch {
                path: self.weights.source.clone(),
                key: key.to_string(),
                expected,
                found: found.to_vec(),
            });
        }
        let (values, shape) = self.weights.f32(key)?;
        let t = layout.convert(Tensor::<B, D>::from_data(
            TensorData::new(values, shape),
            &self.device,
        ));
        *param = param.clone().transform_for_load(t, param.id);
        self.used.insert(key.to_string());
        Ok(())
    }
}

/// Collects parameters under their HF keys, in PyTorch layout, as f32.
#[derive(Default)]
pub struct Saver {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl<B: Backend> ParamVisitor<B> for Saver {
    fn visit<const D: usize>(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, D>>,
        layout: Layout,
    ) -> Result<()> {
        let t = layout.convert(param.val());
        let shape = t.dims().to_vec();
        let values = t
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| ModelError::Input(format!("reading `{key}`: {e:?}")))?;
        self.tensors.insert(key.to_string(), (shape, values));
        Ok(())
    }
}

impl Saver {
    /// The collected tensors as safetensors bytes (f32, `{"format": "pt"}`
    /// metadata, as transformers expects).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, (shape, v))| {
                (
                    k.clone(),
                    shape.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
            .iter()
            .map(|(k, shape, b)| {
                let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
                    .expect("shape and byte count agree by construction");
                (k.clone(), view)
            })
            .collect();
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::tensor::serialize(views, Some(meta)).map_err(|e| ModelError::Safetensors {
            path: "<memory>".into(),
            message: e.to_string(),
        })
    }
}
