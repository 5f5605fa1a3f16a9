//! broadsheet: a feed publisher. Markdown articles with TOML front matter
//! in; RSS 2.0, Atom 1.0, JSON Feed 1.1, HTML pages and OPML out, served
//! over HTTP or exported to files.
//!
//! # Code map
//!
//! Data flows one way:
//!
//! ```text
//! content/ + config.toml
//!   -> loader      (loader, front_matter, markdown, config)  the only code that reads content
//!   -> model       (model)                                    sections of published articles, sorted
//!   -> feed views  (feed)                                     what each feed holds
//!   -> renderers   (render::{rss, atom, json, html, opml})    pure: model in, bytes out
//!   -> built set   (build)                                    URL path -> bytes, media type, time
//!   -> export (export) | server (server)
//! ```
//!
//! # Invariants
//!
//! - The model and the renderers do no IO and give the same bytes for the
//!   same input: no clock, no hash-map order in output, directories read in
//!   sorted order.
//! - `serve` and `export` publish the same built set.
//! - Every error a user can fix is a [`diagnostic::Diagnostic`] printed as
//!   `path:line: message`; loading collects all of them in one run.
pub mod build;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod encoding;
pub mod export;
pub mod feed;
mod fingerprint;
pub mod format;
pub mod loader;
pub mod model;
mod parallel;
pub mod render;
pub mod server;
mod toml_source;
mod xml_char;
