//! A SigLIP-style dual encoder: the model's own ViT as image tower (mean
//! pooled), a small LLaMA-style text tower pooled at the last token (as
//! CLIP pools at its end token), linear projections to a shared space, and
//! SigLIP's learned temperature and bias. It plays the parts SigLIP 2 and
//! ResNet-50 play in the papers: the frozen scorer of LVRPO's semantic
//! reward and the image embedder of PairUni's retrieval.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::{Padded, int2, padded_causal_mask};
use crate::config::{TextConfig, VisionConfig};
use crate::error::{ModelError, Result};
use crate::linear::apply;
use crate::llama::LlamaModel;
use crate::vision::VisionModel;

/// The encoder's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    /// Same schema as Janus's vision tower (so the tower can be reused).
    pub vision_config: VisionConfig,
    /// Text tower; `vocab_size` must cover the tokenizer.
    pub text_config: TextConfig,
    /// Width of the shared embedding space.
    pub projection_dim: usize,
    /// Pad id used to batch captions of different lengths.
    pub pad_token_id: u32,
    /// SigLIP's initial `log t` (t = 10) and bias (−10).
    #[serde(default = "default_scale")]
    pub logit_scale_init: f64,
    #[serde(default = "default_bias")]
    pub logit_bias_init: f64,
}

fn default_scale() -> f64 {
    10f64.ln()
}
fn default_bias() -> f64 {
    -10.0
}

#[derive(Module, Debug)]
pub struct ContrastiveEncoder<B: Backend> {
    pub vision_model: VisionModel<B>,
    pub visual_projection: Linear<B>,
    pub text_model: LlamaModel<B>,
    pub text_projection: Linear<B>,
    /// `log t`: similarities are multiplied by `exp(logit_scale)`.
    pub logit_scale: Param<Tensor<B, 1>>,
    pub logit_bias: Param<Tensor<B, 1>>,
    pub pad_token_id: u32,
}

impl ContrastiveConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ContrastiveEncoder<B> {
        let scalar = |v: f64| Param::from_tensor(Tensor::from_floats([v as f32], device));
        ContrastiveEncoder {
            vision_model: self.vision_config.init(device),
            visual_projection: LinearConfig::new(
                self.vision_config.hidden_size,
                self.projection_dim,
            )
            .with_bias(false)
            .init(device),
            text_model: self.text_config.init(device),
            text_projection: LinearConfig::new(self.text_config.hidden_size, self.projection_dim)
                .with_bias(false)
                .init(device),
            logit_scale: scalar(self.logit_scale_init),
            logit_bias: scalar(self.logit_bias_init),
            pad_token_id: self.pad_token_id,
        }
    }
}

fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / n
}

impl<B: Backend> ContrastiveEncoder<B> {
    /// Unit-norm image embeddings `[batch, projection_dim]` of pixels
    /// `[batch, 3, size, size]` in [-1, 1].
    pub fn embed_images(&self, pixels: Tensor<B, 4>) -> Tensor<B, 2> {
        let h = self.vision_model.forward(pixels).last_hidden_state; // [b, p, d]
        let pooled = h.mean_dim(1).squeeze_dim::<2>(1);
        l2_normalize(apply(&self.visual_projection, pooled))
    }

    /// Unit-norm embeddings of every patch `[batch, patches, projection_dim]`
    /// (the pooled embedding is the normalised mean of these before
    /// normalisation), for dense, per-region scores.
    pub fn embed_patches(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let h = self.vision_model.forward(pixels).last_hidden_state; // [b, p, d]
        let [b, p, d] = h.dims();
        let z = apply(&self.visual_projection, h.reshape([b * p, d]));
        let e = z.dims()[1];
        l2_normalize(z).reshape([b, p, e])
    }

