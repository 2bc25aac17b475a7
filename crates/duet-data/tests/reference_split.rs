//! The committed reference split (`datasets/shapeworld/`) is exactly what the
//! generator produces from its manifest's options: regenerate and compare
//! every file byte for byte.

use std::path::{Path, PathBuf};

use duet_data::io::read_json;
use duet_data::shapeworld::{Manifest, generate};

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "README.md" {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn reference_split_regenerates_byte_identically() {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/shapeworld");
    let manifest: Manifest = read_json(&committed.join("manifest.json")).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    generate(fresh.path(), &manifest.options, |_, _| {}).unwrap();
    let (a, b) = (files(&committed), files(fresh.path()));
    assert_eq!(a, b, "file lists differ");
    for f in &a {
        let same = std::fs::read(committed.join(f)).unwrap()
            == std::fs::read(fresh.path().join(f)).unwrap();
        assert!(same, "{} differs from a fresh regeneration", f.display());
    }
    let total: u64 = a
        .iter()
        .map(|f| std::fs::metadata(committed.join(f)).unwrap().len())
        .sum();
    assert!(
        total <= 2 * 1024 * 1024,
        "reference split is {total} bytes, over 2 MB"
    );
}
