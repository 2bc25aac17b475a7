//! `duet generate` (prompt → PNGs) and `duet ask` (image + question → answer)
//! for any checkpoint duet can load, an HF Janus-Pro one included.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::Backend;
use clap::Args;
use duet_model::generate::{ImageGenConfig, TextGenConfig, generate_image_tokens, generate_text};
use duet_model::preprocess::{PreprocessConfig, pixel_values};
use duet_model::sampling::SamplingConfig;
use duet_rl::{eval, tasks};

use super::model;

/// Sampling knobs shared by both commands (HF `generate` names).
#[derive(Args, Clone)]
pub struct Sampling {
    /// Softmax temperature; 0 = greedy.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Keep the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling mass (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl Sampling {
    fn config(&self, default_temperature: f64) -> Result<SamplingConfig> {
        let t = self.temperature.unwrap_or(default_temperature);
        if !(t >= 0.0 && t.is_finite()) {
            bail!("--temperature must be ≥ 0, got {t}");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("--top-p must be in (0, 1], got {}", self.top_p);
        }
        Ok(SamplingConfig {
            temperature: t,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
        })
    }
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Checkpoint, `duet pretrain` run or `duet rl` output directory.
    #[arg(long)]
    pub model: PathBuf,
    /// The text prompt.
    #[arg(long)]
    pub prompt: String,
    /// Output directory for `<k:04>.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Images to draw.
    #[arg(long, short = 'n', default_value_t = 4)]
    pub num_images: usize,
    /// Classifier-free guidance weight (default: the checkpoint's
    /// `guidance_scale`, else 5 as Janus-Pro); 1 = no guidance.
    #[arg(long)]
    pub cfg_scale: Option<f64>,
    #[command(flatten)]
    pub sampling: Sampling,
}

#[derive(Args)]
pub struct AskArgs {
    /// Checkpoint, `duet pretrain` run or `duet rl` output directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Image file (PNG or JPEG); resized and padded as Janus's processor does.
    #[arg(long)]
    pub image: PathBuf,
    /// The question (for multiple choice, list the options in it).
    #[arg(long)]
    pub question: String,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    #[command(flatten)]
    pub sampling: Sampling,
}

pub fn generate<B: Backend>(a: GenerateArgs, device: &B::Device) -> Result<()> {
    if a.num_images == 0 {
        bail!("--num-images must be at least 1");
    }
    let m = model::load::<B>(&a.model, device)?;
    let cfg_scale = a.cfg_scale.or(m.ids.guidance_scale).unwrap_or(5.0);
    if !(cfg_scale.is_finite() && cfg_scale >= 1.0) {
        bail!("--cfg-scale must be ≥ 1, got {cfg_scale}");
    }
    let row = tasks::generation_ids(&m.tok, &a.prompt)
        .with_context(|| format!("tokenizing the prompt with {}", m.dir.display()))?;
    let gen_cfg = ImageGenConfig {
        num_tokens: tasks::image_tokens(&m.model),
        cfg_scale,
        sampling: a.sampling.config(1.0)?,
        use_cache: true,
        ..tasks::cond_image_cfg(&m.ids)
    };
    let codes = generate_image_tokens(&m.model, &vec![row; a.num_images], &gen_cfg)?;
    let images = eval::decode_codes(&m.model, &codes)?;
    for (k, img) in images.iter().enumerate() {
        let path = a.out.join(format!("{k:04}.png"));
        duet_data::io::write_atomic(&path, &duet_data::shapeworld::png_bytes(img))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

pub fn ask<B: Backend>(a: AskArgs, device: &B::Device) -> Result<()> {
    let m = model::load::<B>(&a.model, device)?;
    let img = image::open(&a.image)
        .with_context(|| format!("reading {}", a.image.display()))?
        .to_rgb8();
    let size = m.cfg.vision_config.image_size as u32;
    let pixels = pixel_values::<B>(&[img], &PreprocessConfig::janus(size), device);
    let prompt = tasks::understanding_ids(&m.tok, &a.question, tasks::image_tokens(&m.model))?;
    let cfg = TextGenConfig {
        max_new_tokens: a.max_new_tokens,
        stop_tokens: vec![m.ids.eos_token_id],
        pad_id: m.ids.pad_token_id,
        sampling: a.sampling.config(0.0)?,
    };
    let out = generate_text(&m.model, &[prompt], Some(pixels), &cfg)?;
    println!(
        "{}",
        tasks::decode_response(&m.tok, &out[0], m.ids.eos_token_id)?
    );
    Ok(())
}
