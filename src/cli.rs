//! The command line: one clap enum, one function per subcommand.
//!
//! `main.rs` only calls [`main`]; everything here is reachable from tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::build::{build_dir, BuiltSite};
use crate::diagnostic::Diagnostics;
use crate::export::export;

/// A feed publisher: Markdown articles in, RSS 2.0, Atom 1.0 and JSON Feed 1.1 out.
#[derive(Debug, Parser)]
#[command(name = "broadsheet", version, about)]
pub struct Cli {
    /// The site directory, holding `config.toml` and `content/`.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every feed and page to files, replacing the previous export whole.
    Export {
        /// Where to write; `public/` under the site directory by default.
        dir: Option<PathBuf>,
    },
    /// Load and check the content without writing anything.
    Check,
}

/// Parses the process's arguments and runs the command.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Export { dir } => {
            let dir = dir.unwrap_or_else(|| display_root(&cli.root).join("public"));
            run_export(&cli.root, &dir)
        }
        Command::Check => run_check(&cli.root),
    }
}

/// `.` is left out of printed paths, so messages read `public/`, not `./public`.
fn display_root(root: &Path) -> PathBuf {
    if root == Path::new(".") {
        PathBuf::new()
    } else {
        root.to_path_buf()
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn load(root: &Path) -> Result<BuiltSite, ExitCode> {
    build_dir(root, Utc::now()).map_err(|diagnostics| report(&diagnostics))
}

fn report(diagnostics: &Diagnostics) -> ExitCode {
    eprintln!("{diagnostics}");
    let n = diagnostics.len();
    eprintln!("error: {n} problem{} found; nothing was written", if n == 1 { "" } else { "s" });
    ExitCode::FAILURE
}

fn run_export(root: &Path, dir: &Path) -> ExitCode {
    let started = Instant::now();
    let built = match load(root) {
        Ok(built) => built,
        Err(code) => return code,
    };
    match export(&built, dir) {
        Ok(summary) => {
            println!(
                "exported {} articles in {} sections: {} files, {} bytes to {} in {} ms",
                built.articles,
                built.sections,
                summary.files,
                summary.bytes,
                dir.display(),
                started.elapsed().as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("error: export failed; {} is as it was", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn run_check(root: &Path) -> ExitCode {
    match load(root) {
        Ok(built) => {
            println!(
                "ok: {} articles in {} sections, {} feeds",
                built.articles, built.sections, built.feeds
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
