//! Status commits of one replica among several (see `crate::lease`): each replica writes the
//! clusters it owns, and the leader also writes the revision's part (summary header, project
//! digests). Merged on top of the branch's newest commit at every attempt of
//! [`super::status_branch::write_status`], so a writer that lost a race keeps the other's
//! clusters: what another replica owns is taken as it stands on the branch.

use super::status_dir::{Dir, StatusFile};
use anyhow::{Context, Result};
use cubist_status_ui::doc::Summary;
use cubist_status_ui::tree::paths;
use std::collections::BTreeSet;

/// Which clusters a status commit speaks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    /// Clusters this replica reconciled: their entries and files are this commit's.
    pub owned: BTreeSet<String>,
    /// Every cluster of the revision: those not owned keep what the branch holds for them.
    pub clusters: BTreeSet<String>,
    /// The leader also writes the summary's header and the project digests.
    pub leader: bool,
}

impl Shard {
    /// Directories under the replaced paths whose previous content stays: other replicas'
    /// clusters (objects and run records), and for a follower the project digests.
    pub fn kept(&self) -> Vec<String> {
        let mut kept: Vec<String> = self
            .clusters
            .difference(&self.owned)
            .flat_map(|c| {
                [
                    format!("{}{c}/", paths::CLUSTERS_DIR),
                    paths::cluster_runs_dir(c),
                ]
            })
            .collect();
        if !self.leader {
            kept.push(paths::PROJECTS_DIR.to_string());
        }
        kept
    }

    /// `ours` with the summary merged with `base` (the branch's summary, when it has one):
    /// the owned clusters' entries from `ours`, the other clusters' from `base`, and the rest
    /// from `ours` on the leader, from `base` on a follower. A follower's project digests are
    /// left out (the leader's stay).
    pub fn merge(&self, ours: &Dir, base: Option<&[u8]>) -> Result<Dir> {
        let mut files = ours.clone();
        if !self.leader {
            files.remove(paths::PROJECTS_DIR);
        }
        let Some(summary) = ours.file(paths::SUMMARY) else {
            return Ok(files);
        };
        let bytes = summary
            .bytes
            .as_deref()
            .context("the summary is written with its bytes")?;
        let mine: Summary = cubist_status_ui::yaml::from_yaml(bytes)?;
        // A summary that does not parse is not kept (the page shows it as an error anyway).
        let base: Option<Summary> = base.and_then(|b| cubist_status_ui::yaml::from_yaml(b).ok());
        let merged = self.summary(mine, base);
        let bytes = cubist_status_ui::yaml::to_yaml(&merged)?.into_bytes();
        files.insert_file(paths::SUMMARY, StatusFile::new(bytes));
        Ok(files)
    }

    fn summary(&self, mine: Summary, base: Option<Summary>) -> Summary {
        let (mut merged, others) = match base {
            Some(base) if !self.leader => {
                let clusters = base.clusters.clone();
                (
                    Summary {
                        clusters: Vec::new(),
                        ..base
                    },
                    clusters,
                )
            }
            Some(base) => (
                Summary {
                    clusters: Vec::new(),
                    ..mine.clone()
                },
                base.clusters,
            ),
            None => (
                Summary {
                    clusters: Vec::new(),
                    ..mine.clone()
                },
                Vec::new(),
            ),
        };
        merged.clusters = mine
            .clusters
            .into_iter()
            .filter(|c| self.owned.contains(&c.name))
            .chain(
                others
                    .into_iter()
                    .filter(|c| self.clusters.contains(&c.name) && !self.owned.contains(&c.name)),
            )
            .collect();
        merged.clusters.sort_by(|a, b| a.name.cmp(&b.name));
        merged
    }
}

/// Each cluster of `summary` by name, with its state: what the tests compare.
#[cfg(test)]
pub(crate) fn cluster_states(summary: &Summary) -> Vec<(&str, cubist_status_ui::doc::SyncState)> {
    let clusters = summary.clusters.iter();
    clusters.map(|c| (c.name.as_str(), c.state)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::doc::{ClusterStatus, SyncState};

    fn cluster(name: &str, state: SyncState, revision: &str) -> ClusterStatus {
        ClusterStatus {
            name: name.into(),
            state,
            revision: revision.into(),
            ..Default::default()
        }
    }

    fn summary(revision: &str, clusters: Vec<ClusterStatus>) -> Summary {
        Summary {
            revision: revision.into(),
            clusters,
            ..Default::default()
        }
    }

    fn shard(owned: &[&str], leader: bool) -> Shard {
        Shard {
            owned: owned.iter().map(|s| s.to_string()).collect(),
            clusters: ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
            leader,
        }
    }

    #[test]
    fn each_replica_writes_its_clusters_and_keeps_the_others() {
        let base = summary(
            "r1",
            vec![
                cluster("a", SyncState::Synced, "r1"),
                cluster("b", SyncState::Synced, "r1"),
                cluster("gone", SyncState::Synced, "r1"),
            ],
        );
        let mine = summary(
            "r2",
            vec![
                cluster("a", SyncState::Failed, "r2"),
                cluster("b", SyncState::Failed, "r2"),
            ],
        );
        // A follower owning `a`: its entry for `a`, the branch's for `b`, the branch's header.
        let f = shard(&["a"], false).summary(mine.clone(), Some(base.clone()));
        assert_eq!(f.revision, "r1");
        assert_eq!(
            cluster_states(&f),
            vec![("a", SyncState::Failed), ("b", SyncState::Synced)]
        );
        // The leader owning `b`: its header and `b`, the branch's `a`; `gone` is dropped.
        let l = shard(&["b"], true).summary(mine, Some(base));
        assert_eq!(l.revision, "r2");
        let states: Vec<(&str, &str)> = l
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.revision.as_str()))
            .collect();
        assert_eq!(states, vec![("a", "r1"), ("b", "r2")]);
    }

    #[test]
    fn a_follower_leaves_the_project_digests_and_keeps_other_clusters() {
        let s = shard(&["a"], false);
        assert_eq!(
            s.kept(),
            vec![
                "status/clusters/b/".to_string(),
                "status/runs/b/".to_string(),
                "status/clusters/c/".to_string(),
                "status/runs/c/".to_string(),
                "status/projects/".to_string()
            ]
        );
        let ours = Dir::from_files([
            ("status/projects/p.yaml", StatusFile::new(&b"x"[..])),
            ("status/history/h.yaml", StatusFile::new(&b"y"[..])),
        ]);
        let files = s.merge(&ours, None).unwrap().files();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            vec!["status/history/h.yaml"]
        );
        assert_eq!(shard(&["a"], true).kept().len(), 4);
    }
}
