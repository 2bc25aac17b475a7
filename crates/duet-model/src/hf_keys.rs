//! The map between duet's module tree and Hugging Face's Janus weight keys.
//! One walk serves loading and saving: each module names its parameters by
//! HF key and layout, and a [`ParamVisitor`] does the rest.
//!
//! ```text
//! model.vision_model.embeddings.{patch_embedding, position_embedding}
//! model.vision_model.encoder.layers.{l}.{layer_norm1, self_attn.{q,k,v}_proj, self_attn.projection_layer, layer_norm2, mlp.fc1, mlp.fc2}
//! model.vision_model.post_layernorm
//! model.aligner.{fc1, hidden_layers.{i}}
//! model.vqmodel.{encoder, quant_conv, quantize.embedding, post_quant_conv, decoder}
//! model.generation_embeddings · model.generation_aligner.{fc1, hidden_layers.{i}}
//! model.generation_head.{proj_out, vision_head}
//! model.language_model.{embed_tokens, layers.{l}.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm}, norm}
//! lm_head
//! ```
//! Linear weights are transposed (PyTorch `[out, in]`, burn `[in, out]`);
//! norm `weight`/`bias` are burn's `gamma`/`beta`.

use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, LayerNorm, Linear, RmsNorm};
use burn::prelude::*;

use crate::aligner::{GenerationHead, MlpAligner};
use crate::error::Result;
use crate::janus::Janus;
use crate::llama::LlamaModel;
use crate::vision::VisionModel;
use crate::vq::VqVae;
use crate::vq::blocks::{AttnBlock, MidBlock, ResnetBlock};
use crate::weights::{Layout, ParamVisitor};

/// A module whose parameters have HF names under `prefix`.
pub trait HfModule<B: Backend> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()>;
}

fn k(prefix: &str, name: &str) -> String {
    format!("{prefix}.{name}")
}

impl<B: Backend> HfModule<B> for Linear<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        v.visit(&k(prefix, "weight"), &mut self.weight, Layout::Transposed)?;
        if let Some(b) = &mut self.bias {
            v.visit(&k(prefix, "bias"), b, Layout::Same)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for Embedding<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        v.visit(&k(prefix, "weight"), &mut self.weight, Layout::Same)
    }
}

impl<B: Backend> HfModule<B> for Conv2d<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        v.visit(&k(prefix, "weight"), &mut self.weight, Layout::Same)?;
        if let Some(b) = &mut self.bias {
            v.visit(&k(prefix, "bias"), b, Layout::Same)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for RmsNorm<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        v.visit(&k(prefix, "weight"), &mut self.gamma, Layout::Same)
    }
}

impl<B: Backend> HfModule<B> for LayerNorm<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        v.visit(&k(prefix, "weight"), &mut self.gamma, Layout::Same)?;
        if let Some(b) = &mut self.beta {
            v.visit(&k(prefix, "bias"), b, Layout::Same)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for GroupNorm<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        if let Some(g) = &mut self.gamma {
            v.visit(&k(prefix, "weight"), g, Layout::Same)?;
        }
        if let Some(b) = &mut self.beta {
            v.visit(&k(prefix, "bias"), b, Layout::Same)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for MlpAligner<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.fc1.visit_hf(&k(prefix, "fc1"), v)?;
        for (i, l) in self.hidden_layers.iter_mut().enumerate() {
            l.visit_hf(&format!("{prefix}.hidden_layers.{i}"), v)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for GenerationHead<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.proj_out.visit_hf(&k(prefix, "proj_out"), v)?;
        self.vision_head.visit_hf(&k(prefix, "vision_head"), v)
    }
}

impl<B: Backend> HfModule<B> for VisionModel<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        let e = k(prefix, "embeddings");
        self.embeddings
            .patch_embedding
            .visit_hf(&k(&e, "patch_embedding"), v)?;
        self.embeddings
            .position_embedding
            .visit_hf(&k(&e, "position_embedding"), v)?;
        for (i, l) in self.layers.iter_mut().enumerate() {
            let p = format!("{prefix}.encoder.layers.{i}");
            l.layer_norm1.visit_hf(&k(&p, "layer_norm1"), v)?;
            l.self_attn.q_proj.visit_hf(&k(&p, "self_attn.q_proj"), v)?;
            l.self_attn.k_proj.visit_hf(&k(&p, "self_attn.k_proj"), v)?;
            l.self_attn.v_proj.visit_hf(&k(&p, "self_attn.v_proj"), v)?;
            l.self_attn
                .projection_layer
                .visit_hf(&k(&p, "self_attn.projection_layer"), v)?;
            l.layer_norm2.visit_hf(&k(&p, "layer_norm2"), v)?;
            l.mlp.fc1.visit_hf(&k(&p, "mlp.fc1"), v)?;
            l.mlp.fc2.visit_hf(&k(&p, "mlp.fc2"), v)?;
        }
        self.post_layernorm
            .visit_hf(&k(prefix, "post_layernorm"), v)
    }
}

