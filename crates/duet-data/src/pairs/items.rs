//! The builder's inputs: understanding items (image, question, answer) and
//! generation items (prompt, image), read from JSONL with every check a user
//! needs to find bad input: the file, the line and the item id are named.
//!
//! Field aliases let ShapeWorld's and MMMU's own files be read directly:
//! `image_1` for `image` and `subject` for `tag` (understanding), and
//! GenEval-shaped generation lines whose extra keys are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::io::read_jsonl_numbered;
use crate::records::{OPTION_LETTERS, options_list_or_python_repr};

/// An understanding item: a question about an image, usually multiple choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndItem {
    pub id: String,
    /// Relative to the file holding the record; resolved when read.
    #[serde(default, alias = "image_1", alias = "image_path")]
    pub image: Option<PathBuf>,
    pub question: String,
    /// Empty for open questions.
    #[serde(default, deserialize_with = "options_list_or_python_repr")]
    pub options: Vec<String>,
    /// An option letter when `options` is given, else the answer text.
    pub answer: String,
    /// Source or question type, carried into the pair record.
    #[serde(default, alias = "subject")]
    pub tag: String,
    /// 1-based line in the file it was read from (0 when built in code).
    #[serde(skip)]
    pub line: usize,
}

/// A generation item: a prompt and a reference image that realises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenItem {
    pub id: String,
    #[serde(default, alias = "image_path")]
    pub image: Option<PathBuf>,
    pub prompt: String,
    #[serde(default, deserialize_with = "tag_string")]
    pub tag: String,
    #[serde(skip)]
    pub line: usize,
}

/// Tags are free text here; GenEval files store them as strings too, but a
/// null is tolerated.
fn tag_string<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl UndItem {
    /// The resolved image path (readers guarantee it is set and exists).
    pub fn image_path(&self) -> &Path {
        self.image.as_deref().unwrap_or(Path::new(""))
    }
}

impl GenItem {
    pub fn image_path(&self) -> &Path {
        self.image.as_deref().unwrap_or(Path::new(""))
    }
}

/// What the shared reader needs from an item type.
trait Item: DeserializeOwned {
    fn id(&self) -> &str;
    fn image_mut(&mut self) -> &mut Option<PathBuf>;
    fn set_line(&mut self, line: usize);
    /// A reason the item is unusable, if any.
    fn problem(&self) -> Option<String>;
}

impl Item for UndItem {
    fn id(&self) -> &str {
        &self.id
    }
    fn image_mut(&mut self) -> &mut Option<PathBuf> {
        &mut self.image
    }
    fn set_line(&mut self, line: usize) {
        self.line = line;
    }
    fn problem(&self) -> Option<String> {
        if self.question.trim().is_empty() {
            return Some("empty question".into());
        }
        if self.options.is_empty() {
            return self.answer.trim().is_empty().then(|| "empty answer".into());
        }
        if self.options.len() > OPTION_LETTERS.len() {
            return Some(format!(
                "{} options, at most {} are supported",
                self.options.len(),
                OPTION_LETTERS.len()
            ));
        }
        let ok = letter_index(&self.answer).is_some_and(|i| i < self.options.len());
        (!ok).then(|| {
            format!(
                "answer `{}` is not an option letter (A–{})",
                self.answer,
                OPTION_LETTERS[self.options.len() - 1]
            )
        })
    }
}

impl Item for GenItem {
    fn id(&self) -> &str {
        &self.id
    }
    fn image_mut(&mut self) -> &mut Option<PathBuf> {
        &mut self.image
    }
    fn set_line(&mut self, line: usize) {
        self.line = line;
    }
    fn problem(&self) -> Option<String> {
        self.prompt.trim().is_empty().then(|| "empty prompt".into())
    }
}

/// The 0-based index of an option letter (`"B"` → 1).
pub fn letter_index(answer: &str) -> Option<usize> {
    let mut chars = answer.trim().chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    OPTION_LETTERS.iter().position(|&l| l == c)
}

