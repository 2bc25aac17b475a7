//! `duet demo`: the whole mission in one command. It runs, in one run
//! directory, the same `duet` commands a user would type — ShapeWorld data and
//! the pretrained base, PUG pairs, PairGRPO with before/after evaluation —
//! and writes `report.html`. Every stage reuses what a previous (or killed)
//! demo left in the directory, so running it again resumes or just
//! re-renders the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser};
use serde::{Deserialize, Serialize};

const BASE_RECIPE: &str = include_str!("../../../../recipes/shapeworld-base.toml");
const DEMO_RL: &str = include_str!("../../../../recipes/demo/pairgrpo.toml");
const QUICK_RECIPE: &str = include_str!("../../../../recipes/demo/quick.toml");
const QUICK_RL: &str = include_str!("../../../../recipes/demo/quick-rl.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Toy sizes for every stage (about a minute; numbers are meaningless):
    /// checks the pipeline, as CI does.
    #[arg(long)]
    pub quick: bool,
    /// Run directory (default runs/demo, or runs/demo-quick with --quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pretraining recipe (default: recipes/shapeworld-base.toml, copied
    /// into the run directory as recipe.toml).
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// RL config (default: recipes/demo/pairgrpo.toml, copied as rl.toml).
    #[arg(long)]
    pub rl_config: Option<PathBuf>,
}

/// Wall time of each stage, kept across invocations in `timings.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Stage → (seconds of the run that did the work).
    pub stages: BTreeMap<String, f64>,
}