impl<B: Backend> HfModule<B> for LlamaModel<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.embed_tokens.visit_hf(&k(prefix, "embed_tokens"), v)?;
        for (i, l) in self.layers.iter_mut().enumerate() {
            let p = format!("{prefix}.layers.{i}");
            let a = &mut l.self_attn;
            a.q_proj.visit_hf(&k(&p, "self_attn.q_proj"), v)?;
            a.k_proj.visit_hf(&k(&p, "self_attn.k_proj"), v)?;
            a.v_proj.visit_hf(&k(&p, "self_attn.v_proj"), v)?;
            a.o_proj.visit_hf(&k(&p, "self_attn.o_proj"), v)?;
            l.mlp.gate_proj.visit_hf(&k(&p, "mlp.gate_proj"), v)?;
            l.mlp.up_proj.visit_hf(&k(&p, "mlp.up_proj"), v)?;
            l.mlp.down_proj.visit_hf(&k(&p, "mlp.down_proj"), v)?;
            l.input_layernorm.visit_hf(&k(&p, "input_layernorm"), v)?;
            l.post_attention_layernorm
                .visit_hf(&k(&p, "post_attention_layernorm"), v)?;
        }
        self.norm.visit_hf(&k(prefix, "norm"), v)
    }
}

impl<B: Backend> HfModule<B> for ResnetBlock<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.norm1.visit_hf(&k(prefix, "norm1"), v)?;
        self.conv1.visit_hf(&k(prefix, "conv1"), v)?;
        self.norm2.visit_hf(&k(prefix, "norm2"), v)?;
        self.conv2.visit_hf(&k(prefix, "conv2"), v)?;
        if let Some(s) = &mut self.nin_shortcut {
            s.visit_hf(&k(prefix, "nin_shortcut"), v)?;
        }
        Ok(())
    }
}

impl<B: Backend> HfModule<B> for AttnBlock<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.norm.visit_hf(&k(prefix, "norm"), v)?;
        self.q.visit_hf(&k(prefix, "q"), v)?;
        self.k.visit_hf(&k(prefix, "k"), v)?;
        self.v.visit_hf(&k(prefix, "v"), v)?;
        self.proj_out.visit_hf(&k(prefix, "proj_out"), v)
    }
}

impl<B: Backend> HfModule<B> for MidBlock<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        self.block_1.visit_hf(&k(prefix, "block_1"), v)?;
        self.attn_1.visit_hf(&k(prefix, "attn_1"), v)?;
        self.block_2.visit_hf(&k(prefix, "block_2"), v)
    }
}

impl<B: Backend> HfModule<B> for VqVae<B> {
    fn visit_hf<V: ParamVisitor<B>>(&mut self, prefix: &str, v: &mut V) -> Result<()> {
        let e = k(prefix, "encoder");
        let enc = &mut self.encoder;
        enc.conv_in.visit_hf(&k(&e, "conv_in"), v)?;
        for (i, level) in enc.down.iter_mut().enumerate() {
            let p = format!("{e}.down.{i}");
            for (j, b) in level.block.iter_mut().enumerate() {
                b.visit_hf(&format!("{p}.block.{j}"), v)?;
            }
            for (j, a) in level.attn.iter_mut().enumerate() {
                a.visit_hf(&format!("{p}.attn.{j}"), v)?;
            }
            if let Some(d) = &mut level.downsample {
                d.conv.visit_hf(&k(&p, "downsample.conv"), v)?;
            }
        }
        enc.mid.visit_hf(&k(&e, "mid"), v)?;
        enc.norm_out.visit_hf(&k(&e, "norm_out"), v)?;
        enc.conv_out.visit_hf(&k(&e, "conv_out"), v)?;
        self.quant_conv.visit_hf(&k(prefix, "quant_conv"), v)?;
        self.quantize
            .embedding
            .visit_hf(&k(prefix, "quantize.embedding"), v)?;
        self.post_quant_conv
            .visit_hf(&k(prefix, "post_quant_conv"), v)?;
        let d = k(prefix, "decoder");
        let dec = &mut self.decoder;
        dec.conv_in.visit_hf(&k(&d, "conv_in"), v)?;
        dec.mid.visit_hf(&k(&d, "mid"), v)?;
        for (i, level) in dec.up.iter_mut().enumerate() {
            let p = format!("{d}.up.{i}");
            for (j, b) in level.block.iter_mut().enumerate() {
                b.visit_hf(&format!("{p}.block.{j}"), v)?;
            }
            for (j, a) in level.attn.iter_mut().enumerate() {
                a.visit_hf(&format!("{p}.attn.{j}"), v)?;
            }
            if let Some(u) = &mut level.upsample {
                u.conv.visit_hf(&k(&p, "upsample.conv"), v)?;
            }
        }
        dec.norm_out.visit_hf(&k(&d, "norm_out"), v)?;
        dec.conv_out.visit_hf(&k(&d, "conv_out"), v)
    }
}

impl<B: Backend> Janus<B> {
    /// Walks every parameter except `lm_head` (whose tying the loader decides).
    pub fn visit_hf_body<V: ParamVisitor<B>>(&mut self, v: &mut V) -> Result<()> {
        self.vision_model.visit_hf("model.vision_model", v)?;
        self.aligner.visit_hf("model.aligner", v)?;
        self.vqmodel.visit_hf("model.vqmodel", v)?;
        self.generation_embeddings
            .visit_hf("model.generation_embeddings", v)?;
        self.generation_aligner
            .visit_hf("model.generation_aligner", v)?;
        self.generation_head.visit_hf("model.generation_head", v)?;
        self.language_model.visit_hf("model.language_model", v)
    }
}

/// The HF key of the output projection.
pub const LM_HEAD: &str = "lm_head";
