//! The status tree: the files of one status-branch commit, and typed access to its documents.
//! A document is decoded once per tree: later reads of the same file as the same type get a
//! copy of the first decoding (see [`StatusTree::parse`]).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use crate::doc::{ErrorEntry, HistoryRecord, Inventory, ObjectStatus, ProjectDigest, Summary};
use crate::runs::PipelineRuns;
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

    /// `status/runs/<project>/<pipeline>.yaml`: a pipeline's runs on every cluster, the
    /// layout before [`cluster_runs`] (still read).
    pub fn runs(project: &str, pipeline: &str) -> String {
        format!("{RUNS_DIR}{project}/{pipeline}.yaml")
    }

    /// `status/runs/<cluster>/`: the runs files of one cluster.
    pub fn cluster_runs_dir(cluster: &str) -> String {
        format!("{RUNS_DIR}{cluster}/")
    }

    /// `status/runs/<cluster>/<project>/<pipeline>.yaml`: a pipeline's runs on one cluster.
    pub fn cluster_runs(cluster: &str, project: &str, pipeline: &str) -> String {
        format!("{}{project}/{pipeline}.yaml", cluster_runs_dir(cluster))
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
#[derive(Debug, Default)]
pub struct StatusTree {
    /// Path to file content.
    files: BTreeMap<String, Vec<u8>>,
    /// The documents decoded so far.
    decoded: Decoded,
    /// Every pipeline's merged runs (see [`StatusTree::all_runs`]), made once: the overview
    /// lists them at every request, and merging thousands of runs files took longer than the
    /// rest of the page.
    all_runs: std::sync::OnceLock<AllRuns>,
}

/// Every pipeline's runs, by project, then pipeline; shared.
pub type AllRuns = Arc<[Result<PipelineRuns, ErrorEntry>]>;

impl Clone for StatusTree {
    /// The same files; documents are decoded again on demand.
    fn clone(&self) -> Self {
        StatusTree::new(self.files.clone())
    }
}

impl PartialEq for StatusTree {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files
    }
}

impl Eq for StatusTree {}

/// Decoded documents by path, each with the fingerprint of the bytes it was decoded from (a
/// file changed through the public `files` is decoded again) and its type.
#[derive(Default)]
struct Decoded(Mutex<HashMap<String, Vec<DecodedDoc>>>);

/// One decoding of a file: `Result<T, ErrorEntry>` for the `T` of `kind`.
#[derive(Clone)]
struct DecodedDoc {
    fingerprint: u64,
    kind: TypeId,
    value: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Decoded({n} files)")
    }
}