    /// Unit-norm text embeddings of token rows (no padding inside a row).
    pub fn embed_texts(&self, rows: &[Vec<u32>]) -> Result<Tensor<B, 2>> {
        if rows.is_empty() || rows.iter().any(Vec::is_empty) {
            return Err(ModelError::Input(
                "every caption needs at least one token".into(),
            ));
        }
        let device = self.text_projection.weight.device();
        // Left padding puts every row's last token in the last column.
        let p = Padded::left(rows, self.pad_token_id);
        let ids: Vec<i64> = p.ids.iter().map(|&i| i as i64).collect();
        let embeds = self.text_model.embed(int2(ids, p.batch, p.len, &device));
        let mask = p
            .has_padding()
            .then(|| padded_causal_mask::<B>(&p.pad, p.batch, p.len, 0, &device));
        let h = self
            .text_model
            .forward(
                embeds,
                Some(int2(p.positions(), p.batch, p.len, &device)),
                None,
                mask,
                false,
            )
            .last_hidden_state;
        let d = h.dims()[2];
        let last = h
            .slice([0..p.batch, p.len - 1..p.len, 0..d])
            .reshape([p.batch, d]);
        Ok(l2_normalize(apply(&self.text_projection, last)))
    }

    /// SigLIP logits `exp(s) · img · txtᵀ + b`, `[images, texts]`.
    pub fn logits(&self, images: Tensor<B, 2>, texts: Tensor<B, 2>) -> Tensor<B, 2> {
        let scale = self.logit_scale.val().exp().unsqueeze::<2>();
        let bias = self.logit_bias.val().unsqueeze::<2>();
        images.matmul(texts.transpose()) * scale + bias
    }
}

impl<B: Backend> crate::hf_keys::HfModule<B> for ContrastiveEncoder<B> {
    /// SigLIP's key names: `vision_model.*`, `text_model.*`, the two
    /// projections, `logit_scale`, `logit_bias`.
    fn visit_hf<V: crate::weights::ParamVisitor<B>>(
        &mut self,
        prefix: &str,
        v: &mut V,
    ) -> Result<()> {
        use crate::weights::Layout;
        let k = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            }
        };
        self.vision_model.visit_hf(&k("vision_model"), v)?;
        self.visual_projection
            .visit_hf(&k("visual_projection"), v)?;
        self.text_model.visit_hf(&k("text_model"), v)?;
        self.text_projection.visit_hf(&k("text_projection"), v)?;
        v.visit(&k("logit_scale"), &mut self.logit_scale, Layout::Same)?;
        v.visit(&k("logit_bias"), &mut self.logit_bias, Layout::Same)
    }
}

/// Writes `config.json` and `model.safetensors` (f32, SigLIP-style keys) to
/// `dir`, each atomically.
pub fn save<B: Backend>(
    enc: &ContrastiveEncoder<B>,
    cfg: &ContrastiveConfig,
    dir: &std::path::Path,
) -> Result<()> {
    use crate::hf_keys::HfModule;
    let mut saver = crate::weights::Saver::default();
    enc.clone().visit_hf("", &mut saver)?;
    crate::checkpoint::write_atomic(&dir.join("model.safetensors"), &saver.to_bytes()?)?;
    let text = serde_json::to_string_pretty(cfg).expect("plain data");
    crate::checkpoint::write_atomic(&dir.join("config.json"), text.as_bytes())
}

/// Loads an encoder written by [`save`]; every tensor must be present with
/// its shape, and none may be left over.
pub fn load<B: Backend>(
    dir: &std::path::Path,
    device: &B::Device,
) -> Result<(ContrastiveConfig, ContrastiveEncoder<B>)> {
    use crate::hf_keys::HfModule;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let cfg: ContrastiveConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let weights = crate::weights::WeightMap::open(dir)?;
    let mut enc = cfg.init::<B>(device);
    let mut loader = crate::weights::Loader::<B>::new(&weights, device);
    enc.visit_hf("", &mut loader)?;
    let unused = loader.unused();
    if !unused.is_empty() {
        return Err(ModelError::UnexpectedTensors {
            path: weights.source.clone(),
            keys: unused.join(", "),
        });
    }
    Ok((cfg, enc))
}
