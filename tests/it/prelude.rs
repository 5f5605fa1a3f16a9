//! The library's API as the tests use it. Every `broadsheet::` path of the
//! integration tests is named here and nowhere else, so that a change to the
//! library's module layout is a change to this file alone.

pub use broadsheet::build::{build_dir, BuiltSite, ResourceKind};
pub use broadsheet::export::{export, file_for};
pub use broadsheet::server::handler::MAX_URI_BYTES;
pub use broadsheet::server::{start as start_server, RunningServer, ServeOptions, StartError};
