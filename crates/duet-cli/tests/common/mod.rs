//! Helpers shared by the `duet` binary's integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `duet` binary.
pub fn duet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_duet"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("duet runs")
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Exit code 1, no panic, and every needle in stderr.
pub fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing `{n}` in: {err}");
    }
}
