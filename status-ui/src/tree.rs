//! The status tree: the files of one status-branch commit, and typed access to its documents.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::doc::{ErrorEntry, HistoryRecord, Inventory, ObjectStatus, ProjectDigest, Summary};
use crate::yaml::from_yaml;

/// Error code of a status file that cannot be decoded (shown on the page instead of its content).
pub const CORRUPT_STATUS_FILE: &str = "S0001";

/// Paths of the documents inside the status tree (shared by the writer and the reader).
pub mod paths {
    /// `status/summary.yaml`.
    pub const SUMMARY: &str = "status/summary.yaml";
    /// Directory of the project digests.
    pub const PROJECTS_DIR: &str = "status/projects/";
    /// Directory of the per-cluster object statuses and inventories.
    pub const CLUSTERS_DIR: &str = "status/clusters/";
    /// Directory of the history records.
    pub const HISTORY_DIR: &str = "status/history/";
    /// Directory of the run records.
    pub const RUNS_DIR: &str = "status/runs/";

    /// `status/runs/<project>/<pipeline>.yaml`.
    pub fn runs(project: &str, pipeline: &str) -> String {
        format!("{RUNS_DIR}{project}/{pipeline}.yaml")
    }

    /// `status/projects/<project>.yaml`.
    pub fn project(project: &str) -> String {
        format!("{PROJECTS_DIR}{project}.yaml")
    }

    /// `status/clusters/<cluster>/<project or _cluster>/`: everything about one project's
    /// objects in one cluster.
    pub fn unit(cluster: &str, project: Option<&str>) -> String {
        format!("{CLUSTERS_DIR}{cluster}/{}/", project.unwrap_or("_cluster"))
    }

    /// `inventory.yaml`: inside a [`unit`], what cubist owns of that project in that cluster.
    pub const INVENTORY: &str = "inventory.yaml";

    /// `<kind>/<name>.yaml`: inside a [`unit`], the path of an object's status.
    pub fn object_in_unit(kind: &str, name: &str) -> String {
        format!("{kind}/{name}.yaml")
    }

    /// `status/clusters/<cluster>/<project or _cluster>/<kind>/<name>.yaml`.
    pub fn object(cluster: &str, project: Option<&str>, kind: &str, name: &str) -> String {
        unit(cluster, project) + &object_in_unit(kind, name)
    }

    /// `status/history/<yyyy-mm-dd>/<hhmmss>-<short-sha>.yaml` for a reconcile at `at`.
    pub fn history(at: chrono::DateTime<chrono::Utc>, revision: &str) -> String {
        let short = crate::format::short_sha(revision);
        format!(
            "{HISTORY_DIR}{}/{}-{short}.yaml",
            at.format("%Y-%m-%d"),
            at.format("%H%M%S")
        )
    }
}

