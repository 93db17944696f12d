//! Deleting, on directory clusters, the run files of projects no longer placed there (a
//! project removed, or moved to other clusters).
//!
//! A named choice: listing every namespace directory of a cluster at every pass (5,000 of
//! them at 5,000 projects and 4 clusters) cost more than the rest of a quiet pass. After one
//! listing, a cluster's projects that may have run files while not placed there are those
//! placed there since (`Memo`) and those whose run files the target's watch saw touched
//! (`Touched`); only these are looked at. When the watch cannot tell (none, not trusted,
//! events lost: a directory made by hand is one), or the cluster's directory changed, every
//! namespace directory is listed again.

use super::Outcome;
use super::runs_quiet::Touched;
use crate::runs::files;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the last listing of each cluster left to look at: its directory, and the projects
/// placed there since, which may have run files once they are not.
#[derive(Default)]
pub(super) struct Memo(BTreeMap<String, (PathBuf, BTreeSet<String>)>);

/// Deletes, in each directory target of `roots` (see `dir_runs::cluster_roots`) applied this
/// pass without held deletions, the run files of projects no longer placed on it: every
/// namespace directory's `runs/` whose project is not one of those `placed` there (see
/// `dir_runs::placed_on`), looked for as the module says.
pub(super) fn prune_gone_projects(
    roots: &BTreeMap<String, PathBuf>,
    mut placed: BTreeMap<&str, BTreeSet<&str>>,
    outcome: &Outcome,
    touched: &Touched,
    cache: &files::Cache,
    memo: &mut Memo,
) {
    memo.0.retain(|cluster, _| roots.contains_key(cluster));
    for (cluster, root) in roots {
        let placed = placed.remove(cluster.as_str()).unwrap_or_default();
        let settled = super::runs_quiet::settled(outcome, cluster) == (true, true);
        let known = memo.0.get_mut(cluster).filter(|(dir, _)| dir == root);
        if !settled {
            // Looked at once the cluster is: until then, every project placed is remembered.
            if let Some((_, since)) = known {
                let new: Vec<String> = placed
                    .iter()
                    .filter(|p| !since.contains(**p))
                    .map(|p| p.to_string())
                    .collect();
                since.extend(new);
            }
            continue;
        }
        let seen = touched.get(cluster).and_then(Option::as_ref);
        let candidates: Vec<String> = match (known, seen) {
            (Some((_, since)), Some(seen)) => {
                let mut names: Vec<String> = since
                    .iter()
                    .filter(|p| !placed.contains(p.as_str()))
                    .chain(seen.iter().filter(|p| !placed.contains(p.as_str())))
                    .cloned()
                    .collect();
                names.sort_unstable();
                names.dedup();
                names
            }
            _ => match listed(root) {
                Some(names) => names,
                None => continue,
            },
        };
        let mut failed = Vec::new();
        for ns in candidates {
            if placed.contains(ns.as_str()) || !is_dir(root, &ns) {
                continue;
            }
            let pruned = files::prune(root, &ns, |_| false, cache);
            let _ = std::fs::remove_dir(root.join(&ns)); // only when nothing else is left
            match pruned {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(cluster, project = %ns, deleted = n, "run files of a project gone from the cluster deleted")
                }
                Err(e) => {
                    tracing::warn!(cluster, project = %ns, error = %format!("{e:#}"), "deleting run files failed");
                    failed.push(ns);
                }
            }
        }
        remember(memo, cluster, root, &placed, failed);
    }
}

