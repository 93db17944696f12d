//! The stages the CLI commands share: snapshot → model → rendered sets.

use crate::diag::Diagnostic;
use crate::model::Model;
use crate::render::{Blueprints, RenderedSet, render};
use crate::report::diagnostics::render_text;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

/// A validated and rendered repository.
pub(super) struct Rendered {
    pub model: Model,
    pub sets: BTreeMap<String, RenderedSet>,
}

/// Loads and validates `repo`; prints diagnostics and returns `None` when invalid, saying
/// `nothing` (e.g. "nothing rendered") was done.
pub(super) fn load_valid(repo: &Path, nothing: &str) -> anyhow::Result<Option<Model>> {
    let snapshot = crate::source::snapshot_dir(repo)?;
    let (model, diags) = crate::model::load(&snapshot);
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    if !diags.is_empty() {
        eprint!(
            "{}",
            render_text(&diags, &snapshot, std::io::stderr().is_terminal())
        );
    }
    if !errors.is_empty() {
        eprintln!("{nothing}: fix the errors above (`cubist validate` lists them)");
        return Ok(None);
    }
    Ok(Some(model))
}

/// Loads, validates and renders `repo`; prints diagnostics and returns `None` when invalid.
pub(super) fn load_and_render(
    repo: &Path,
    cluster: Option<&str>,
) -> anyhow::Result<Option<Rendered>> {
    let Some(model) = load_valid(repo, "nothing rendered")? else {
        return Ok(None);
    };
    if let Some(c) = cluster
        && !model.clusters.contains_key(c)
    {
        anyhow::bail!(
            "unknown cluster `{c}`; clusters are: {}",
            model
                .clusters
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let blueprints = Blueprints::embedded()?;
    let mut sets =
        render(&model, &blueprints).map_err(|e| anyhow::anyhow!("render failed: {e}"))?;
    if let Some(c) = cluster {
        sets.retain(|name, _| name == c);
    }
    Ok(Some(Rendered { model, sets }))
}
