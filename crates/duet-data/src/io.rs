//! JSONL reading and atomic writing.
//!
//! Outputs are written to a temporary file in the destination directory and
//! renamed into place, so a run killed at any moment leaves either the old file
//! or the complete new one, never a truncated one.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DataError, Result};

/// Reads a JSON-lines file; blank lines are skipped, and a malformed line is
/// reported with its 1-based line number.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    Ok(read_jsonl_numbered(path)?
        .into_iter()
        .map(|(_, item)| item)
        .collect())
}

/// Like [`read_jsonl`], with each item's 1-based line number, for checks that
/// must point at the offending line (duplicate ids, missing images).
pub fn read_jsonl_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push((i + 1, item));
    }
    Ok(out)
}

/// Reads one JSON document.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| DataError::JsonFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Serialises items as JSON lines (one compact object per line).
pub fn to_jsonl<T: Serialize>(items: &[T]) -> Vec<u8> {
    let mut buf = Vec::new();
    for item in items {
        serde_json::to_writer(&mut buf, item).expect("serialising plain data cannot fail");
        buf.push(b'\n');
    }
    buf
}

/// Writes items as JSON lines, atomically.
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    write_atomic(path, &to_jsonl(items))
}

/// Writes a pretty-printed JSON document, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut buf = serde_json::to_vec_pretty(value).expect("serialising plain data cannot fail");
    buf.push(b'\n');
    write_atomic(path, &buf)
}

/// Writes bytes to `path` through a temporary file in the same directory and a
/// rename; parent directories are created.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".duet-").suffix(".tmp");
    // tempfile creates 0600 files; outputs are ordinary shared files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| DataError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| DataError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| DataError::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\n{\"a\":2\n").unwrap();
        let err = read_jsonl::<serde_json::Value>(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.jsonl:3"), "{msg}");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        write_jsonl(&path, &[1, 2, 3]).unwrap();
        write_jsonl(&path, &[4]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4\n");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
