//! docs/cli.md is the binary's own `--help` output for every command.

use std::process::Command;

#[test]
fn docs_cli_md_matches_clap() {
    let out = Command::new(env!("CARGO_BIN_EXE_duet"))
        .arg("cli-reference")
        .output()
        .expect("duet runs");
    assert!(out.status.success());
    let now = String::from_utf8(out.stdout).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md");
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    assert!(now.contains("## `duet demo`") && now.contains("## `duet eval model`"));
    assert!(
        doc == now,
        "docs/cli.md is out of date: regenerate it with \
         `cargo run -p duet-cli -- cli-reference > docs/cli.md`"
    );
}
