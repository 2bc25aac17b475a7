//! Loads the tiny parity checkpoint and saves it again with duet's writer, so
//! transformers can be asked to load duet's output (docs/parity.md):
//!
//! ```sh
//! cargo run -p duet-model --example resave_tiny -- /tmp/duet-tiny
//! xtask/parity/.venv/bin/python xtask/parity/janus_tiny_reference.py \
//!     --out crates/duet-model/tests/fixtures/janus-tiny --check-duet /tmp/duet-tiny
//! ```

use std::path::PathBuf;

use duet_model::{Cpu, checkpoint};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: resave_tiny OUT_DIR")?,
    );
    let src =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/janus-tiny/checkpoint");
    let device = Default::default();
    let (cfg, model) = checkpoint::load::<Cpu>(&src, &device)?;
    let generation = checkpoint::read_generation_ids(&src)?;
    checkpoint::save(&model, &cfg, generation.as_ref(), None, &out)?;
    println!("saved {}", out.display());
    Ok(())
}
