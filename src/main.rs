//! The `broadsheet` binary: everything happens in the library (`cli.rs`).

fn main() -> std::process::ExitCode {
    broadsheet::run()
}
