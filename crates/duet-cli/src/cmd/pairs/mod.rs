//! `duet pairs …`

mod summary;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use duet_data::io::{write_atomic, write_jsonl};
use duet_data::pairs::hnsw::HnswOptions;
use duet_data::pairs::kmeans::KMeansOptions;
use duet_data::pairs::{
    Annotator, CommandAnnotator, CompletionOptions, FormCheck, Histogram, IndexChoice, PairOptions,
    PairType, PixelEmbedder, SceneIndex, ShapeWorldOracle, Tools, Verifier, build_pairs,
    read_gen_items, read_und_items,
};

#[derive(Subcommand)]
pub enum PairsCmd {
    /// Build understanding–generation pairs (PairUni's PairUG): k-means
    /// medoids as aligned pairs, then greedy retrieval above a similarity
    /// threshold; every item in a pair is completed across modalities.
    Build(BuildArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Embedder {
    /// Colour, edge-direction and blob-count histograms (no model).
    Pixels,
    /// The contrastive encoder of `duet pretrain encoder` (give `--encoder`).
    Encoder,
}

#[derive(Clone, Copy, ValueEnum)]
enum Verify {
    /// The scene-graph check when scene graphs are found, else form only.
    Auto,
    /// Well-formed completions only.
    Form,
    /// Completions must agree with the ShapeWorld scene graph.
    Shapeworld,
}

#[derive(Clone, Copy, ValueEnum)]
enum Index {
    /// HNSW from --hnsw-min remaining understanding items on.
    Auto,
    Exact,
    Hnsw,
}

#[derive(Args)]
pub struct BuildArgs {
    /// Understanding items (JSONL: id, image|image_1, question, options, answer, tag|subject).
    #[arg(long = "und")]
    und: PathBuf,
    /// Generation items (JSONL: id, image, prompt, tag).
    #[arg(long = "gen")]
    gens: PathBuf,
    /// The pairs file (JSONL, PairUG records); written atomically.
    #[arg(long)]
    out: PathBuf,
    /// K for k-means; default one cluster per 20 items.
    #[arg(long)]
    clusters: Option<usize>,
    /// δ: least cosine similarity of a retrieved pair.
    #[arg(long, default_value_t = 0.6)]
    threshold: f32,
    /// Understanding items retrieved per generation item.
    #[arg(long, default_value_t = 1)]
    top_n: usize,
    #[arg(long, value_enum, default_value_t = Embedder::Pixels)]
    embedder: Embedder,
    /// Encoder checkpoint directory for `--embedder encoder`
    /// (e.g. runs/base/encoder/checkpoint-250).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// `oracle` (ShapeWorld scene graphs), `model:CHECKPOINT_DIR` (the
    /// unified model captions images and answers a count question per
    /// generation item) or `command:PROGRAM ARGS…` (JSON lines over
    /// stdin/stdout, see docs/pairs.md).
    #[arg(long, default_value = "oracle")]
    annotator: String,
    #[arg(long, value_enum, default_value_t = Verify::Auto)]
    verify: Verify,
    /// ShapeWorld scenes.jsonl files; default those beside --und and --gen.
    #[arg(long)]
    scenes: Vec<PathBuf>,
    /// Requests per item before an inconsistent completion is an error.
    #[arg(long, default_value_t = 3)]
    max_attempts: usize,
    /// Seconds to wait for each reply of a command annotator.
    #[arg(long, default_value_t = 120.0)]
    annotator_timeout: f64,
    /// Requests a command annotator gets at once.
    #[arg(long, default_value_t = 8)]
    annotator_batch: usize,
    #[arg(long, value_enum, default_value_t = Index::Auto)]
    index: Index,
    #[arg(long, default_value_t = 20_000)]
    hnsw_min: usize,
    #[arg(long, default_value_t = 64)]
    ef_search: usize,
    #[arg(long, default_value_t = 100)]
    ef_construction: usize,
    #[arg(long, default_value_t = 1024)]
    kmeans_batch: usize,
    #[arg(long, default_value_t = 100)]
    kmeans_steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Similarity histogram PNG; default `<out>.hist.png`.
    #[arg(long)]
    histogram: Option<PathBuf>,
}

pub fn run(cmd: PairsCmd) -> anyhow::Result<()> {
    match cmd {
        PairsCmd::Build(a) => build(a),
    }
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let und = read_und_items(&a.und)?;
    let gens = read_gen_items(&a.gens)?;
    let scene_files = if a.scenes.is_empty() {
        SceneIndex::beside(&[&a.und, &a.gens])
    } else {
        a.scenes.clone()
    };
    let scenes = SceneIndex::load(&scene_files)?;
    let use_scenes = match a.verify {
        Verify::Auto => !scenes.is_empty(),
        Verify::Form => false,
        Verify::Shapeworld => true,
    };
    let need_scenes = use_scenes || a.annotator == "oracle";
    if need_scenes && scenes.is_empty() {
        bail!(
            "the oracle annotator and the shapeworld check need scene graphs: no scenes.jsonl beside {} or {}; pass --scenes",
            a.und.display(),
            a.gens.display()
        );
    }
    if need_scenes {
        // Every item must have its scene, or the oracle could only fail late.
        let und_lines = und.iter().map(|i| (&a.und, i.line, &i.id, i.image_path()));
        let gen_lines = gens
            .iter()
            .map(|i| (&a.gens, i.line, &i.id, i.image_path()));
        for (file, line, id, image) in und_lines.chain(gen_lines) {
            if scenes.get(image).is_none() {
                bail!(
                    "{}:{line}: item `{id}`: image {} has no scene graph in {}",
                    file.display(),
                    image.display(),
                    scene_files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    let oracle = ShapeWorldOracle::new(scenes);
    let mut annotator: Box<dyn Annotator> = match a.annotator.strip_prefix("command:") {
        Some(cmd) => {
            let timeout = Duration::from_secs_f64(a.annotator_timeout.max(0.001));
            Box::new(CommandAnnotator::spawn(cmd, timeout, a.annotator_batch)?)
        }
        None if a.annotator == "oracle" => Box::new(oracle.clone()),
        None => match a.annotator.strip_prefix("model:") {
            Some(dir) => Box::new(
                duet_rl::annotate::ModelAnnotator::<duet_model::Cpu>::load(
                    std::path::Path::new(dir),
                    &Default::default(),
                )
                .with_context(|| format!("--annotator {}", a.annotator))?,
            ),
            None => bail!(
                "--annotator: expected `oracle`, `model:CHECKPOINT_DIR` or `command:PROGRAM`, got `{}`",
                a.annotator
            ),
        },
    };
    let verifier: &dyn Verifier = if use_scenes { &oracle } else { &FormCheck };
    let mut embedder: Box<dyn duet_data::pairs::ImageEmbedder> = match a.embedder {
        Embedder::Pixels => Box::new(PixelEmbedder::default()),
        Embedder::Encoder => {
            let dir = a
                .encoder
                .as_ref()
                .context("--embedder encoder needs --encoder DIR")?;
            Box::new(
                duet_rl::embed::EncoderEmbedder::<duet_model::Cpu>::load(dir, &Default::default())
                    .with_context(|| format!("loading the encoder in {}", dir.display()))?,
            )
        }
    };
    let opts = PairOptions {
        clusters: a.clusters,
        kmeans: KMeansOptions {
            k: 0,
            batch: a.kmeans_batch.max(1),
            steps: a.kmeans_steps,
            seed: a.seed,
        },
        threshold: a.threshold,
        top_n: a.top_n,
        index: match a.index {
            Index::Auto => IndexChoice::Auto,
            Index::Exact => IndexChoice::Exact,
            Index::Hnsw => IndexChoice::Hnsw,
        },
        hnsw_min: a.hnsw_min,
        hnsw: HnswOptions {
            ef_construction: a.ef_construction,
            ef_search: a.ef_search,
            seed: a.seed,
        },
        completion: CompletionOptions {
            max_attempts: a.max_attempts,
        },
    };
    let out_dir = match a.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut bars = summary::Bars::default();
    let tools = Tools {
        embedder: embedder.as_mut(),
        annotator: annotator.as_mut(),
        verifier,
    };
    let (records, stats) = build_pairs(&und, &gens, tools, &opts, &out_dir, &mut |s, d, t| {
        bars.update(s, d, t)
    })
    .with_context(|| {
        format!(
            "building pairs from {} and {}",
            a.und.display(),
            a.gens.display()
        )
    })?;
    bars.finish();

    let sims: Vec<f32> = records
        .iter()
        .filter(|r| r.pair_type == PairType::Retrieved)
        .map(|r| r.similarity)
        .collect();
    let lo = (a.threshold.clamp(0.0, 1.0) * 20.0).floor() / 20.0;
    let hist = Histogram::new(&sims, lo, 1.0, 20);
    let png = a
        .histogram
        .clone()
        .unwrap_or_else(|| sibling(&a.out, ".hist.png"));
    let title = format!(
        "RETRIEVED PAIRS: {} (THRESHOLD {:.2})",
        sims.len(),
        a.threshold
    );
    write_atomic(&png, &hist.to_png(&title))
        .with_context(|| format!("writing {}", png.display()))?;
    if let Err(e) = write_jsonl(&a.out, &records) {
        // Both outputs or neither.
        let _ = std::fs::remove_file(&png);
        return Err(e).with_context(|| format!("writing {}", a.out.display()));
    }

    let counts = (und.len(), gens.len());
    summary::print(
        &stats,
        records.len(),
        counts,
        a.threshold,
        &bars,
        &sims,
        &hist,
    );
    println!("wrote {} and {}", a.out.display(), png.display());
    Ok(())
}

/// `pairs.jsonl` → `pairs.hist.png`.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}{suffix}"))
}
