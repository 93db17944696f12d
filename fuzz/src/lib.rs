//! Inputs of the fuzz targets: a small platform repository (tests/corpus/_base) with files
//! replaced or added from the fuzzer's bytes.
//!
//! The bytes are records separated by `\0`: a record's first byte picks a path of [`PATHS`]
//! (modulo its length), the rest is the file's content (maybe empty, maybe not UTF-8).

use cubist::source::{FileBody, Snapshot};
use std::sync::Arc;

/// The valid repository every input starts from.
const BASE: &[(&str, &str)] = &[
    ("clusters/local.yaml", include_str!("../../tests/corpus/_base/clusters/local.yaml")),
    ("projects/p/project.yaml", include_str!("../../tests/corpus/_base/projects/p/project.yaml")),
    ("projects/p/quota.yaml", include_str!("../../tests/corpus/_base/projects/p/quota.yaml")),
    (
        "projects/p/pipelines/daily.yaml",
        include_str!("../../tests/corpus/_base/projects/p/pipelines/daily.yaml"),
    ),
    (
        "projects/p/runs/backfill.yaml",
        include_str!("../../tests/corpus/_base/projects/p/runs/backfill.yaml"),
    ),
    (
        "projects/p/services/api.yaml",
        include_str!("../../tests/corpus/_base/projects/p/services/api.yaml"),
    ),
    ("templates/python.yaml", include_str!("../../tests/corpus/_base/templates/python.yaml")),
    ("templates/trainer.yaml", include_str!("../../tests/corpus/_base/templates/trainer.yaml")),
];

/// The paths a record may write: the base files first, then new files of every kind.
pub const PATHS: &[&str] = &[
    "clusters/local.yaml",
    "projects/p/project.yaml",
    "projects/p/quota.yaml",
    "projects/p/pipelines/daily.yaml",
    "projects/p/runs/backfill.yaml",
    "projects/p/services/api.yaml",
    "templates/python.yaml",
    "templates/trainer.yaml",
    "cubist.yaml",
    "clusters/other.yaml",
    "projects/q/project.yaml",
    "projects/q/quota.yaml",
    "projects/p/templates/own.yaml",
    "projects/p/pipelines/more.yaml",
    "projects/p/services/more.yaml",
    "projects/p/runs/more.yaml",
    "projects/q/pipelines/daily.yaml",
    "projects/q/services/api.yaml",
];

/// The repository the fuzzer's bytes describe.
pub fn snapshot(data: &[u8]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (path, text) in BASE {
        snapshot.files.insert(path.to_string(), FileBody::Bytes(Arc::from(text.as_bytes())));
    }
    for record in data.split(|b| *b == 0) {
        let Some((pick, content)) = record.split_first() else {
            continue;
        };
        let path = PATHS[*pick as usize % PATHS.len()];
        snapshot.files.insert(path.to_string(), FileBody::Bytes(Arc::from(content)));
    }
    snapshot
}
