//! broadsheet: a feed publisher.
pub mod config;
pub mod diagnostic;
mod front_matter;
pub mod loader;
mod markdown;
pub mod model;
mod toml_source;