/// Reads understanding items; image paths are resolved against the file's
/// directory and must exist; ids must be unique.
pub fn read_und_items(path: &Path) -> Result<Vec<UndItem>> {
    read_items(path)
}

/// Reads generation items, with the same checks as [`read_und_items`].
pub fn read_gen_items(path: &Path) -> Result<Vec<GenItem>> {
    read_items(path)
}

fn read_items<T: Item>(path: &Path) -> Result<Vec<T>> {
    let base = path.parent().unwrap_or(Path::new(""));
    let rows: Vec<(usize, T)> = read_jsonl_numbered(path)?;
    let mut first: HashMap<String, usize> = HashMap::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for (line, mut item) in rows {
        let bad = |reason: String, id: &str| DataError::BadItem {
            path: path.to_path_buf(),
            line,
            id: id.to_string(),
            reason,
        };
        if item.id().trim().is_empty() {
            return Err(bad("empty id".into(), item.id()));
        }
        if let Some(&first_line) = first.get(item.id()) {
            return Err(DataError::DuplicateId {
                path: path.to_path_buf(),
                line,
                id: item.id().to_string(),
                first_line,
            });
        }
        first.insert(item.id().to_string(), line);
        if let Some(reason) = item.problem() {
            return Err(bad(reason, item.id()));
        }
        let id = item.id().to_string();
        let Some(rel) = item.image_mut().take() else {
            return Err(bad("no image path".into(), &id));
        };
        let image = base.join(rel);
        if !image.is_file() {
            return Err(DataError::MissingImage {
                path: path.to_path_buf(),
                line,
                id,
                image,
            });
        }
        *item.image_mut() = Some(image);
        item.set_line(line);
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(lines: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images")).unwrap();
        std::fs::write(dir.path().join("images/a.png"), b"x").unwrap();
        let f = dir.path().join("und.jsonl");
        std::fs::write(&f, lines).unwrap();
        (dir, f)
    }

    #[test]
    fn mmmu_shaped_lines_are_read_and_resolved() {
        let (dir, f) = setup(
            r#"{"id":"u1","question":"q","options":"['a', 'b']","answer":"B","subject":"count","image_1":"images/a.png"}"#,
        );
        let items = read_und_items(&f).unwrap();
        assert_eq!(items[0].tag, "count");
        assert_eq!(items[0].options, ["a", "b"]);
        assert_eq!(items[0].image_path(), dir.path().join("images/a.png"));
        assert_eq!(items[0].line, 1);
    }

    #[test]
    fn duplicate_id_names_both_lines() {
        let line =
            r#"{"id":"u1","question":"q","options":["a","b"],"answer":"A","image":"images/a.png"}"#;
        let (_d, f) = setup(&format!("{line}\n\n{line}\n"));
        let err = read_und_items(&f).unwrap_err().to_string();
        assert!(
            err.contains("und.jsonl:3: duplicate id `u1` (first on line 1)"),
            "{err}"
        );
    }

    #[test]
    fn missing_image_names_file_line_and_item() {
        let (_d, f) = setup(
            r#"{"id":"u9","question":"q","options":["a","b"],"answer":"A","image":"images/nope.png"}"#,
        );
        let err = read_und_items(&f).unwrap_err().to_string();
        assert!(err.contains("und.jsonl:1: item `u9`: image"), "{err}");
        assert!(err.contains("nope.png not found"), "{err}");
    }

    #[test]
    fn bad_answer_letter_and_missing_image_field_are_named() {
        let (_d, f) = setup(
            r#"{"id":"u2","question":"q","options":["a","b"],"answer":"C","image":"images/a.png"}"#,
        );
        let err = read_und_items(&f).unwrap_err().to_string();
        assert!(
            err.contains("item `u2`: answer `C` is not an option letter (A–B)"),
            "{err}"
        );
        let (_d, f) = setup(r#"{"id":"g1","prompt":"a photo of a circle","tag":"single_object"}"#);
        let err = read_gen_items(&f).unwrap_err().to_string();
        assert!(
            err.contains("und.jsonl:1: item `g1`: no image path"),
            "{err}"
        );
    }
}
