//! Named configurations of the same model: the parity fixture's shape and
//! the embedded ShapeWorld default.

use crate::config::{
    GenerationIds, GenerationKwargs, JanusConfig, RopeParameters, TextConfig, VisionConfig,
    VqConfig, default_gelu, default_janus, default_llama, default_rope_type, default_silu,
};
use crate::error::{ModelError, Result};

impl JanusConfig {
    /// Names accepted by [`JanusConfig::preset`].
    pub const PRESETS: [&'static str; 2] = ["tiny-parity", "shapeworld"];

    /// A named configuration with its special token ids:
    /// - `tiny-parity`: the random checkpoint of the parity fixtures (64-px
    ///   images, 16 image tokens, 64-code codebook);
    /// - `shapeworld`: the embedded default for 64×64 ShapeWorld scenes —
    ///   8×8 = 64 image tokens (VQ 8× down), a 512-code codebook, a
    ///   4-layer 128-wide decoder with grouped KV heads (4 query, 2 KV).
    pub fn preset(name: &str) -> Result<(JanusConfig, GenerationIds)> {
        let ids = GenerationIds {
            bos_token_id: 1,
            eos_token_id: 2,
            pad_token_id: 3,
            guidance_scale: Some(5.0),
            generation_kwargs: GenerationKwargs {
                boi_token_id: Some(4),
            },
        };
        let text = |vocab, hidden, inter, layers, heads, kv| TextConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv),
            head_dim: Some(hidden / heads),
            hidden_act: default_silu(),
            max_position_embeddings: 256,
            rms_norm_eps: 1e-6,
            rope_parameters: Some(RopeParameters {
                rope_type: default_rope_type(),
                rope_theta: 10000.0,
            }),
            rope_theta: None,
            attention_bias: false,
            mlp_bias: false,
            pad_token_id: Some(0),
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            model_type: default_llama(),
        };
        let vision = |hidden, layers, heads, patch, proj: usize| VisionConfig {
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_channels: 3,
            image_size: 64,
            patch_size: patch,
            hidden_act: default_gelu(),
            layer_norm_eps: 1e-6,
            mlp_ratio: 4.0,
            attention_bias: true,
            projection_dim: proj,
            depth: 2,
            use_qk_norm: false,
            num_image_tokens: (64 / patch) * (64 / patch),
        };
        let vq = |codes, latent, mult: Vec<usize>, res, proj: usize| VqConfig {
            embed_dim: 8,
            num_embeddings: codes,
            latent_channels: latent,
            in_channels: 3,
            out_channels: 3,
            base_channels: 32,
            channel_multiplier: mult,
            num_res_blocks: res,
            double_latent: false,
            projection_dim: proj,
            num_hidden_layers: 2,
            hidden_act: default_gelu(),
            image_token_embed_dim: proj,
            num_patches: None,
        };
        let cfg = match name {
            "tiny-parity" => JanusConfig {
                text_config: text(128, 64, 176, 2, 4, 4),
                vision_config: vision(32, 2, 4, 16, 64),
                vq_config: vq(64, 32, vec![1, 1, 1, 1, 2], 1, 64),
                image_token_id: 6,
                tie_word_embeddings: Some(false),
                model_type: default_janus(),
            },
            "shapeworld" => JanusConfig {
                text_config: text(512, 128, 344, 4, 4, 2),
                vision_config: vision(64, 2, 4, 8, 128),
                vq_config: vq(512, 64, vec![1, 1, 2, 4], 0, 128),
                image_token_id: 6,
                tie_word_embeddings: Some(false),
                model_type: default_janus(),
            },
            other => {
                return Err(ModelError::Config {
                    path: format!("preset `{other}`"),
                    message: format!("unknown preset (known: {})", Self::PRESETS.join(", ")),
                });
            }
        };
        cfg.validate().map_err(|message| ModelError::Config {
            path: format!("preset `{name}`"),
            message,
        })?;
        Ok((cfg, ids))
    }
}
