//! Before/after sample grids: the same prompts and sampling seeds drawn by
//! the base and by the RL-tuned model, each image framed green when
//! GenEval's rules accept it and red when not.

use std::path::Path;

use anyhow::{Context, Result};
use duet_data::records::GenEvalMetadata;
use duet_rl::eval::{EvalConfig, Split, evaluate};
use image::{Rgb, RgbImage};

/// Images (with verdicts) of one model, prompt-major.
pub struct Drawn {
    pub rows: Vec<Vec<(RgbImage, bool)>>,
}

/// Up to `n` prompts taken round-robin over the tasks, so every task shows.
pub fn pick_prompts(all: &[GenEvalMetadata], n: usize) -> Vec<GenEvalMetadata> {
    let mut tags: Vec<_> = all.iter().map(|m| m.tag).collect();
    tags.dedup();
    let mut seen = std::collections::BTreeSet::new();
    tags.retain(|t| seen.insert(*t));
    let mut out = Vec::new();
    let mut depth = 0;
    while out.len() < n {
        let before = out.len();
        for t in &tags {
            if let Some(m) = all.iter().filter(|m| m.tag == *t).nth(depth)
                && out.len() < n
            {
                out.push(m.clone());
            }
        }
        if out.len() == before {
            break;
        }
        depth += 1;
    }
    out
}

/// Draws `samples` images per prompt with the model in `model_dir`.
pub fn draw(model_dir: &Path, prompts: &[GenEvalMetadata], cfg: &EvalConfig) -> Result<Drawn> {
    let device = Default::default();
    let m = crate::cmd::model::load::<duet_model::Cpu>(model_dir, &device)?;
    let split = Split {
        mc: Vec::new(),
        prompts: prompts.to_vec(),
        scenes: Vec::new(),
    };
    let r = evaluate(&m.model, &m.tok, &m.ids, &split, cfg)
        .with_context(|| format!("drawing samples with {}", m.dir.display()))?;
    let per = cfg.images_per_prompt.max(1);
    let cells: Vec<(RgbImage, bool)> = r
        .images
        .into_iter()
        .zip(&r.results)
        .map(|((_, img), res)| (img, res.correct))
        .collect();
    Ok(Drawn {
        rows: cells.chunks(per).map(<[_]>::to_vec).collect(),
    })
}

const SCALE: u32 = 2;
const FRAME: u32 = 3;
const GAP: u32 = 4;

/// One row of framed, upscaled images.
pub fn strip(cells: &[(RgbImage, bool)]) -> RgbImage {
    let side = cells.first().map_or(64, |c| c.0.width()) * SCALE;
    let cell = side + 2 * FRAME;
    let w = cells.len() as u32 * (cell + GAP);
    let mut out = RgbImage::from_pixel(w.max(1), cell, Rgb([255, 255, 255]));
    for (i, (img, ok)) in cells.iter().enumerate() {
        let x0 = i as u32 * (cell + GAP);
        let frame = if *ok {
            Rgb([0, 158, 115])
        } else {
            Rgb([213, 94, 0])
        };
        for y in 0..cell {
            for x in 0..cell {
                out.put_pixel(x0 + x, y, frame);
            }
        }
        let big = image::imageops::resize(
            img,
            img.width() * SCALE,
            img.height() * SCALE,
            image::imageops::FilterType::Nearest,
        );
        image::imageops::overlay(&mut out, &big, (x0 + FRAME) as i64, FRAME as i64);
    }
    out
}

/// All strips stacked (the grid saved next to the report).
pub fn grid(rows: &[RgbImage]) -> RgbImage {
    let w = rows.iter().map(RgbImage::width).max().unwrap_or(1);
    let h: u32 = rows.iter().map(|r| r.height() + GAP).sum();
    let mut out = RgbImage::from_pixel(w, h.max(1), Rgb([255, 255, 255]));
    let mut y = 0;
    for r in rows {
        image::imageops::overlay(&mut out, r, 0, y as i64);
        y += r.height() + GAP;
    }
    out
}
