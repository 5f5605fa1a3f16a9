//! broadsheet: a feed publisher. Markdown articles with TOML front matter
//! in; RSS 2.0, Atom 1.0, JSON Feed 1.1, HTML pages and OPML out, served
//! over HTTP or exported to files.
//!
//! The code map, the glossary and the invariants are in README.md ("Code
//! map"): data flows one way, content -> loader -> model -> renderers ->
//! built set -> server / export, and no module imports one further up.
mod archive;
mod audience;
mod build;
mod cli;
mod codec;
mod config;
mod deploy;
mod diagnostic;
mod encoding;
mod export;
mod export_cache;
mod feed;
mod fingerprint;
mod format;
mod loader;
mod model;
mod parallel;
mod render;
mod server;
mod spare_tree;
mod spill;
mod sqlite;
mod static_files;
mod taxonomy;
mod tls;
mod toml_source;
mod websub;
mod xml_char;

// What the binary, the tests and the benchmarks use; nothing else is public.
pub use build::{build_dir, BuiltSet, Resource, ResourceKind};
pub use cli::run;
pub use config::{BaseUrl, DeployConfig};
pub use deploy::{deploy, DeployError, DeployOptions, DeploySummary};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use export::{export, ExportError, ExportSummary};
pub use server::handler::MAX_URI_BYTES;
pub use server::{start as start_server, RunningServer, ServeOptions, StartError};
pub use static_files::file_for;
#[doc(hidden)]
pub use websub::trust_root_for_tests as trust_websub_root_for_tests;