impl Timings {
    fn path(out: &Path) -> PathBuf {
        out.join("timings.json")
    }
    pub fn load(out: &Path) -> Result<Timings> {
        let p = Self::path(out);
        if !p.is_file() {
            return Ok(Timings::default());
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }
    fn save(&self, out: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("plain data");
        duet_data::io::write_atomic(&Self::path(out), text.as_bytes())?;
        Ok(())
    }
}

/// Writes `text` to `path` unless a file is already there (a user's edits of
/// a run's recipe win), and returns the path.
fn materialise(path: PathBuf, text: &str) -> Result<PathBuf> {
    if !path.is_file() {
        duet_data::io::write_atomic(&path, text.as_bytes())?;
    }
    Ok(path)
}

/// Seeds `rl/eval_before.json` with the base's held-out evaluation from
/// `report.json` when the RL run would repeat it exactly — the same model
/// (the base's SFT checkpoint), split (`test`) and evaluation settings; it
/// is seeded, so re-running it (~30 s) gives the same numbers. Returns
/// whether the RL run can skip its start evaluation.
fn reuse_base_eval(out: &Path, recipe: &Path, rl_cfg: &Path, rl_dir: &Path) -> Result<bool> {
    let before = rl_dir.join("eval_before.json");
    let report = out.join("report.json");
    let rl = duet_rl::trainer::config::RlConfig::from_file(rl_cfg)?;
    let recipe = duet_rl::pretrain::recipe::Recipe::from_file(recipe)?;
    let same = rl.eval_on_start
        && rl.model_name_or_path.is_none()
        && rl.dataset.is_none()
        && rl.final_eval_split == "test"
        && rl.final_eval == recipe.eval;
    if !same || !report.is_file() {
        return Ok(false);
    }
    if before.is_file() {
        return Ok(true);
    }
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("reading {}", report.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", report.display()))?;
    let base = v
        .get("base")
        .with_context(|| format!("{}: no `base` evaluation", report.display()))?;
    let field = |k: &str| base.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let eval = serde_json::json!({
        "mc_accuracy": field("mc_accuracy"),
        "mc_by_type": field("mc_by_type"),
        "mc_unparsed": field("mc_unparsed"),
        "geneval": field("geneval"),
        "captions": field("captions"),
    });
    std::fs::create_dir_all(rl_dir).with_context(|| format!("creating {}", rl_dir.display()))?;
    let text = serde_json::to_string_pretty(&eval).expect("plain data");
    duet_data::io::write_atomic(&before, text.as_bytes())?;
    eprintln!(
        "    before: the base's evaluation in {} (same model, split and settings)",
        report.display()
    );
    Ok(true)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs one `duet …` command line in-process, echoing it first.
fn duet(backend: crate::backend::BackendKind, argv: &[String]) -> Result<()> {
    let mut argv = argv.to_vec();
    if backend != crate::backend::BackendKind::Cpu {
        argv.splice(0..0, ["--backend".to_string(), backend.name().to_string()]);
    }
    eprintln!("$ duet {}", argv.join(" "));
    let cli =
        crate::Cli::try_parse_from(std::iter::once("duet".to_string()).chain(argv.iter().cloned()))
            .map_err(|e| anyhow::anyhow!("internal command line `{}`: {e}", argv.join(" ")))?;
    crate::dispatch(cli.command, cli.backend)
}

struct Stages<'a> {
    out: &'a Path,
    timings: Timings,
    n: usize,
    total: usize,
}

impl Stages<'_> {
    /// Runs `work` unless `done` (then the stage is reported as cached).
    fn stage(&mut self, name: &str, done: bool, work: impl FnOnce() -> Result<()>) -> Result<()> {
        self.n += 1;
        if done {
            eprintln!(
                "==> [{}/{}] {name}: cached in {}",
                self.n,
                self.total,
                s(self.out)
            );
            return Ok(());
        }
        eprintln!("==> [{}/{}] {name}", self.n, self.total);
        let t = Instant::now();
        work().with_context(|| format!("demo stage `{name}`"))?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("    {name} took {secs:.1} s");
        self.timings.stages.insert(name.to_string(), secs);
        self.timings.save(self.out)
    }
}

pub fn run(a: DemoArgs, backend: crate::backend::BackendKind) -> Result<()> {
    let t0 = Instant::now();
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(if a.quick {
            "runs/demo-quick"
        } else {
            "runs/demo"
        })
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let (recipe_text, rl_text) = if a.quick {
        (QUICK_RECIPE, QUICK_RL)
    } else {
        (BASE_RECIPE, DEMO_RL)
    };
    let recipe = match &a.recipe {
        Some(p) => p.clone(),
        None => materialise(out.join("recipe.toml"), recipe_text)?,
    };
    let rl_cfg = match &a.rl_config {
        Some(p) => p.clone(),
        None => materialise(out.join("rl.toml"), rl_text)?,
    };
    let mut st = Stages {
        out: &out,
        timings: Timings::load(&out)?,
        n: 0,
        total: 4,
    };

    // 1. Data, tokenizer, VQ, contrastive encoder, SFT, and the base's report.
    st.stage("pretrain", out.join("report.json").is_file(), || {
        duet(
            backend,
            &[
                "pretrain".into(),
                "all".into(),
                "--recipe".into(),
                s(&recipe),
                "--out".into(),
                s(&out),
                "--resume".into(),
            ],
        )
    })?;

    // 2. PairUni's UG pairs from disjoint halves of the RL's training split.
    let split = duet_rl::trainer::config::RlConfig::from_file(&rl_cfg)?.dataset_train_split;
    let train = out.join("data").join(&split);
    let rl_n = duet_rl::pretrain::recipe::Recipe::from_file(&recipe)?
        .data
        .rl;
    if split == duet_data::shapeworld::dataset::RL_SPLIT
        && rl_n > 0
        && !train.join("scenes.jsonl").is_file()
    {
        // A base pretrained before its recipe asked for the rl split.
        eprintln!(
            "    adding the rl split ({rl_n} scenes) to {}",
            s(&out.join("data"))
        );
        duet_data::shapeworld::add_rl_split(&out.join("data"), rl_n, |_, _| {})?;
    }
    let pairs = out.join("pairs.jsonl");
    st.stage("pairs", pairs.is_file(), || {
        duet(
            backend,
            &["data".into(), "halves".into(), "--split".into(), s(&train)],
        )?;
        duet(
            backend,
            &[
                "pairs".into(),
                "build".into(),
                "--und".into(),
                s(&train.join(duet_data::shapeworld::halves::UND_HALF)),
                "--gen".into(),
                s(&train.join(duet_data::shapeworld::halves::GEN_HALF)),
                "--out".into(),
                s(&pairs),
            ],
        )
    })?;

    // 3. PairGRPO, evaluated on the test split before and after.
    let rl_dir = out.join("rl");
    st.stage("rl", rl_dir.join("eval_after.json").is_file(), || {
        let mut argv = vec![
            "rl".into(),
            "--config".into(),
            s(&rl_cfg),
            "--base".into(),
            s(&out),
            "--output-dir".into(),
            s(&rl_dir),
        ];
        if duet_rl::checkpoint::latest(&rl_dir)?.is_some() {
            argv.push("--resume".into());
        }
        if reuse_base_eval(&out, &recipe, &rl_cfg, &rl_dir)? {
            argv.push("--no-eval-on-start".into());
        }
        duet(backend, &argv)
    })?;

    // 4. The report (always re-rendered: cheap, and picks up new styling).
    st.stage("report", false, || {
        let path = crate::report::write(&out, &Default::default())?;
        eprintln!("    report: {}", path.display());
        Ok(())
    })?;
    eprintln!(
        "demo finished in {:.1} s; open {}",
        t0.elapsed().as_secs_f64(),
        out.join("report.html").display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ReportArgs {
    /// A demo run directory (with rl/ inside).
    #[arg(long, default_value = "runs/demo")]
    pub run: PathBuf,
    /// Prompts in the before/after sample grid.
    #[arg(long, default_value_t = 8)]
    pub prompts: usize,
    /// Samples per prompt.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn report(a: ReportArgs) -> Result<()> {
    let opt = crate::report::ReportOptions {
        prompts: a.prompts,
        samples: a.samples,
        seed: a.seed,
    };
    let path = crate::report::write(&a.run, &opt)?;
    println!("{}", path.display());
    Ok(())
}
