//! `duet`: the command-line front end. Thin: parses arguments, adds context to
//! errors, shows progress; the work happens in the library crates.

mod backend;
mod cmd;
mod progress;
mod report;

use clap::{Parser, Subcommand};

/// RL post-training toolkit for unified multimodal models.
#[derive(Parser)]
#[command(name = "duet", version, about, long_about = None)]
pub struct Cli {
    /// Backend that runs the model: cpu (burn-flex), or wgpu / cuda when
    /// built with those cargo features.
    #[arg(long, global = true, value_enum, default_value_t = backend::BackendKind::Cpu)]
    backend: backend::BackendKind,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The whole mission in one command: data, pretrained base, pairs,
    /// PairGRPO, before/after evaluation, report.html.
    Demo(cmd::demo::DemoArgs),
    /// Re-render report.html of a demo run directory.
    Report(cmd::demo::ReportArgs),
    /// Generate datasets.
    #[command(subcommand)]
    Data(cmd::data::DataCmd),
    /// Score generated images (GenEval) or answers (MMMU).
    #[command(subcommand)]
    Eval(cmd::eval::EvalCmd),
    /// Build the embedded ShapeWorld base model (VQ, encoder, SFT).
    #[command(subcommand)]
    Pretrain(cmd::pretrain::PretrainCmd),
    /// Build understanding–generation pairs (PairUni's PairUG files).
    #[command(subcommand)]
    Pairs(cmd::pairs::PairsCmd),
    /// RL post-training: GRPO, PairGRPO, dual self-rewards, LVRPO.
    Rl(cmd::rl::RlArgs),
    /// Draw images for a prompt with any checkpoint.
    Generate(cmd::infer::GenerateArgs),
    /// Answer a question about an image with any checkpoint.
    Ask(cmd::infer::AskArgs),
}

/// Runs one parsed command (the demo chains several).
pub fn dispatch(command: Command, backend: backend::BackendKind) -> anyhow::Result<()> {
    use backend::with_backend;
    match command {
        Command::Demo(a) => cmd::demo::run(a, backend),
        Command::Report(a) => cmd::demo::report(a),
        Command::Data(c) => cmd::data::run(c),
        Command::Eval(c) => cmd::eval::run(c, backend),
        Command::Pretrain(c) => cmd::pretrain::run(c, backend),
        Command::Pairs(c) => cmd::pairs::run(c),
        Command::Rl(a) => cmd::rl::run(a, backend),
        Command::Generate(a) => {
            with_backend!(backend, B, dev => cmd::infer::generate::<B>(a, &dev))
        }
        Command::Ask(a) => with_backend!(backend, B, dev => cmd::infer::ask::<B>(a, &dev)),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = dispatch(cli.command, cli.backend);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line; no backtrace: these are input errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