impl Decoded {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<DecodedDoc>>> {
        // A panic while the lock was held leaves at worst a missing entry: keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A fingerprint of a file's bytes.
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl StatusTree {
    /// A tree from path → content pairs.
    pub fn new(files: BTreeMap<String, Vec<u8>>) -> Self {
        StatusTree {
            files,
            decoded: Decoded::default(),
            all_runs: Default::default(),
        }
    }

    /// Its files: path to content.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// Its files, taken out.
    pub fn into_files(self) -> BTreeMap<String, Vec<u8>> {
        self.files
    }

    /// Its files, to change: what was made of them once per tree is made again.
    pub fn files_mut(&mut self) -> &mut BTreeMap<String, Vec<u8>> {
        self.all_runs = Default::default();
        &mut self.files
    }

    /// Takes over what `older` (an earlier commit's tree) decoded, for the files whose bytes
    /// are the same here: a document that did not change between commits is not decoded again.
    pub fn keep_decoded(&self, older: &StatusTree) {
        let old = older.decoded.map();
        let mut new = self.decoded.map();
        for (path, docs) in old.iter() {
            let Some(bytes) = self.files.get(path) else {
                continue;
            };
            let same = fingerprint(bytes);
            let kept: Vec<DecodedDoc> = docs
                .iter()
                .filter(|d| d.fingerprint == same)
                .cloned()
                .collect();
            if !kept.is_empty() {
                new.insert(path.clone(), kept);
            }
        }
    }

    /// Loads every regular file under `root` (the directory that contains `status/`), keyed by
    /// its `/`-separated path relative to `root`. Hidden entries (`.git`, ...) and symlinks are
    /// skipped.
    pub fn from_dir(root: impl AsRef<Path>) -> std::io::Result<Self> {
        let mut files = BTreeMap::new();
        load_dir(root.as_ref(), "", &mut files)?;
        Ok(StatusTree::new(files))
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

    /// A pipeline's runs on every cluster, its runs files merged (see
    /// [`crate::runs::merge_files`]): `None` when the pipeline has none.
    pub fn pipeline_runs(
        &self,
        project: &str,
        pipeline: &str,
    ) -> Option<Result<PipelineRuns, ErrorEntry>> {
        self.runs_where(|p, n| p == project && n == pipeline).pop()
    }

    /// Every pipeline's runs, by project, then pipeline (see [`StatusTree::pipeline_runs`]),
    /// merged at the first call and kept (a change through [`StatusTree::files_mut`] drops them).
    pub fn all_runs(&self) -> AllRuns {
        self.all_runs
            .get_or_init(|| self.runs_where(|_, _| true).into())
            .clone()
    }

    /// The merged runs of the pipelines `chosen` picks by project and pipeline name.
    fn runs_where(
        &self,
        chosen: impl Fn(&str, &str) -> bool,
    ) -> Vec<Result<PipelineRuns, ErrorEntry>> {
        let files = self
            .under(paths::RUNS_DIR)
            .filter(|(rest, _)| {
                crate::runs::runs_file_key(rest).is_some_and(|(p, n, _)| chosen(p, n))
            })
            .map(|(rest, bytes)| {
                let path = format!("{}{rest}", paths::RUNS_DIR);
                (rest, self.decode_once(&path, bytes))
            });
        crate::runs::merge_files(files)
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
            .map(|(rest, bytes)| self.decode_once(&format!("{}{rest}", paths::HISTORY_DIR), bytes))
            .collect()
    }

    /// Statuses of the objects rendered for `cluster`, in path order.
    pub fn cluster_objects(&self, cluster: &str) -> Vec<Result<ObjectStatus, ErrorEntry>> {
        let dir = format!("{}{cluster}/", paths::CLUSTERS_DIR);
        self.under(&dir)
            .filter(|(rest, _)| rest.ends_with(".yaml") && rest.matches('/').count() == 2)
            .map(|(rest, bytes)| self.decode_once(&format!("{dir}{rest}"), bytes))
            .collect()
    }

    /// What cubist owns in `cluster`: the inventories of its units (`<project>/inventory.yaml`,
    /// and `inventory.yaml` of the cluster as older status branches wrote it), merged and
    /// sorted; `None` when there is none, the first undecodable one's error if any.
    pub fn inventory(&self, cluster: &str) -> Option<Result<Inventory, ErrorEntry>> {
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
            match decode::<Inventory>(&format!("{dir}{rest}"), bytes) {
                Ok(listing) => all.extend(listing.objects),
                Err(e) => return Some(Err(e)),
            }
        }
        all.sort();
        all.dedup();
        found.then_some(Ok(Inventory { objects: all }))
    }

    /// Decodes the document at `path`, `None` when absent. Decoded once per tree: later calls
    /// for the same file and type return a copy of the first result.
    pub fn parse<T>(&self, path: &str) -> Option<Result<T, ErrorEntry>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let bytes = self.get(path)?;
        Some(self.decode_once(path, bytes))
    }

    /// [`decode`] of `bytes`, the file at `path`, remembered per tree (see [`StatusTree::parse`]).
    fn decode_once<T>(&self, path: &str, bytes: &[u8]) -> Result<T, ErrorEntry>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let kind = TypeId::of::<T>();
        let print = fingerprint(bytes);
        let found = self.decoded.map().get(path).and_then(|docs| {
            docs.iter()
                .find(|d| d.kind == kind && d.fingerprint == print)
                .map(|d| d.value.clone())
        });
        if let Some(value) = found.as_ref().and_then(|v| v.downcast_ref()) {
            let value: &Result<T, ErrorEntry> = value;
            return value.clone();
        }
        // Decoded outside the lock: requests for other files go on meanwhile.
        let value: Result<T, ErrorEntry> = decode(path, bytes);
        let doc = DecodedDoc {
            fingerprint: print,
            kind,
            value: Arc::new(value.clone()),
        };
        let mut map = self.decoded.map();
        let docs = map.entry(path.to_string()).or_default();
        docs.retain(|d| d.kind != kind);
        docs.push(doc);
        value
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Summary;

