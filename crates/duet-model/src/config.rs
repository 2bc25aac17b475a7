//! Configuration in Hugging Face's shape: `config.json` of a Janus checkpoint
//! deserialises directly into [`JanusConfig`], missing fields taking HF's
//! defaults; `generation_config.json` into [`GenerationIds`].
//!
//! These are plain serde structs rather than burn `#[derive(Config)]` ones:
//! burn's derive does not carry serde attributes, so absent keys (which HF
//! fills with class defaults) and aliases (old `rope_theta`) could not be
//! read. The per-module burn configs are built from these.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

fn d<T: From<u8>>(v: u8) -> T {
    T::from(v)
}

/// `text_config`: a LLaMA decoder (HF `LlamaConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Grouped-query attention; `None` means `num_attention_heads` (MHA).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// `None` means `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_silu")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// transformers ≥ 5 (`{"rope_type": "default", "rope_theta": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeParameters>,
    /// transformers 4.x spelling of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default = "default_llama")]
    pub model_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    #[serde(default = "default_rope_type")]
    pub rope_type: String,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
}

impl TextConfig {
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }
    pub fn rope_theta(&self) -> f64 {
        self.rope_parameters
            .as_ref()
            .map(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10000.0)
    }
}

/// `vision_config`: the SigLIP-style ViT and its aligner (HF `JanusVisionConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "default_1024")]
    pub hidden_size: usize,
    #[serde(default = "default_24")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_16")]
    pub num_attention_heads: usize,
    #[serde(default = "default_3")]
    pub num_channels: usize,
    #[serde(default = "default_384")]
    pub image_size: usize,
    #[serde(default = "default_16")]
    pub patch_size: usize,
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    #[serde(default = "default_true")]
    pub attention_bias: bool,
    /// Aligner output width; equals the LLM hidden size.
    #[serde(default = "default_2048")]
    pub projection_dim: usize,
    /// Linear layers in the aligner.
    #[serde(default = "default_2")]
    pub depth: usize,
    #[serde(default)]
    pub use_qk_norm: bool,
    #[serde(default = "default_576")]
    pub num_image_tokens: usize,
}

impl VisionConfig {
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }
    pub fn mlp_size(&self) -> usize {
        (self.hidden_size as f64 * self.mlp_ratio) as usize
    }
}

/// `vq_config`: the LlamaGen VQ-16 tokenizer plus the generation aligner and
/// head (HF `JanusVQVAEConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqConfig {
    /// Code dimension.
    #[serde(default = "default_8")]
    pub embed_dim: usize,
    /// Codebook size (image-token vocabulary).
    #[serde(default = "default_16384")]
    pub num_embeddings: usize,
    #[serde(default = "default_256")]
    pub latent_channels: usize,
    #[serde(default = "default_3")]
    pub in_channels: usize,
    #[serde(default = "default_3")]
    pub out_channels: usize,
    #[serde(default = "default_128")]
    pub base_channels: usize,
    #[serde(default = "default_mult")]
    pub channel_multiplier: Vec<usize>,
    #[serde(default = "default_2")]
    pub num_res_blocks: usize,
    #[serde(default)]
    pub double_latent: bool,
    /// Generation-aligner width (= LLM hidden size).
    #[serde(default = "default_2048")]
    pub projection_dim: usize,
    /// Linear layers in the generation aligner.
    #[serde(default = "default_2")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    /// Generation-head input width (= LLM hidden size).
    #[serde(default = "default_2048")]
    pub image_token_embed_dim: usize,
    /// Code grid side; HF overwrites it with `image_size / patch_size`.
    #[serde(default)]
    pub num_patches: Option<usize>,
}

impl VqConfig {
    /// Spatial down-sampling factor of the encoder (2 per level but the last).
    pub fn downsample(&self) -> usize {
        1 << (self.channel_multiplier.len().saturating_sub(1))
    }
}

/// A Janus `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JanusConfig {
    pub text_config: TextConfig,
    pub vision_config: VisionConfig,
    pub vq_config: VqConfig,
    /// `<image_placeholder>`, whose positions receive image features.
    #[serde(default = "default_image_token")]
    pub image_token_id: u32,
    /// Janus-Pro ships a separate `lm_head.weight`; the loader ties only when it
    /// is absent, whatever this says (as transformers does).
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default = "default_janus")]
    pub model_type: String,
}

