//! The output record: one understanding–generation pair per JSONL line, in
//! the shape of PairUni's PairUG files (`similarity`, `generate_ann`,
//! `understand_ann`, each half a full quadruple of image, prompt, question and
//! answer), plus an explicit `pair_type` that PairUG leaves implicit.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::io::read_jsonl_numbered;

/// How a pair was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairType {
    /// One item, completed across modalities: both halves share its image.
    Aligned,
    /// A generation item and a visually similar understanding item.
    Retrieved,
}

/// Which input set an aligned pair's item came from (PairUni reports the
/// split: App. B.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Understanding,
    Generation,
}

/// One half of a pair: a full quadruple (image, prompt, question, answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ann {
    /// The input item's id (absent in PairUG's own files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Relative to the pairs file when written by duet.
    pub image_path: String,
    pub prompt: String,
    pub question: String,
    /// Separate options (PairUG folds them into `question`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    pub answer: String,
    #[serde(default)]
    pub tag: String,
}

/// One line of a pairs file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    /// Cosine similarity of the two images; 1 for aligned pairs.
    pub similarity: f32,
    pub pair_type: PairType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub generate_ann: Ann,
    pub understand_ann: Ann,
}

impl Ann {
    /// The question in PairUG's single-string form: options as lettered
    /// lines, then PairUG's closing instruction.
    pub fn mc_prompt(&self) -> String {
        let mut s = self.question.clone();
        for (i, o) in self.options.iter().enumerate() {
            s.push_str(&format!("\n{}. {o}", crate::records::option_letter(i)));
        }
        if !self.options.is_empty() {
            s.push_str("\nAnswer with the option's letter from the given choices directly.");
        }
        s
    }
}

/// Reads a pairs file, duet's or PairUG's. A line without `pair_type` is
/// aligned when both halves name the same image, else retrieved (the spec's
/// reading of PairUG, which does not say).
pub fn read_pairs(path: &Path) -> Result<Vec<PairRecord>> {
    #[derive(Deserialize)]
    struct Raw {
        similarity: f32,
        #[serde(default)]
        pair_type: Option<PairType>,
        #[serde(default)]
        origin: Option<Origin>,
        generate_ann: Ann,
        understand_ann: Ann,
    }
    let rows: Vec<(usize, Raw)> = read_jsonl_numbered(path)?;
    rows.into_iter()
        .map(|(line, r)| {
            if !r.similarity.is_finite() || !(-1.0..=1.0 + 1e-4).contains(&r.similarity) {
                return Err(DataError::BadItem {
                    path: path.to_path_buf(),
                    line,
                    id: r.generate_ann.id.clone(),
                    reason: format!("similarity {} is not a cosine", r.similarity),
                });
            }
            let pair_type = r.pair_type.unwrap_or(
                if r.generate_ann.image_path == r.understand_ann.image_path {
                    PairType::Aligned
                } else {
                    PairType::Retrieved
                },
            );
            Ok(PairRecord {
                similarity: r.similarity,
                pair_type,
                origin: r.origin,
                generate_ann: r.generate_ann,
                understand_ann: r.understand_ann,
            })
        })
        .collect()
}

/// `target` relative to directory `base` (both made absolute first), so a
/// pairs file and its images can move together.
pub fn relative_to(target: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (t, b) = (abs(target), abs(base));
    let tc: Vec<Component> = t.components().collect();
    let bc: Vec<Component> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return t;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &tc[common..] {
        out.push(c);
    }
    out
}

/// Where PairUG-style image paths point, for callers that resolve them.
pub fn resolve_image(pairs_file: &Path, image_path: &str) -> PathBuf {
    pairs_file
        .parent()
        .unwrap_or(Path::new(""))
        .join(image_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairug_lines_without_pair_type_are_inferred() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.jsonl");
        let ann = |img: &str| {
            format!(
                r#"{{"image_path":"{img}","prompt":"p","question":"q","answer":"A","tag":"t"}}"#
            )
        };
        let line = |s: f32, a: &str, b: &str| {
            format!(
                r#"{{"similarity":{s},"generate_ann":{},"understand_ann":{}}}"#,
                ann(a),
                ann(b)
            )
        };
        let text = format!(
            "{}\n{}\n",
            line(1.0, "x.png", "x.png"),
            line(0.8, "x.png", "y.png")
        );
        std::fs::write(&f, text).unwrap();
        let pairs = read_pairs(&f).unwrap();
        assert_eq!(pairs[0].pair_type, PairType::Aligned);
        assert_eq!(pairs[1].pair_type, PairType::Retrieved);
        std::fs::write(&f, line(3.0, "x.png", "y.png")).unwrap();
        let err = read_pairs(&f).unwrap_err().to_string();
        assert!(
            err.contains("p.jsonl:1") && err.contains("not a cosine"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_climb_to_the_common_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/images")).unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        let img = dir.path().join("a/images/1.png");
        std::fs::write(&img, b"x").unwrap();
        let rel = relative_to(&img, &dir.path().join("out"));
        assert_eq!(rel, Path::new("../a/images/1.png"));
    }

    #[test]
    fn mc_prompt_lists_options() {
        let a = Ann {
            id: String::new(),
            image_path: "x".into(),
            prompt: "p".into(),
            question: "How many?".into(),
            options: vec!["1".into(), "2".into()],
            answer: "B".into(),
            tag: String::new(),
        };
        assert!(
            a.mc_prompt()
                .starts_with("How many?\nA. 1\nB. 2\nAnswer with")
        );
    }
}
