//! The upstream reference data (CRDs, GitHub webhook payloads), never copied into the
//! repository: `../shared/reference` beside the workspace, or `$CUBIST_REFERENCE_DIR`, as found
//! by `build.rs` when the tests were built. Tests that read it carry
//! `#[cfg_attr(not(has_reference_crds), ignore = "…")]` (or `has_reference_webhooks`).

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The reference directory the build found (it may be absent: the cfgs say what exists).
pub fn dir() -> &'static Path {
    Path::new(env!("CUBIST_REFERENCE_DIR"))
}

/// The CustomResourceDefinitions in the upstream CRD files (`<dir>/crds/*.yaml`).
/// `only`: file name prefixes (all files when empty). Parsed on two threads (14 MB of YAML).
pub fn crds(only: &[&str]) -> Vec<Value> {
    let dir = dir().join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| {
            only.is_empty()
                || only
                    .iter()
                    .any(|o| p.file_name().unwrap().to_string_lossy().starts_with(o))
        })
        .collect();
    files.sort();
    let parse = |p: &PathBuf| {
        let text = std::fs::read_to_string(p).unwrap();
        cubist::model::yaml::parse_documents(&p.display().to_string(), &text)
            .unwrap_or_else(|d| panic!("{}: {}", p.display(), d.message))
            .into_iter()
            .map(|n| n.json)
            .filter(|v| v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .collect::<Vec<_>>()
    };
    let (odd, even): (Vec<_>, Vec<_>) = files.iter().enumerate().partition(|(i, _)| i % 2 == 1);
    std::thread::scope(|s| {
        let other = s.spawn(|| odd.iter().flat_map(|(_, p)| parse(p)).collect::<Vec<_>>());
        let mut all: Vec<Value> = even.iter().flat_map(|(_, p)| parse(p)).collect();
        all.extend(other.join().unwrap());
        all
    })
}
