//! The command line: one clap enum, one function per subcommand.
//!
//! `main.rs` only calls [`main`]; everything here is reachable from tests.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::build::{build_dir_saved, build_dir_spilled, BuiltSet, SavedBuild};
use crate::config::BaseUrl;
use crate::diagnostic::Diagnostics;
use crate::export::{
    cache_staging_path, claim_spare, export_kept, give_back_spare, PreviousExport,
};
use crate::export_cache::CacheWriter;
use crate::loader::ParseCache;
use crate::server::{self, ServeOptions, StartError};
use crate::spill::Spill;

/// A feed publisher: Markdown articles in, RSS 2.0, Atom 1.0 and JSON Feed 1.1 out.
#[derive(Debug, Parser)]
#[command(name = "broadsheet", version, about)]
pub struct Cli {
    /// The site directory, holding `config.toml` and `content/`.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The options of `serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on, instead of `[server] bind`; port 0 takes a free port.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Do not rebuild when `content/` or `config.toml` change (`SIGHUP` still reloads).
    #[arg(long)]
    pub no_watch: bool,
    /// Publish every link under URL instead of config.toml's `base_url` (a
    /// loopback `base_url` follows the bound address without it).
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    pub base_url: Option<BaseUrl>,
}

fn parse_base_url(text: &str) -> Result<BaseUrl, String> {
    BaseUrl::parse(text)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the feeds and pages over HTTP, rebuilding them when the content changes.
    Serve(ServeArgs),
    /// Write every feed and page to files, replacing the previous export whole.
    Export {
        /// Where to write; `public/` under the site directory by default.
        dir: Option<PathBuf>,
    },
    /// Publish the same files as `export` to an object store (S3, GCS,
    /// Azure) or a directory, uploading only what changed.
    Deploy {
        /// Where: `s3://bucket/prefix`, `gs://bucket/prefix`,
        /// `az://container/prefix` or `file:///path`; `[deploy] url` by default.
        url: Option<String>,
        /// Print what would be uploaded, kept and deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Load and check the content without writing anything.
    Check,
    /// Print the audience figures counted by `serve` (read-only: works
    /// while the server runs).
    Stats {
        /// How many UTC days, up to today.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: u32,
        /// Only this feed: `/opinion/`, `opinion`, or one of its feed URLs' paths.
        #[arg(long, value_name = "PATH")]
        feed: Option<String>,
        /// Print the JSON that `/stats.json` serves instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the process's arguments and runs the command.
pub fn run() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let serve_options_given =
        cli.serve.bind.is_some() || cli.serve.no_watch || cli.serve.base_url.is_some();
    if cli.command.is_some() && serve_options_given {
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--bind, --no-watch and --base-url go with `serve` or no subcommand at all",
            )
            .exit();
    }
    match cli.command {
        None => run_serve(&cli.root, cli.serve),
        Some(Command::Serve(args)) => run_serve(&cli.root, args),
        Some(Command::Export { dir }) => {
            let dir = dir.unwrap_or_else(|| crate::loader::display_root(&cli.root).join("public"));
            run_export(&cli.root, &dir)
        }
        Some(Command::Deploy { url, dry_run }) => run_deploy(&cli.root, url, dry_run),
        Some(Command::Check) => run_check(&cli.root),
        Some(Command::Stats { days, feed, json }) => {
            run_stats(&cli.root, days, feed.as_deref(), json)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Builds the site in `root`, its cold pages (archive pages, later list
/// pages: the bulk of a large site, each written once) kept in spill files
/// in `spill_dir` rather than in memory.
fn load(root: &Path, spill_dir: &Path) -> Result<BuiltSet, ExitCode> {
    build_dir_spilled(root, Utc::now(), &Spill::to_dir(spill_dir))
        .map_err(|diagnostics| report(&diagnostics, "nothing was written"))
}

/// Prints every `path:line: message`, then their count and `outcome` (what
/// the command did not do because of them).
fn report(diagnostics: &Diagnostics, outcome: &str) -> ExitCode {
    eprintln!("{diagnostics}");
    let n = diagnostics.len();
    eprintln!(
        "error: {n} problem{} found; {outcome}",
        if n == 1 { "" } else { "s" }
    );
    ExitCode::FAILURE
}

fn run_export(root: &Path, dir: &Path) -> ExitCode {
    let started = Instant::now();
    // Refused before the build, which may take a while on a large site.
    if let Err(error) = crate::export::check_target(root, dir) {
        eprintln!("error: {error}");
        eprintln!("error: nothing was written");
        return ExitCode::FAILURE;
    }
    // Beside the target, where the export is about to be written anyway.
    let spill_dir = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // What the previous export saved: the articles it parsed and its
    // pages' fingerprints, so that only what changed is parsed and rendered.
    tracing::debug!("start");
    let mut previous = PreviousExport::open(dir);
    tracing::debug!("read the previous export's manifest");
    let (saved, not_used) = match previous.as_mut() {
        Some(previous) => previous.saved_build(),
        None => (SavedBuild::default(), None),
    };
    if let Some(reason) = not_used {
        eprintln!("warning: {reason}");
    }
    tracing::debug!(pages = saved.pages(), "read the previous export's cache");
    let spare_record = previous.as_mut().and_then(PreviousExport::take_spare);
    let unchanged_file = |url_path: &str| {
        previous
            .as_ref()
            .is_some_and(|previous| previous.holds_unchanged(url_path))
    };
    let now = Utc::now();
    // The cache for the next export is begun with the articles loaded,
    // while the pages are built; a cache that cannot be written is no
    // reason to fail (the next export renders every page).
    let cache_staging = cache_staging_path(dir);
    let begin_cache = |articles: &ParseCache| {
        let begun = std::fs::File::create(&cache_staging)
            .and_then(|file| CacheWriter::begin(file, articles, now).transpose());
        begun
            .map_err(|error| {
                tracing::warn!(path = %cache_staging.display(), %error, "the export's cache was not written; the next export renders every page");
            })
            .ok()
            .flatten()
    };
    // The spare tree is checked while the site is built.
    // Where no thread can be started, it is checked after the build.
    let has_record = spare_record.is_some();
    let record = std::sync::Mutex::new(spare_record);
    let (output, spare) = std::thread::scope(|scope| {
        let claim = || {
            let record = record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            record.and_then(|record| claim_spare(dir, record))
        };
        let claiming = has_record
            .then(|| std::thread::Builder::new().spawn_scoped(scope, claim).ok())
            .flatten();
        let output = build_dir_saved(
            root,
            now,
            saved,
            &unchanged_file,
            &Spill::to_dir(&spill_dir),
            Some(&begin_cache),
        );
        let spare = match claiming {
            Some(job) => job.join().ok().flatten(),
            None => claim(),
        };
        (output, spare)
    });
    let (output, cache) = match output {
        Ok((output, cache)) => (output, cache.flatten()),
        Err(diagnostics) => {
            let _ = std::fs::remove_file(&cache_staging);
            if let Some(spare) = spare {
                give_back_spare(dir, spare);
            }
            return report(&diagnostics, "nothing was written");
        }
    };
    tracing::debug!(
        rendered = output.set.resources.len(),
        kept = output.kept.len(),
        "built"
    );
    let built = &output.set;
    // WebSub: the feeds to ping external hubs for, read before the export
    // replaces the previous one.
    let hubs = crate::loader::load_config(root)
        .map(|config| config.websub)
        .ok()
        .filter(|websub| websub.enabled)
        .map(|websub| websub.hubs)
        .unwrap_or_default();
    let changed = if hubs.is_empty() {
        Vec::new()
    } else {
        crate::websub::ping::changed_feeds(built, dir)
    };
    match export_kept(
        built,
        &output.kept,
        previous.as_ref(),
        spare,
        cache.map(|cache| (cache, &output.saved)),
        dir,
    ) {
        Ok(summary) => {
            println!(
                "exported {} articles in {} sections: {} files ({} precompressed, {} unchanged, {} of them not rendered again), {} bytes to {} in {} ms",
                built.articles,
                built.sections,
                summary.files,
                summary.precompressed,
                summary.kept,
                summary.not_rendered,
                summary.bytes,
                dir.display(),
                started.elapsed().as_millis()
            );
            for warning in crate::websub::ping::ping_all(&hubs, &changed) {
                eprintln!("warning: {warning}");
            }
            if !hubs.is_empty() {
                println!(
                    "pinged {} WebSub hub(s) for {} changed feed(s)",
                    hubs.len(),
                    changed.len()
                );
            }
            // Freeing a hundred thousand pages one by one takes a noticeable
            // part of a large export; the process is about to exit, and the
            // system takes the memory back whole.
            std::mem::forget((output, previous));
            ExitCode::SUCCESS
        }
        Err(error) => {
            // The cache begun for it, if that is still there.
            let _ = std::fs::remove_file(&cache_staging);
            eprintln!("error: {error}");
            eprintln!("error: export failed; {} is as it was", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn run_deploy(root: &Path, url: Option<String>, dry_run: bool) -> ExitCode {
    let started = Instant::now();
    let settings = match crate::loader::load_config(root) {
        Ok(config) => config.deploy,
        Err(diagnostic) => {
            eprintln!("{diagnostic}");
            eprintln!("error: nothing was deployed");
            return ExitCode::FAILURE;
        }
    };
    let Some(url) = url.or_else(|| settings.url.clone()) else {
        eprintln!("error: no target: give `broadsheet deploy s3://bucket/prefix` (or gs://, az://, file://), or set [deploy] url in config.toml");
        return ExitCode::FAILURE;
    };
    // A directory target must not break the site, as for `export`.
    if let Some(dir) = url::Url::parse(&url)
        .ok()
        .filter(|url| url.scheme() == "file")
        .and_then(|url| url.to_file_path().ok())
    {
        if let Err(error) = crate::export::check_target(root, &dir) {
            eprintln!("error: {error}");
            eprintln!("error: nothing was deployed");
            return ExitCode::FAILURE;
        }
    }
    // Cold pages spilled to the temporary directory, as `check` does: the
    // deploy reads each once, to hash and upload it.
    let built = match build_dir_spilled(root, Utc::now(), &Spill::to_dir(&std::env::temp_dir())) {
        Ok(built) => built,
        Err(diagnostics) => return report(&diagnostics, "nothing was deployed"),
    };
    let options = crate::deploy::DeployOptions { dry_run };
    match crate::deploy::deploy(&built, &url, &settings, options) {
        Ok(summary) if dry_run => {
            let mut out = std::io::stdout().lock();
            for (name, size) in &summary.uploaded {
                let _ = writeln!(out, "upload {name} ({size} bytes)");
            }
            for (name, size) in &summary.deleted {
                let _ = writeln!(out, "delete {name} ({size} bytes)");
            }
            let _ = writeln!(
                out,
                "plan for {url}: upload {} objects ({} bytes), keep {} ({} bytes), delete {} ({} bytes); {} checked by HEAD; nothing was changed",
                summary.uploaded.len(),
                summary.uploaded_bytes(),
                summary.kept,
                summary.kept_bytes,
                summary.deleted.len(),
                summary.deleted_bytes(),
                summary.checked,
            );
            ExitCode::SUCCESS
        }
        Ok(summary) => {
            println!(
                "deployed {} articles in {} sections to {url}: {} objects uploaded ({} bytes), {} kept, {} deleted, {} checked by HEAD, in {} ms",
                built.articles,
                built.sections,
                summary.uploaded.len(),
                summary.uploaded_bytes(),
                summary.kept,
                summary.deleted.len(),
                summary.checked,
                started.elapsed().as_millis()
            );
            std::mem::forget(built);
            ExitCode::SUCCESS
        }
        Err(error @ crate::deploy::DeployError::Store { .. }) => {
            eprintln!("error: {error}");
            eprintln!("error: deploy stopped; what was uploaded stays, nothing was deleted unless every upload went through, and running it again finishes it");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("error: nothing was deployed");
            ExitCode::FAILURE
        }
    }
}

fn run_check(root: &Path) -> ExitCode {
    match load(root, &std::env::temp_dir()) {
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

/// Prints the audience report from the database in `[websub] data_dir`.
fn run_stats(root: &Path, days: u32, feed: Option<&str>, json: bool) -> ExitCode {
    let config = match crate::loader::load_config(root) {
        Ok(config) => config,
        Err(diagnostic) => {
            eprintln!("{diagnostic}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = crate::loader::display_root(root).join(&config.websub.data_dir);
    let feed = feed.map(crate::audience::feed_dir);
    match crate::audience::stored_report(&data_dir, days, feed.as_deref(), json) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until `SIGINT` or `SIGTERM`; `SIGHUP` rebuilds (and reads the
/// certificate files again). Prints one line `listening on http://ADDR`
/// (`https://` with `[server.tls]`), then the URLs of the feeds, then that of the
/// OPML list of feeds, on stdout.
fn run_serve(root: &Path, args: ServeArgs) -> ExitCode {
    // Signal handlers go in before the address is printed: a script that
    // reads the address and at once sends SIGTERM must get a clean exit.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("error: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = ServeOptions {
        root: root.to_path_buf(),
        bind: args.bind,
        watch: !args.no_watch,
        base_url: args.base_url,
    };
    let server = match server::start(options) {
        Ok(server) => server,
        Err(StartError::Content(diagnostics)) => return report(&diagnostics, "not serving"),
        Err(StartError::Certificate(diagnostic)) => {
            return report(&diagnostic.into(), "not serving")
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr();
    let scheme = if server.is_https() { "https" } else { "http" };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {scheme}://{addr}");
    let site = server.state().served();
    // The site's and the sections' feeds, as the OPML lists them; a site
    // may have hundreds of tags and authors, whose feeds their index pages
    // announce.
    let is_term_feed = |path: &str| path.starts_with("/tags/") || path.starts_with("/authors/");
    let mut term_feeds = 0;
    for path in &site.feed_paths {
        if is_term_feed(path) {
            term_feeds += 1;
        } else {
            let _ = writeln!(out, "  {scheme}://{addr}{path}");
        }
    }
    // A list of feeds to import, not one to subscribe to: apart.
    for path in &site.feed_list_paths {
        let _ = writeln!(out, "feed list (OPML): {scheme}://{addr}{path}");
    }
    if term_feeds > 0 {
        let _ = writeln!(
            out,
            "{term_feeds} tag and author feeds: {scheme}://{addr}/tags/ and {scheme}://{addr}/authors/ list them"
        );
    }
    if let Some(redirect) = server.redirect_addr() {
        let _ = writeln!(out, "redirecting http://{redirect} to https");
    }
    drop(site);
    let _ = out.flush();
    drop(out);
    signals.wait(&server);
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown();
    server.join();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// `SIGHUP`, `SIGINT` and `SIGTERM`, caught from the moment of [`Signals::install`].
struct Signals {
    runtime: tokio::runtime::Runtime,
    hangup: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (hangup, interrupt, terminate) = {
            let _context = runtime.enter();
            (
                signal(SignalKind::hangup())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        Ok(Signals {
            runtime,
            hangup,
            interrupt,
            terminate,
        })
    }

    /// Returns on `SIGINT` or `SIGTERM`; reloads `server` on each `SIGHUP`.
    fn wait(&mut self, server: &server::RunningServer) {
        let Signals {
            runtime,
            hangup,
            interrupt,
            terminate,
        } = self;
        runtime.block_on(async {
            loop {
                tokio::select! {
                    _ = hangup.recv() => {
                        tracing::info!("SIGHUP: reloading");
                        server.reload();
                    }
                    _ = interrupt.recv() => return,
                    _ = terminate.recv() => return,
                }
            }
        });
    }
}
