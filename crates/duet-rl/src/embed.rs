//! The contrastive encoder as PairUni's image embedder: unit-norm image
//! embeddings for duet-data's retrieval (the role ResNet-50 features play in
//! the paper).

use std::path::Path;

use burn::prelude::*;
use duet_data::DataError;
use duet_data::pairs::ImageEmbedder;
use duet_data::pairs::embed::load_rgb;
use duet_model::contrastive::{self, ContrastiveEncoder};
use duet_model::preprocess::{PreprocessConfig, resize_and_pad};

use crate::error::Result;

pub struct EncoderEmbedder<B: Backend> {
    encoder: ContrastiveEncoder<B>,
    preprocess: PreprocessConfig,
    source: String,
    device: B::Device,
}

impl<B: Backend> EncoderEmbedder<B> {
    /// Loads an encoder written by `duet pretrain encoder`.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let (cfg, encoder) = contrastive::load::<B>(dir, device)?;
        Ok(EncoderEmbedder {
            encoder,
            preprocess: PreprocessConfig::janus(cfg.vision_config.image_size as u32),
            source: dir.display().to_string(),
            device: device.clone(),
        })
    }
}

impl<B: Backend> ImageEmbedder for EncoderEmbedder<B> {
    fn name(&self) -> String {
        format!("encoder:{}", self.source)
    }

    fn embed(&mut self, images: &[&Path]) -> duet_data::error::Result<Vec<Vec<f32>>> {
        let imgs = images
            .iter()
            .map(|p| load_rgb(p).map(|i| resize_and_pad(&i, &self.preprocess)))
            .collect::<duet_data::error::Result<Vec<_>>>()?;
        let refs: Vec<&image::RgbImage> = imgs.iter().collect();
        let e = self
            .encoder
            .embed_images(crate::tasks::pixels(&refs, &self.device));
        let [n, d] = e.dims();
        let v = crate::tensors::to_vec(e);
        if v.iter().any(|x| !x.is_finite()) {
            return Err(DataError::Embedding {
                embedder: self.name(),
                image: images[0].to_path_buf(),
                reason: "non-finite embedding in this batch".into(),
            });
        }
        Ok((0..n).map(|i| v[i * d..(i + 1) * d].to_vec()).collect())
    }
}
