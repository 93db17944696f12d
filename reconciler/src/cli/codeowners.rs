//! `cubist codeowners`: prints a `.github/CODEOWNERS` for the repository.

use super::stages::load_valid;
use crate::report::codeowners::codeowners;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(repo: &Path) -> anyhow::Result<ExitCode> {
    let Some(model) = load_valid(repo, "no CODEOWNERS printed")? else {
        return Ok(ExitCode::from(1));
    };
    let (text, warnings) = codeowners(&model);
    for w in warnings {
        eprintln!("warning: {w}");
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
