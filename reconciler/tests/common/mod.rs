//! Running the built `cubist` binary from the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cubist <args> <repo>` with logging off and returns its output.
pub fn cubist(args: &[&str], repo: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cubist"))
        .args(args)
        .arg(repo)
        .env_remove("CUBIST_LOG")
        .output()
        .expect("run cubist")
}