/// The status files of one commit: repository path (`/`-separated, e.g. `status/summary.yaml`)
/// to content. The reconciler builds it from a git tree; [`StatusTree::from_dir`] from a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusTree {
    /// Path to file content.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl StatusTree {
    /// A tree from path → content pairs.
    pub fn new(files: BTreeMap<String, Vec<u8>>) -> Self {
        StatusTree { files }
    }

    /// Loads every regular file under `root` (the directory that contains `status/`), keyed by
    /// its `/`-separated path relative to `root`. Hidden entries (`.git`, ...) and symlinks are
    /// skipped.
    pub fn from_dir(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let mut files = BTreeMap::new();
        load_dir(root.as_ref(), "", &mut files)?;
        Ok(StatusTree { files })
    }

    /// Content of the file at `path`.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// `status/summary.yaml`: `None` when the reconciler has not written one yet.
    pub fn summary(&self) -> Option<Result<Summary, ErrorEntry>> {
        self.parse(paths::SUMMARY)
    }

    /// `status/projects/<name>.yaml`: `None` when absent.
    pub fn project(&self, name: &str) -> Option<Result<ProjectDigest, ErrorEntry>> {
        self.parse(&paths::project(name))
    }

    /// Names of the projects that have a digest, sorted.
    pub fn project_names(&self) -> Vec<String> {
        self.under(paths::PROJECTS_DIR)
            .filter_map(|(rest, _)| rest.strip_suffix(".yaml"))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// Up to `limit` history records, newest first (record paths sort by time).
    pub fn history(&self, limit: usize) -> Vec<Result<HistoryRecord, ErrorEntry>> {
        self.under(paths::HISTORY_DIR)
            .rev()
            .filter(|(rest, _)| rest.ends_with(".yaml"))
            .take(limit)
            .map(|(rest, bytes)| decode(&format!("{}{rest}", paths::HISTORY_DIR), bytes))
            .collect()
    }

    /// Statuses of the objects rendered for `cluster`, in path order.
    pub fn cluster_objects(&self, cluster: &str) -> Vec<Result<ObjectStatus, ErrorEntry>> {
        let dir = format!("{}{cluster}/", paths::CLUSTERS_DIR);
        self.under(&dir)
            .filter(|(rest, _)| rest.ends_with(".yaml") && rest.matches('/').count() == 2)
            .map(|(rest, bytes)| decode(&format!("{dir}{rest}"), bytes))
            .collect()
    }

    /// What cubist owns in `cluster`: the inventories of its units (`<project>/inventory.yaml`,
    /// and `inventory.yaml` of the cluster as older status branches wrote it), merged and
    /// sorted; `None` when there is none, the first undecodable one's error if any.
    pub fn inventory(&self, cluster: &str) -> Option<Result<Inventory, ErrorEntry>> {
        self.inventory_of(cluster)
            .map(|r| r.map(|objects| Inventory { objects }))
    }

    /// Like [`StatusTree::inventory`], with the entries read as `T`.
    pub fn inventory_of<T: DeserializeOwned + Ord>(
        &self,
        cluster: &str,
    ) -> Option<Result<Vec<T>, ErrorEntry>> {
        #[derive(serde::Deserialize)]
        struct Listing<T> {
            #[serde(default = "Vec::new")]
            objects: Vec<T>,
        }
        let dir = format!("{}{cluster}/", paths::CLUSTERS_DIR);
        let mut found = false;
        let mut all = Vec::new();
        for (rest, bytes) in self.under(&dir).filter(|(rest, _)| {
            *rest == paths::INVENTORY
                || rest
                    .split_once('/')
                    .is_some_and(|(_, f)| f == paths::INVENTORY)
        }) {
            found = true;
            match decode::<Listing<T>>(&format!("{dir}{rest}"), bytes) {
                Ok(listing) => all.extend(listing.objects),
                Err(e) => return Some(Err(e)),
            }
        }
        all.sort();
        all.dedup();
        found.then_some(Ok(all))
    }

    /// Decodes the document at `path`, `None` when absent.
    pub fn parse<T: DeserializeOwned>(&self, path: &str) -> Option<Result<T, ErrorEntry>> {
        self.get(path).map(|bytes| decode(path, bytes))
    }

    /// Files under the directory `prefix` (ending in `/`), as (rest of the path, content), in path
    /// order.
    fn under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl DoubleEndedIterator<Item = (&'a str, &'a [u8])> + 'a {
        debug_assert!(prefix.ends_with('/'));
        // Every path under `dir/` sorts before `dir0` ('0' follows '/').
        let end = format!("{}0", &prefix[..prefix.len() - 1]);
        self.files
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Excluded(end.as_str()),
            ))
            .filter_map(move |(path, bytes)| {
                path.strip_prefix(prefix)
                    .map(|rest| (rest, bytes.as_slice()))
            })
    }
}

/// Decodes one status document; a corrupt one becomes an [`ErrorEntry`] naming the status file.
fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, ErrorEntry> {
    from_yaml(bytes).map_err(|e| ErrorEntry {
        file: path.to_string(),
        line: e.line,
        column: e.column,
        code: CORRUPT_STATUS_FILE.to_string(),
        message: format!("unreadable status file: {}", e.message),
    })
}

fn load_dir(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let rel = format!("{prefix}{name}");
        if kind.is_dir() {
            load_dir(&entry.path(), &format!("{rel}/"), files)?;
        } else if kind.is_file() {
            files.insert(rel, std::fs::read(entry.path())?);
        }
    }
    Ok(())
}
