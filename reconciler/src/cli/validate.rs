//! `cubist validate`.

use super::Format;
use crate::report::diagnostics::{render_json, render_text};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(repo: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let snapshot = crate::source::snapshot_dir(repo)?;
    let (_, diags) = crate::model::load(&snapshot);
    match format {
        Format::Json => println!("{}", render_json(&diags)),
        _ => print!(
            "{}",
            render_text(&diags, &snapshot, std::io::stdout().is_terminal())
        ),
    }
    Ok(if diags.iter().any(|d| d.is_error()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
