//! Disjoint halves of a split for PairUni-style pairing: understanding items
//! of the even-numbered scenes, generation items of the odd ones. Real
//! corpora come as separate understanding and generation sets; halving keeps
//! a scene from appearing in both, so every UG pair must be built (completed
//! or retrieved) rather than read off the generator.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::io::{read_jsonl_numbered, write_jsonl};

/// File names written next to the split's own files.
pub const UND_HALF: &str = "und_half.jsonl";
pub const GEN_HALF: &str = "gen_half.jsonl";

/// Scene number of an `images/000123.png` path.
fn scene_index(path: &Path, line: usize, item: &Value, key: &str) -> Result<u64> {
    let bad = |reason: String| DataError::BadItem {
        path: path.to_path_buf(),
        line,
        id: item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        reason,
    };
    let img = item
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("no `{key}` image path")))?;
    Path::new(img)
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("`{key}` = `{img}` is not images/<number>.png")))
}

fn half(path: &Path, key: &str, parity: u64) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (line, item) in read_jsonl_numbered::<Value>(path)? {
        if scene_index(path, line, &item, key)? % 2 == parity {
            out.push(item);
        }
    }
    Ok(out)
}

/// Writes `und_half.jsonl` and `gen_half.jsonl` into `split` (a ShapeWorld
/// split directory); returns their item counts.
pub fn write_halves(split: &Path) -> Result<(usize, usize)> {
    let und = half(&split.join("understanding.jsonl"), "image_1", 0)?;
    let gen_items = half(&split.join("generation.jsonl"), "image", 1)?;
    write_jsonl(&split.join(UND_HALF), &und)?;
    write_jsonl(&split.join(GEN_HALF), &gen_items)?;
    Ok((und.len(), gen_items.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_disjoint_by_scene_and_bad_paths_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("understanding.jsonl"),
            "{\"id\":\"a\",\"image_1\":\"images/000000.png\"}\n{\"id\":\"b\",\"image_1\":\"images/000001.png\"}\n{\"id\":\"c\",\"image_1\":\"images/000002.png\"}\n",
        )
        .unwrap();
        std::fs::write(
            d.join("generation.jsonl"),
            "{\"id\":\"g0\",\"image\":\"images/000000.png\"}\n{\"id\":\"g1\",\"image\":\"images/000001.png\"}\n",
        )
        .unwrap();
        assert_eq!(write_halves(d).unwrap(), (2, 1));
        let gen_items: Vec<Value> = crate::io::read_jsonl(&d.join(GEN_HALF)).unwrap();
        assert_eq!(gen_items[0]["id"], "g1");

        std::fs::write(
            d.join("generation.jsonl"),
            "{\"id\":\"g0\",\"image\":\"images/x.png\"}\n",
        )
        .unwrap();
        let e = write_halves(d).unwrap_err().to_string();
        assert!(e.contains("generation.jsonl:1") && e.contains("g0"), "{e}");
    }
}
