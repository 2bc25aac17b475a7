//! The whole unified model (transformers' `JanusForConditionalGeneration`):
//! the understanding path (vision tower → aligner → features spliced into the
//! image-placeholder positions), the LLaMA decoder with an untied `lm_head`,
//! and the generation path (code embedding → generation aligner → decoder →
//! generation head), plus the VQ-VAE.

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::aligner::{GenerationHead, MlpAligner, MlpAlignerConfig};
use crate::cache::KvCache;
use crate::config::JanusConfig;
use crate::error::{ModelError, Result};
use crate::linear::apply;
use crate::llama::{LlamaModel, LlamaOutput};
use crate::vision::VisionModel;
use crate::vq::VqVae;

#[derive(Module, Debug)]
pub struct Janus<B: Backend> {
    pub vision_model: VisionModel<B>,
    pub aligner: MlpAligner<B>,
    pub vqmodel: VqVae<B>,
    pub generation_embeddings: Embedding<B>,
    pub generation_aligner: MlpAligner<B>,
    pub generation_head: GenerationHead<B>,
    pub language_model: LlamaModel<B>,
    pub lm_head: Linear<B>,
    pub image_token_id: u32,
}

/// Touches every parameter so lazily initialised values become real ones.
struct Materialize;

impl<B: Backend> burn::module::ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

impl JanusConfig {
    /// A randomly initialised model of this shape. Parameters are drawn now,
    /// not lazily, so clones of the model (reference policies, snapshots)
    /// share the same weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Janus<B> {
        let model = self.init_lazy(device);
        model.visit(&mut Materialize);
        model
    }

    /// The model with parameters left uninitialised until first use: for
    /// loading, where every value is about to be replaced.
    pub fn init_lazy<B: Backend>(&self, device: &B::Device) -> Janus<B> {
        let t = &self.text_config;
        let v = &self.vision_config;
        let q = &self.vq_config;
        Janus {
            vision_model: v.init(device),
            aligner: MlpAlignerConfig::new(v.hidden_size, v.projection_dim, v.depth).init(device),
            vqmodel: q.init(device),
            generation_embeddings: EmbeddingConfig::new(q.num_embeddings, q.embed_dim).init(device),
            generation_aligner: MlpAlignerConfig::new(
                q.embed_dim,
                q.projection_dim,
                q.num_hidden_layers,
            )
            .init(device),
            generation_head: GenerationHead::new(
                q.image_token_embed_dim,
                q.projection_dim,
                q.num_embeddings,
                device,
            ),
            language_model: t.init(device),
            lm_head: LinearConfig::new(t.hidden_size, t.vocab_size)
                .with_bias(false)
                .init(device),
            image_token_id: self.image_token_id,
        }
    }
}

impl<B: Backend> Janus<B> {
    /// Aligned image features, `[batch, patches, hidden]`, for pixels
    /// `[batch, 3, size, size]`.
    pub fn image_features(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        self.aligner
            .forward(self.vision_model.forward(pixels).last_hidden_state)
    }

    /// Token embeddings of `ids` (`[batch, seq]`, host copy `ids_host`, row
    /// major) with the image-placeholder positions replaced, in order, by the
    /// rows of `features` (`[images, patches, hidden]`).
    pub fn merge_embeddings(
        &self,
        ids: &[u32],
        batch: usize,
        features: Option<Tensor<B, 3>>,
    ) -> Result<Tensor<B, 3>> {
        let device = self.lm_head.weight.device();
        if batch == 0 || !ids.len().is_multiple_of(batch) {
            return Err(ModelError::Input(format!(
                "{} ids do not split into {batch} rows",
                ids.len()
            )));
        }
        let seq = ids.len() / batch;
        let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let id_tensor =
            Tensor::<B, 2, Int>::from_data(TensorData::new(data, [batch, seq]), &device);
        let text = self.language_model.embed(id_tensor);
        let slots = ids.iter().filter(|&&i| i == self.image_token_id).count();
        let Some(features) = features else {
            if slots > 0 {
                return Err(ModelError::Input(format!(
                    "{slots} image placeholder tokens (id {}) but no image was given",
                    self.image_token_id
                )));
            }
            return Ok(text);
        };
        let [n, p, d] = features.dims();
        if n * p != slots {
            return Err(ModelError::Input(format!(
                "{slots} image placeholder tokens (id {}) but {n} image(s) × {p} features",
                self.image_token_id
            )));
        }
        // Row k of [text rows; feature rows] for each output position.
        let total = batch * seq;
        let mut next_feature = total;
        let index: Vec<i64> = ids
            .iter()
            .enumerate()
            .map(|(k, &id)| {
                if id == self.image_token_id {
                    next_feature += 1;
                    (next_feature - 1) as i64
                } else {
                    k as i64
                }
            })
            .collect();
        let rows = Tensor::cat(
            vec![text.reshape([total, d]), features.reshape([n * p, d])],
            0,
        );
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [total]), &device);
        Ok(rows.select(0, index).reshape([batch, seq, d]))
    }

    /// The understanding forward: logits `[batch, seq, vocab]` for `ids`
    /// (`[batch, seq]` row-major) with `pixels` for its image placeholders.
    pub fn forward_understanding(
        &self,
        ids: &[u32],
        batch: usize,
        pixels: Option<Tensor<B, 4>>,
        keep_layer_outputs: bool,
    ) -> Result<(Tensor<B, 3>, LlamaOutput<B>)> {
        let features = pixels.map(|p| self.image_features(p));
        let embeds = self.merge_embeddings(ids, batch, features)?;
        let out = self
            .language_model
            .forward(embeds, None, None, None, keep_layer_outputs);
        Ok((apply(&self.lm_head, out.last_hidden_state.clone()), out))
    }

    /// Input embeddings of image tokens for the decoder: the generation
    /// aligner applied to the code embeddings, `[batch, n, hidden]`.
    pub fn image_token_embeddings(&self, codes: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.generation_aligner
            .forward(self.generation_embeddings.forward(codes))
    }

    /// Image-token logits from decoder hidden states (any leading shape).
    pub fn image_logits<const D: usize>(&self, hidden: Tensor<B, D>) -> Tensor<B, D> {
        self.generation_head.forward(hidden)
    }

    /// Runs the decoder on embeddings, optionally with a cache.
    pub fn decode(&self, embeds: Tensor<B, 3>, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        self.language_model
            .forward(embeds, None, cache, None, false)
            .last_hidden_state
    }

    /// Runs the decoder with explicit positions and mask (padded batches).
    pub fn decode_masked(
        &self,
        embeds: Tensor<B, 3>,
        positions: Tensor<B, 2, Int>,
        mask: Option<Tensor<B, 4, Bool>>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.language_model
            .forward(embeds, Some(positions), cache, mask, false)
            .last_hidden_state
    }

    /// A fresh cache for this model's decoder.
    pub fn new_cache(&self) -> KvCache<B> {
        KvCache::new(self.language_model.layers.len())
    }
}
