//! The `broadsheet` binary: everything happens in the library's `cli` module.

fn main() -> std::process::ExitCode {
    broadsheet::cli::main()
}
