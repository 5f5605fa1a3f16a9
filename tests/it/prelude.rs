//! The library's API as the tests use it. Every `broadsheet::` path of the
//! integration tests is named here and nowhere else, so that a change to the
//! library's public surface is a change to this file alone.

/// The hook through which a test makes the WebSub hub trust a CA of its own.
pub use broadsheet::trust_websub_root_for_tests;
pub use broadsheet::{
    build_dir, export, file_for, start_server, BaseUrl, BuiltSet, ResourceKind, RunningServer,
    ServeOptions, StartError, MAX_URI_BYTES,
};
