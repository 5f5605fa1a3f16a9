//! The integration tests: one test crate, one module per feature.

mod fixture;
mod prelude;

mod bad_input;
mod content_limits;
mod cors;
mod export_precompressed;
mod export_swap;
mod faults;
mod feed_preview;
mod fuzz_loader;
mod hostile_http;
mod last_modified;
mod pages;
mod publish;
mod readme;
mod reload_starvation;
mod reload_truncating_editor;
mod rendered;
mod sanitize_html;
mod server;
mod server_cli;
mod server_h2_stalled;
mod server_half_close;
mod server_limits;
mod server_rate_limit;
mod server_reload;
mod server_resources;
mod server_silent_clients;
mod server_slow_clients;
mod site_url;
mod taxonomy;
mod what_readers_see;
