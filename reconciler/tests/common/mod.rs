//! Running the built `cubist` binary from the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cubist <args> <repo>` with logging off and returns its output.
#[allow(dead_code)]
pub fn cubist(args: &[&str], repo: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cubist"))
        .args(args)
        .arg(repo)
        .env_remove("CUBIST_LOG")
        .output()
        .expect("run cubist")
}

/// Runs `cubist <args>` with logging off and no home or cache directory of the user.
#[allow(dead_code)]
pub fn cubist_alone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cubist"))
        .args(args)
        .env_remove("CUBIST_LOG")
        .env("HOME", "/nonexistent")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("run cubist")
}

/// Asserts that `o` succeeded (showing `what`, its status and both outputs otherwise) and
/// returns its standard output.
#[allow(dead_code)]
pub fn stdout_ok(o: &Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{what}: {}\n{out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}
