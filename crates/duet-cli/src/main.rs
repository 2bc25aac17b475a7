//! `duet`: the command-line front end. Thin: parses arguments, adds context to
//! errors, shows progress; the work happens in the library crates.

mod cmd;
mod progress;

use clap::{Parser, Subcommand};

/// RL post-training toolkit for unified multimodal models.
#[derive(Parser)]
#[command(name = "duet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Data(c) => cmd::data::run(c),
        Command::Eval(c) => cmd::eval::run(c),
        Command::Pretrain(c) => cmd::pretrain::run(c),
        Command::Pairs(c) => cmd::pairs::run(c),
        Command::Rl(a) => cmd::rl::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line; no backtrace: these are input errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