/// Token ids the model needs beyond `config.json` (HF keeps them in
/// `generation_config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationIds {
    pub bos_token_id: u32,
    pub eos_token_id: u32,
    /// `<｜▁pad▁｜>`: fills the unconditional CFG prompt.
    pub pad_token_id: u32,
    #[serde(default)]
    pub guidance_scale: Option<f64>,
    #[serde(default)]
    pub generation_kwargs: GenerationKwargs,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationKwargs {
    /// `<begin_of_image>`.
    #[serde(default)]
    pub boi_token_id: Option<u32>,
}

impl JanusConfig {
    /// Parses `config.json` text; `path` names the file in errors.
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        let cfg: JanusConfig = serde_json::from_str(text).map_err(|e| ModelError::Config {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate().map_err(|message| ModelError::Config {
            path: path.to_string(),
            message,
        })?;
        Ok(cfg)
    }

    /// Checks the cross-field constraints the modules rely on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let t = &self.text_config;
        let v = &self.vision_config;
        let q = &self.vq_config;
        if t.num_attention_heads == 0 || !t.num_attention_heads.is_multiple_of(t.kv_heads()) {
            return Err(format!(
                "text_config: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                t.num_attention_heads,
                t.kv_heads()
            ));
        }
        if !t.head_dim().is_multiple_of(2) {
            return Err(format!(
                "text_config: head_dim {} must be even for RoPE",
                t.head_dim()
            ));
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(format!(
                "vision_config: hidden_size {} is not divisible by num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            ));
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(format!(
                "vision_config: image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        if v.projection_dim != t.hidden_size {
            return Err(format!(
                "vision_config.projection_dim {} must equal text_config.hidden_size {}",
                v.projection_dim, t.hidden_size
            ));
        }
        if q.projection_dim != t.hidden_size || q.image_token_embed_dim != t.hidden_size {
            return Err(format!(
                "vq_config.projection_dim {} and image_token_embed_dim {} must equal text_config.hidden_size {}",
                q.projection_dim, q.image_token_embed_dim, t.hidden_size
            ));
        }
        let chans = std::iter::once(q.base_channels)
            .chain(q.channel_multiplier.iter().map(|m| m * q.base_channels));
        for c in chans {
            if c % 32 != 0 {
                return Err(format!(
                    "vq_config: channel count {c} is not a multiple of 32 (GroupNorm groups)"
                ));
            }
        }
        if q.channel_multiplier.is_empty() {
            return Err("vq_config.channel_multiplier is empty".into());
        }
        Ok(())
    }
}

pub(crate) fn default_silu() -> String {
    "silu".into()
}
pub(crate) fn default_gelu() -> String {
    "gelu".into()
}
pub(crate) fn default_llama() -> String {
    "llama".into()
}
pub(crate) fn default_janus() -> String {
    "janus".into()
}
pub(crate) fn default_rope_type() -> String {
    "default".into()
}
pub(crate) fn default_theta() -> f64 {
    10000.0
}
pub(crate) fn default_max_pos() -> usize {
    2048
}
pub(crate) fn default_eps() -> f64 {
    1e-6
}
pub(crate) fn default_mlp_ratio() -> f64 {
    4.0
}
pub(crate) fn default_true() -> bool {
    true
}
pub(crate) fn default_image_token() -> u32 {
    100581
}
pub(crate) fn default_mult() -> Vec<usize> {
    vec![1, 1, 2, 2, 4]
}
pub(crate) fn default_2() -> usize {
    d(2)
}
pub(crate) fn default_3() -> usize {
    d(3)
}
pub(crate) fn default_8() -> usize {
    d(8)
}
pub(crate) fn default_16() -> usize {
    d(16)
}
pub(crate) fn default_24() -> usize {
    d(24)
}
pub(crate) fn default_128() -> usize {
    d(128)
}
pub(crate) fn default_256() -> usize {
    256
}
pub(crate) fn default_384() -> usize {
    384
}
pub(crate) fn default_576() -> usize {
    576
}
pub(crate) fn default_1024() -> usize {
    1024
}
pub(crate) fn default_2048() -> usize {
    2048
}
pub(crate) fn default_16384() -> usize {
    16384
}