    fn summary_yaml(revision: &str) -> Vec<u8> {
        format!("revision: {revision}\ndurationMs: 1\nauthor: a\nmessage: m\nclusters: []\nprojects: []\nerrors: []\n")
            .into_bytes()
    }

    fn decoded_count(tree: &StatusTree) -> usize {
        tree.decoded.map().values().map(Vec::len).sum()
    }

    /// Every pipeline's runs are merged once per tree, and again after its files change.
    #[test]
    fn all_runs_are_merged_once_and_again_after_a_change() {
        let runs = |project: &str| {
            let doc = PipelineRuns {
                project: project.into(),
                pipeline: "daily".into(),
                clusters: BTreeMap::from([("c".to_string(), Default::default())]),
                ..Default::default()
            };
            let path = paths::cluster_runs("c", project, "daily");
            (path, crate::yaml::to_yaml(&doc).unwrap().into_bytes())
        };
        let mut tree = StatusTree::new(BTreeMap::from([runs("a")]));
        let first = tree.all_runs();
        assert_eq!(first.len(), 1);
        assert!(Arc::ptr_eq(&first, &tree.all_runs()), "merged once");
        let (path, bytes) = runs("b");
        tree.files_mut().insert(path, bytes);
        let projects: Vec<String> = tree
            .all_runs()
            .iter()
            .map(|r| r.as_ref().unwrap().project.clone())
            .collect();
        assert_eq!(projects, ["a", "b"]);
    }

    #[test]
    fn a_document_is_decoded_once_and_again_when_its_bytes_change() {
        let mut tree = StatusTree::new(BTreeMap::from([(
            paths::SUMMARY.to_string(),
            summary_yaml("aaa"),
        )]));
        let first: Summary = tree.summary().unwrap().unwrap();
        assert_eq!(first.revision, "aaa");
        assert_eq!(decoded_count(&tree), 1);
        assert_eq!(tree.summary().unwrap().unwrap(), first);
        assert_eq!(decoded_count(&tree), 1, "the second read decodes nothing");

        // Files changed through the public map are decoded again, never served stale.
        tree.files
            .insert(paths::SUMMARY.to_string(), summary_yaml("bbb"));
        assert_eq!(tree.summary().unwrap().unwrap().revision, "bbb");
        tree.files
            .insert(paths::SUMMARY.to_string(), b"revision: [".to_vec());
        let err = tree.summary().unwrap().unwrap_err();
        assert_eq!(err.code, CORRUPT_STATUS_FILE);
        assert_eq!(
            tree.summary().unwrap().unwrap_err(),
            err,
            "errors are kept too"
        );
        // A clone decodes on its own.
        assert_eq!(decoded_count(&tree.clone()), 0);
    }

    #[test]
    fn a_newer_tree_keeps_only_what_did_not_change() {
        let project = paths::project("nlp");
        let old = StatusTree::new(BTreeMap::from([
            (paths::SUMMARY.to_string(), summary_yaml("aaa")),
            (project.clone(), b"name: nlp\n".to_vec()),
        ]));
        old.summary().unwrap().unwrap();
        old.project("nlp").unwrap().unwrap();
        let new = StatusTree::new(BTreeMap::from([
            (paths::SUMMARY.to_string(), summary_yaml("bbb")),
            (project.clone(), b"name: nlp\n".to_vec()),
        ]));
        new.keep_decoded(&old);
        let kept = new.decoded.map();
        assert!(kept.contains_key(&project), "the same digest is kept");
        assert!(
            !kept.contains_key(paths::SUMMARY),
            "a changed summary is not"
        );
        drop(kept);
        assert_eq!(new.summary().unwrap().unwrap().revision, "bbb");
    }
}
