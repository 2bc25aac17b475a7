//! GenEval's image-folder layout: `<dir>/<digits>/metadata.jsonl` (one JSON
//! object, the prompt's metadata line) and `<dir>/<digits>/samples/<digits>.png`.
//! Unlike GenEval's script, folders and samples are visited in numeric order,
//! so outputs are reproducible.

use std::path::{Path, PathBuf};

use duet_data::io::write_atomic;
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::png_bytes;
use image::RgbImage;

use crate::error::{EvalError, Result};

/// One prompt folder.
#[derive(Debug, Clone)]
pub struct PromptFolder {
    pub dir: PathBuf,
    pub metadata: GenEvalMetadata,
    pub samples: Vec<PathBuf>,
}

fn layout_err(path: &Path, message: impl Into<String>) -> EvalError {
    EvalError::Layout {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn numeric_entries(dir: &Path) -> Result<Vec<(u64, String, PathBuf)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| duet_data::DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| duet_data::DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path()));
    }
    let mut out: Vec<_> = out
        .into_iter()
        .filter_map(|(name, path)| {
            let stem = name.strip_suffix(".png").unwrap_or(&name).to_string();
            let digits: String = stem.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse::<u64>().ok().map(|n| (n, name, path))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Reads every prompt folder of a GenEval image directory. A digit-named
/// folder without `metadata.jsonl`, with malformed metadata or without any
/// sample is an error naming it; other entries are skipped, as GenEval does.
pub fn read_image_dir(dir: &Path) -> Result<Vec<PromptFolder>> {
    if !dir.is_dir() {
        return Err(layout_err(dir, "not a directory of GenEval prompt folders"));
    }
    let mut out = Vec::new();
    for (_, name, path) in numeric_entries(dir)? {
        if !is_digits(&name) || !path.is_dir() {
            continue;
        }
        let meta_path = path.join("metadata.jsonl");
        if !meta_path.is_file() {
            return Err(layout_err(
                &meta_path,
                "missing (every prompt folder holds its metadata line)",
            ));
        }
        let metadata: GenEvalMetadata = {
            let text = std::fs::read_to_string(&meta_path)
                .map_err(|e| duet_data::DataError::io(&meta_path, e))?;
            serde_json::from_str(text.trim()).map_err(|source| duet_data::DataError::Json {
                path: meta_path.clone(),
                line: 1,
                source,
            })?
        };
        let samples_dir = path.join("samples");
        let samples: Vec<PathBuf> = if samples_dir.is_dir() {
            numeric_entries(&samples_dir)?
                .into_iter()
                .filter(|(_, name, p)| name.ends_with(".png") && p.is_file())
                .map(|(_, _, p)| p)
                .collect()
        } else {
            Vec::new()
        };
        if samples.is_empty() {
            return Err(layout_err(
                &samples_dir,
                "no samples (expected samples/0000.png, …)",
            ));
        }
        out.push(PromptFolder {
            dir: path,
            metadata,
            samples,
        });
    }
    if out.is_empty() {
        return Err(layout_err(
            dir,
            "no prompt folders (expected 00000/metadata.jsonl, …)",
        ));
    }
    Ok(out)
}

/// Writes one prompt folder: `<dir>/<index:05>/metadata.jsonl` and
/// `samples/<k:04>.png`, each file atomically.
pub fn write_prompt_folder(
    dir: &Path,
    index: usize,
    meta: &GenEvalMetadata,
    images: &[RgbImage],
) -> Result<PathBuf> {
    let folder = dir.join(format!("{index:05}"));
    let mut line = serde_json::to_vec(meta).expect("serialising plain data cannot fail");
    line.push(b'\n');
    write_atomic(&folder.join("metadata.jsonl"), &line)?;
    for (k, img) in images.iter().enumerate() {
        write_atomic(
            &folder.join("samples").join(format!("{k:04}.png")),
            &png_bytes(img),
        )?;
    }
    Ok(folder)
}