/// Every namespace directory of `root` (up to `files::MAX_FILES`); `None` when it cannot be
/// listed.
fn listed(root: &Path) -> Option<Vec<String>> {
    let entries = std::fs::read_dir(root).ok()?;
    Some(
        entries
            .filter_map(|e| e.ok())
            .take(files::MAX_FILES)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

/// True when `<root>/<ns>` is a directory (not a link) holding a runs directory.
fn is_dir(root: &Path, ns: &str) -> bool {
    std::fs::symlink_metadata(root.join(ns)).is_ok_and(|m| m.is_dir())
        && files::runs_dir(root, ns).is_dir()
}

/// Notes what the cluster's next pass looks at: the projects `placed` now, and those whose
/// run files could not be deleted (tried again).
fn remember(
    memo: &mut Memo,
    cluster: &str,
    root: &Path,
    placed: &BTreeSet<&str>,
    failed: Vec<String>,
) {
    let same = memo.0.get(cluster).is_some_and(|(dir, since)| {
        dir == root
            && failed.is_empty()
            && since.iter().map(String::as_str).eq(placed.iter().copied())
    });
    if !same {
        let mut since: BTreeSet<String> = placed.iter().map(|p| p.to_string()).collect();
        since.extend(failed);
        memo.0
            .insert(cluster.to_string(), (root.to_path_buf(), since));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::ClusterOutcome;
    use crate::runs::naming::Origin;
    use std::collections::HashSet;

    /// Writes a run file of `project` in `root`.
    fn run_file(root: &Path, project: &str) {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T02:00:00+08:00").unwrap();
        let body = crate::runs::workflow::body(
            project,
            "daily",
            "daily-20261202",
            at,
            &Origin::Schedule,
            1,
            None,
        );
        files::create(
            root,
            project,
            "daily-20261202",
            &body,
            &files::Cache::default(),
        )
        .unwrap();
    }

    /// The projects of `root` with run files left.
    fn with_runs(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|ns| files::runs_dir(root, ns).is_dir())
            .collect();
        names.sort();
        names
    }

    /// Along passes where projects leave a cluster (while it is settled or not), run files
    /// appear by hand (reported by the watch, or with the watch unable to tell), and the
    /// cluster's directory changes, the run files left are those of the projects placed: what
    /// listing every namespace directory at every pass leaves.
    #[test]
    fn looking_at_the_projects_that_may_have_left_deletes_what_a_whole_listing_does() {
        let dir = tempfile::tempdir().unwrap();
        let (root, moved) = (dir.path().join("c"), dir.path().join("moved"));
        for p in ["a", "b", "c", "f"] {
            run_file(&root, p);
        }
        let cache = files::Cache::default();
        let mut memo = Memo::default();
        let settled = Outcome {
            clusters: BTreeMap::from([("c".to_string(), ClusterOutcome::default())]),
            ..Default::default()
        };
        let mut unsettled = settled.clone();
        unsettled.clusters.get_mut("c").unwrap().skipped = Some("unreachable".into());
        let quiet: Touched = BTreeMap::from([("c".to_string(), Some(HashSet::new()))]);
        let seen = |ns: &str| -> Touched {
            BTreeMap::from([("c".to_string(), Some(HashSet::from([ns.to_string()])))])
        };
        let unknown: Touched = BTreeMap::from([("c".to_string(), None)]);
        let mut pass = |root: &Path, placed: &[&str], outcome: &Outcome, touched: &Touched| {
            let roots = BTreeMap::from([("c".to_string(), root.to_path_buf())]);
            let placed = BTreeMap::from([("c", placed.iter().copied().collect())]);
            prune_gone_projects(&roots, placed, outcome, touched, &cache, &mut memo);
            with_runs(root)
        };
        // The first pass lists every directory: `f` is not placed.
        assert_eq!(
            pass(&root, &["a", "b", "c"], &settled, &quiet),
            ["a", "b", "c"]
        );
        // `c` leaves; the watch saw nothing.
        assert_eq!(pass(&root, &["a", "b"], &settled, &quiet), ["a", "b"]);
        assert!(!root.join("c").exists(), "its emptied directory is removed");
        // A run file of `d` written by hand, which the watch reports.
        run_file(&root, "d");
        assert_eq!(pass(&root, &["a", "b"], &settled, &seen("d")), ["a", "b"]);
        // One the watch cannot tell about (a directory made by hand): every one is listed.
        run_file(&root, "e");
        assert_eq!(pass(&root, &["a", "b"], &settled, &unknown), ["a", "b"]);
        // `g` is placed while the cluster is not settled, then leaves.
        run_file(&root, "g");
        assert_eq!(
            pass(&root, &["a", "b", "g"], &unsettled, &quiet),
            ["a", "b", "g"]
        );
        assert_eq!(
            pass(&root, &["a", "b"], &unsettled, &quiet),
            ["a", "b", "g"]
        );
        assert_eq!(pass(&root, &["a", "b"], &settled, &quiet), ["a", "b"]);
        // The cluster's directory changed: listed whole.
        for p in ["a", "h"] {
            run_file(&moved, p);
        }
        assert_eq!(pass(&moved, &["a", "b"], &settled, &quiet), ["a"]);
    }
}
