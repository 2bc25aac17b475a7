//! Small bridges between burn tensors, host vectors and safetensors files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Result, RlError};

/// A tensor's values on the host, flattened.
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 above")
}

/// A 1-D tensor from host values.
pub fn from_vec<B: Backend>(v: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// Writes 1-D f32 tensors atomically as safetensors with `meta`.
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, Vec<f32>>,
    meta: BTreeMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, usize)> = tensors
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                v.len(),
            )
        })
        .collect();
    let views = bytes.iter().map(|(k, b, n)| {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![*n], b)
            .expect("byte count matches by construction");
        (k.clone(), view)
    });
    let meta: HashMap<String, String> = meta.into_iter().collect();
    let out =
        safetensors::tensor::serialize(views, Some(meta)).map_err(|e| RlError::Checkpoint {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    duet_data::io::write_atomic(path, &out)?;
    Ok(())
}

/// Flattened tensors by name.
pub type Flat = HashMap<String, Vec<f32>>;

/// Reads every tensor of a safetensors file as flattened f32, plus its metadata.
pub fn read_safetensors(path: &Path) -> Result<(Flat, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| RlError::io(path, e))?;
    let bad = |message: String| RlError::Checkpoint {
        path: path.display().to_string(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("`{name}` is {:?}, expected F32", view.dtype())));
        }
        let v = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, v);
    }
    Ok((out, meta))
}
