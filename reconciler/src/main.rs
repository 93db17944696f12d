//! The `cubist` command line.

fn main() -> std::process::ExitCode {
    cubist::cli::main()
}
