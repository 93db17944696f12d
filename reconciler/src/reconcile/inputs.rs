//! Reading revision after revision incrementally: a commit's snapshot takes over every unchanged
//! git tree and blob of the previous one, the model loader reuses every unchanged file's
//! parsed documents, and each project's input hash comes from git ids in one pass.

use crate::diag::Diagnostic;
use crate::model::{Loader, Model};
use crate::source::Snapshot;
use crate::source::git::GitMirror;
use anyhow::Result;
use git2::Oid;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One revision, read and validated.
pub(super) struct Revision {
    /// The valid part of the repository.
    pub model: Model,
    /// Every diagnostic.
    pub diags: Vec<Diagnostic>,
    /// Project → digest of its inputs (see [`input_hashes`]).
    pub input_hashes: BTreeMap<String, String>,
    /// Time spent reading the commit's files.
    pub snapshot_time: Duration,
}

/// The previous snapshot and the loader's cache.
#[derive(Default)]
pub(super) struct Reader {
    loader: Loader,
    previous: Option<Snapshot>,
}

impl Reader {
    /// Reads and validates a commit of the mirror, reusing what earlier reads saw.
    pub fn read(&mut self, mirror: &GitMirror, revision: Oid) -> Result<Revision> {
        let started = Instant::now();
        // Taken out while updated: a failed update leaves no half-updated snapshot behind.
        let (snapshot, since) = match self.previous.take() {
            Some(mut previous) => {
                let before = previous.revision.clone();
                let changed = mirror.update_snapshot(revision, &mut previous)?;
                (previous, before.map(|b| (b, changed)))
            }
            None => (mirror.snapshot(revision)?, None),
        };
        let snapshot_time = started.elapsed();
        let since = since.as_ref().map(|(b, c)| (b.as_str(), &c[..]));
        let (model, diags) = self.loader.load_since(&snapshot, since);
        let input_hashes = input_hashes(&snapshot);
        self.previous = Some(snapshot);
        Ok(Revision {
            model,
            diags,
            input_hashes,
            snapshot_time,
        })
    }
}

/// For each project directory `projects/<p>/`, a digest of everything its validation and
/// rendering depend on: the git tree id of its directory and the blob id of every file outside
/// the project directories (platform, clusters, templates). One pass over the snapshot's ids;
/// empty for a snapshot without git ids.
pub(super) fn input_hashes(snapshot: &Snapshot) -> BTreeMap<String, String> {
    let mut platform = Sha256::new();
    let mut projects = Vec::new();
    for (path, id) in &snapshot.ids {
        match path
            .strip_prefix("projects/")
            .and_then(|r| r.split_once('/'))
        {
            Some((name, "")) => projects.push((name, id)),
            Some(_) => {} // inside a project: covered by its directory's tree id
            // A file (directories, the root `""` included, end their key in `/`).
            None if !path.is_empty() && !path.ends_with('/') => {
                platform.update(path.as_bytes());
                platform.update(id.as_bytes());
            }
            None => {}
        }
    }
    let platform = platform.finalize();
    projects
        .into_iter()
        .map(|(name, id)| {
            let digest = Sha256::new()
                .chain_update(platform)
                .chain_update(id.as_bytes())
                .finalize();
            (name.to_string(), hex::encode(digest))
        })
        .collect()
}
