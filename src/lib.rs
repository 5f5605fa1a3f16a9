//! broadsheet: a feed publisher.
pub mod build;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod export;
pub mod feed;
mod front_matter;
pub mod loader;
mod markdown;
pub mod model;
pub mod render;
mod toml_source;
