//! What a directory target remembers between plans of one process (the loop keeps one per
//! cluster): for each file it wrote or read, the hash of the object it held and the file's
//! stamp (size, modification and change times, inode); and the inventory it last wrote.
//!
//! While the target directory is watched (inotify and the like, through `notify`), a file no
//! event touched since it was remembered is known without even a `stat`: a plan costs nothing
//! per unchanged object. Only what was checked against the file while the current watch ran
//! counts so (not what another process kept, see `memory_file`, nor what was known before the
//! watch restarted). A touched file, or every file when the watch is new, lost events or
//! cannot run, is checked by its stamp; a file whose stamp changed is read, hashed and planned
//! as an update, exactly as without the memory. A hand edit is never missed either way, but
//! events reach the memory on the watch's own thread: an edit made as a plan begins may be seen
//! only by the next plan.
//!
//! Like git's index, a stamp is only trusted once the file is older than the clock's
//! granularity (see `targets::file_stamp`): a file written less than a second before it was
//! stamped could be edited again within the same timestamp tick, so it is read again next time
//! instead.
//!
//! It also remembers, per project, the group of rendered objects last applied in full. While
//! the watch is trusted, a project whose group is that very `Arc` again and none of whose files
//! an event named is unchanged as a whole: a plan does not look at its objects one by one.

use super::desired::{Group, Groups};
use super::directory::{INVENTORY_FILE, InventoryLines, TEMP_PREFIX};
use super::file_stamp::{BytesDigest, Stamp};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A directory target's memory; shared (cheaply cloned) between the targets made for one
/// cluster over time.
#[derive(Debug, Clone, Default)]
pub struct Memory(Arc<Mutex<Files>>);

#[derive(Default)]
struct Files {
    objects: foldhash::HashMap<PathBuf, Known>,
    inventory: Option<(Stamp, Arc<Inventory>, Option<Arc<InventoryLines>>)>,
    /// The buffers of the inventory before the current one (see [`Memory::keep_spare`]).
    spare: Option<Spare>,
    /// The projects an inventory lists objects of (see [`Memory::inventory_projects`]).
    inventory_projects: Option<(Arc<Inventory>, Arc<Projects>)>,
    watch: Option<Watch>,
    /// Never watched (see [`Memory::unwatch`]).
    unwatched: bool,
    /// The watch may be trusted during the current plan.
    trusted: bool,
    /// The target directory holds no temporary file: it was cleaned while watched, and no
    /// event since named one that is still there (see [`Memory::no_leftovers`]).
    clean: bool,
    /// Paths events named before the current plan began.
    touched: HashSet<PathBuf>,
    /// The watch was not trusted in a plan since [`Memory::runs_looked_at`].
    runs_unknown: bool,
    /// The namespace directories whose run files (or runs directory) events named before a
    /// plan since [`Memory::runs_looked_at`].
    runs_touched: HashSet<String>,
    /// Projects owning a file of `touched`.
    touched_projects: HashSet<Option<String>>,
    /// The groups of the current plan, by project.
    planned: Option<Groups>,
    /// The groups of the last apply, by project: applied in full (every object written or
    /// unchanged) but those of the projects listed (an object failed or conflicted).
    applied: Option<(Groups, HashSet<Option<String>>)>,
}

/// One object file as a memory knows it, kept on disk between processes (see
/// [`super::memory_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KnownFile {
    /// Path relative to the target directory.
    pub path: String,
    /// Size.
    pub len: u64,
    /// Modification time, since the Unix epoch.
    pub modified: Duration,
    /// Change time (seconds, nanoseconds).
    #[cfg(unix)]
    pub changed: (i64, i64),
    /// Inode.
    #[cfg(unix)]
    pub inode: u64,
    /// Hash of the object it holds.
    pub hash: String,
    /// Digest of its bytes.
    pub bytes: BytesDigest,
    /// The stamp was settled when taken.
    pub settled: bool,
    /// The object's project.
    pub project: Option<String>,
}

/// An inventory's buffers, emptied: its entries' and its lines'.
pub(super) type Spare = (Vec<InventoryEntry>, Option<InventoryLines>);

/// The projects an inventory lists objects of (`None`: cluster-level objects), with how many
/// each.
pub(super) type Projects = HashMap<Option<String>, usize>;

/// Counts `project` once more in `projects` (its name copied only when it is new there).
fn count_in(projects: &mut Projects, project: &Option<String>) {
    match projects.get_mut(project) {
        Some(n) => *n += 1,
        None => {
            projects.insert(project.clone(), 1);
        }
    }
}

/// What is known of one object file.
struct Known {
    stamp: Stamp,
    /// Hash of the object it holds.
    hash: String,
    /// Digest of the file's bytes (see `targets::file_stamp::bytes_digest`).
    bytes: BytesDigest,
    /// The stamp was settled when taken.
    settled: bool,
    /// Checked against the file (written, read, or its stamp matched) while the current watch
    /// ran: only then does the watch's silence say the file is unchanged. Not so for what
    /// another process kept ([`Memory::take_known`]) or what was known before the watch
    /// (re)started, until a plan checks it.
    verified: bool,
    /// The object's project.
    project: Option<String>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("objects", &self.objects.len())
            .field("watching", &self.watch.as_ref().map(|w| &w.root))
            .finish()
    }
}

/// A recursive watch of the target directory and the paths its events named.
struct Watch {
    root: PathBuf,
    /// The inode of `root` when the watch started: a directory deleted and made again is
    /// another directory, no longer watched.
    root_inode: Option<u64>,
    touched: Arc<Mutex<Touched>>,
    _watcher: RecommendedWatcher,
}

#[derive(Default)]
struct Touched {
    paths: HashSet<PathBuf>,
    /// Events were lost (queue overflow, watch error): nothing is known untouched.
    lost: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Memory {
    /// Stops watching the target, and never watches it again: for a process that makes one
    /// pass and stops, where no later plan would read what a watch saw. Starting a watch walks
    /// every directory of the target, and every file written then raises events for its thread
    /// to read. Every plan checks every file, as when a watch cannot run.
    pub fn unwatch(&self) {
        let mut files = self.files();
        files.unwatched = true;
        files.watch = None;
    }

    fn files(&self) -> std::sync::MutexGuard<'_, Files> {
        lock(&self.0)
    }

    /// Starts a plan of the directory `root`: makes sure it is watched, and decides whether
    /// untouched files may be trusted without a `stat` in this plan. Not when the watch has
    /// just started (files may have changed before it did), lost events, or cannot run.
    pub(super) fn begin(&self, root: &Path) {
        let mut files = self.files();
        let Ok(meta) = std::fs::metadata(root) else {
            files.watch = None;
            files.trusted = false;
            files.clean = false;
            return;
        };
        let inode = Stamp::of(&meta).inode();
        let touched = match files.watch.as_ref() {
            Some(w) if w.root == root && w.root_inode == inode => {
                let Touched { paths, lost } = std::mem::take(&mut *lock(&w.touched));
                files.trusted = !lost;
                paths
            }
            _ => {
                files.watch = match files.unwatched {
                    true => None,
                    false => Watch::start(root, inode),
                };
                // What happened before this watch began is not in its events: files and
                // groups are checked again before its silence counts for them.
                for known in files.objects.values_mut() {
                    known.verified = false;
                }
                files.applied = None;
                files.trusted = false;
                HashSet::new()
            }
        };
        let mut projects = HashSet::new();
        for path in &touched {
            match files.objects.get(path) {
                Some(known) => {
                    projects.insert(known.project.clone());
                }
                // Cubist's own temporary files and inventory are not objects; any other path
                // (a directory renamed or removed, say) may hide files: trust nothing.
                None if !is_own_file(path) => files.trusted = false,
                // A temporary file still there is a leftover (cubist renames its own away);
                // the inventory and run files are meant to be there.
                None if is_temporary(path) && path.exists() => files.clean = false,
                None => {}
            }
        }
        files.clean &= files.trusted;
        files.runs_unknown |= !files.trusted;
        let namespaces: Vec<String> = touched
            .iter()
            .filter_map(|p| runs_namespace(root, p))
            .collect();
        files.runs_touched.extend(namespaces);
        files.touched = touched;
        files.touched_projects = projects;
        files.planned = None;
    }

    /// True when `group` is the group last applied in full for `project` and the watch saw
    /// none of its files touched: every object of it is unchanged.
    pub(super) fn unchanged_group(&self, project: &Option<String>, group: &Group) -> bool {
        let files = self.files();
        files.trusted
            && !files.touched_projects.contains(project)
            && files.applied.as_ref().is_some_and(|(groups, unsettled)| {
                !unsettled.contains(project)
                    && groups.get(project).is_some_and(|g| Arc::ptr_eq(g, group))
            })
    }

    /// True when the current plan trusts the watch and the directory was cleaned of
    /// temporary files while watched with no leftover seen since: listing every namespace
    /// directory again would find none.
    pub(super) fn no_leftovers(&self) -> bool {
        let files = self.files();
        files.trusted && files.clean
    }

    /// Notes that the directory was just cleaned of temporary files; trusted from the next
    /// plan on, once the watch is.
    pub(super) fn cleaned(&self) {
        let mut files = self.files();
        files.clean = files.watch.is_some();
    }

    /// Notes the groups the current plan covers.
    pub(super) fn planned(&self, groups: &Groups) {
        self.files().planned = Some(groups.clone());
    }

    /// After an apply of the current plan: its groups are applied in full, except those of
    /// `unsettled` projects (an object failed or conflicted), which are looked at again.
    pub(super) fn applied(&self, unsettled: &HashSet<Option<String>>) {
        let mut files = self.files();
        files.applied = files
            .planned
            .take()
            .map(|groups| (groups, unsettled.clone()));
    }

    /// The hash of the object in the file at `path` when the watch saw no change to it since it
    /// was remembered, up to the start of the current plan; `None` when it must be checked (see
    /// [`Memory::hash`]). A change after the start is seen by the next plan.
    pub(super) fn untouched(&self, path: &Path) -> Option<String> {
        let files = self.files();
        files.watch.as_ref()?;
        let known = files.objects.get(path)?;
        (files.trusted && known.verified && !files.touched.contains(path))
            .then(|| known.hash.clone())
    }

    /// The hash of the object in the file at `path`, if the file's stamp is unchanged since it
    /// was remembered and was settled then.
    pub(super) fn hash(&self, path: &Path, meta: &Metadata) -> Option<String> {
        let mut files = self.files();
        let known = files.objects.get_mut(path)?;
        let same = known.settled && known.stamp == Stamp::of(meta);
        known.verified |= same;
        same.then(|| known.hash.clone())
    }

    /// The hash of the object in the file at `path`, if its bytes (read again: the stamp
    /// could not tell) are the ones remembered.
    pub(super) fn hash_of_bytes(&self, path: &Path, bytes: &BytesDigest) -> Option<String> {
        let files = self.files();
        let known = files.objects.get(path)?;
        (known.bytes == *bytes).then(|| known.hash.clone())
    }

    /// Remembers that the file at `path`, as `meta` describes it and holding bytes of digest
    /// `bytes`, holds an object of `hash` belonging to `project`.
    pub(super) fn remember(
        &self,
        path: &Path,
        meta: &Metadata,
        bytes: BytesDigest,
        hash: &str,
        project: &Option<String>,
    ) {
        let stamp = Stamp::of(meta);
        let known = Known {
            stamp,
            bytes,
            hash: hash.to_string(),
            settled: stamp.settled(),
            verified: true,
            project: project.clone(),
        };
        self.files().objects.insert(path.to_path_buf(), known);
    }

    /// What the memory knows of each object file under `root`, by path relative to it (see
    /// [`super::memory_file`]).
    pub(super) fn known_files(&self, root: &Path) -> Vec<KnownFile> {
        let files = self.files();
        let mut out: Vec<KnownFile> = files
            .objects
            .iter()
            .filter_map(|(path, k)| {
                let rel = path.strip_prefix(root).ok()?.to_str()?.to_string();
                Some(KnownFile {
                    path: rel,
                    len: k.stamp.len,
                    modified: k
                        .stamp
                        .modified?
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .ok()?,
                    #[cfg(unix)]
                    changed: k.stamp.changed,
                    #[cfg(unix)]
                    inode: k.stamp.inode,
                    hash: k.hash.clone(),
                    bytes: k.bytes,
                    settled: k.settled,
                    project: k.project.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Takes in what another process's memory knew of the object files under `root` (files it
    /// knows itself keep what it knows). Each is trusted exactly as if remembered here: only
    /// while the file's stamp is the one kept.
    pub(super) fn take_known(&self, root: &Path, known: Vec<KnownFile>) {
        let mut files = self.files();
        for k in known {
            let stamp = Stamp {
                len: k.len,
                modified: Some(SystemTime::UNIX_EPOCH + k.modified),
                #[cfg(unix)]
                changed: k.changed,
                #[cfg(unix)]
                inode: k.inode,
            };
            files.objects.entry(root.join(&k.path)).or_insert(Known {
                stamp,
                hash: k.hash,
                bytes: k.bytes,
                settled: k.settled,
                verified: false,
                project: k.project,
            });
        }
    }

    /// Forgets the file at `path` (deleted).
    pub(super) fn forget(&self, path: &Path) {
        self.files().objects.remove(path);
    }

    /// The namespace directories (projects) whose run files of the run controller
    /// (`<ns>/runs/*`, see `crate::runs::files`) the watch saw touched since
    /// [`Memory::runs_looked_at`], up to events not delivered yet; `None` when the watch cannot
    /// tell (none, not trusted, events lost).
    pub(crate) fn runs_touched(&self) -> Option<HashSet<String>> {
        let files = self.files();
        let w = files.watch.as_ref()?;
        let pending = lock(&w.touched);
        if !files.trusted || files.runs_unknown || pending.lost {
            return None;
        }
        let mut touched = files.runs_touched.clone();
        touched.extend(
            pending
                .paths
                .iter()
                .filter_map(|p| runs_namespace(&w.root, p)),
        );
        Some(touched)
    }

    /// Notes that the run controller has just read the run files it needed: those of every
    /// namespace [`Memory::runs_touched`] named.
    pub(crate) fn runs_looked_at(&self) {
        let mut files = self.files();
        files.runs_unknown = false;
        files.runs_touched.clear();
    }

    /// The inventory, if the inventory file is unchanged since it was remembered.
    pub(super) fn inventory(&self, meta: &Metadata) -> Option<Arc<Inventory>> {
        let files = self.files();
        let (stamp, inventory, _) = files.inventory.as_ref()?;
        (*stamp == Stamp::of(meta)).then(|| inventory.clone())
    }

    /// The projects `inventory` lists objects of, computed once per inventory (the same one
    /// is read from memory while its file is unchanged; an apply derives those of the one it
    /// writes, see [`Self::remember_inventory`]).
    pub(super) fn inventory_projects(&self, inventory: &Arc<Inventory>) -> Arc<Projects> {
        let mut files = self.files();
        if let Some((known, projects)) = &files.inventory_projects
            && Arc::ptr_eq(known, inventory)
        {
            return projects.clone();
        }
        let mut projects = Projects::new();
        for e in &inventory.objects {
            count_in(&mut projects, &e.project);
        }
        let projects = Arc::new(projects);
        files.inventory_projects = Some((inventory.clone(), projects.clone()));
        projects
    }

    /// The projects of the inventory `old` becomes when its entries at `named` (sorted, each
    /// once) leave it and `written` join it: derived from those of `old` (see
    /// [`Self::inventory_projects`]) instead of counted again from every entry.
    pub(super) fn projects_after(
        &self,
        old: &Arc<Inventory>,
        named: &[usize],
        written: &[InventoryEntry],
    ) -> Arc<Projects> {
        let mut projects = Arc::unwrap_or_clone(self.inventory_projects(old));
        for &i in named {
            let project = &old.objects[i].project;
            if let Some(n) = projects.get_mut(project) {
                *n -= 1;
                if *n == 0 {
                    projects.remove(project);
                }
            }
        }
        for e in written {
            count_in(&mut projects, &e.project);
        }
        Arc::new(projects)
    }

    /// Forgets the inventory (about to be written again), and what was computed of it: the
    /// writer then holds the only copy and moves its entries instead of copying them. Returns
    /// the buffers of the inventory before it, kept to be written into (see [`Self::keep_spare`]).
    pub(super) fn forget_inventory(&self) -> Option<Spare> {
        let mut files = self.files();
        files.inventory = None;
        files.inventory_projects = None;
        files.spare.take()
    }

    /// Keeps the (emptied) buffers of the inventory just replaced, for the next write.
    pub(super) fn keep_spare(&self, entries: Vec<InventoryEntry>, lines: Option<InventoryLines>) {
        self.files().spare = Some((entries, lines));
    }

    /// The lines `inventory` was written as, when it is the one remembered and this process
    /// wrote it.
    pub(super) fn inventory_lines(
        &self,
        inventory: &Arc<Inventory>,
    ) -> Option<Arc<InventoryLines>> {
        let files = self.files();
        let (_, known, lines) = files.inventory.as_ref()?;
        Arc::ptr_eq(known, inventory).then(|| lines.clone())?
    }

    /// Remembers the inventory file's content, and the lines of each entry when this process
    /// wrote it. Trusted at once, unlike object files: the inventory is cubist's own file,
    /// never edited by hand, and every write of it replaces the file (a new inode), so another
    /// writer changes the stamp. `projects`, when given, are those it lists objects of (see
    /// [`Self::inventory_projects`]).
    pub(super) fn remember_inventory(
        &self,
        meta: &Metadata,
        inventory: Arc<Inventory>,
        lines: Option<Arc<InventoryLines>>,
        projects: Option<Arc<Projects>>,
    ) {
        let mut files = self.files();
        files.inventory_projects = projects.map(|p| (inventory.clone(), p));
        files.inventory = Some((Stamp::of(meta), inventory, lines));
    }
}

/// Cubist's temporary files (see `write_atomic`), its inventory file and the run controller's
/// files (`<ns>/runs/*`, never objects: see `crate::runs::files`).
fn is_own_file(path: &Path) -> bool {
    in_runs(path) || is_temporary(path) || path.file_name() == Some(INVENTORY_FILE.as_ref())
}

/// A temporary file of `write_atomic` (a leftover when still there once its write is done).
fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX))
}

/// True for a file in a runs directory (`<ns>/runs/*`).
fn in_runs(path: &Path) -> bool {
    path.parent()
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == crate::runs::files::RUNS_DIR)
}

/// The namespace directory of a run file or a runs directory itself (made, renamed or
/// removed) under `root`: `<root>/<ns>/runs[/*]`.
fn runs_namespace(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.components();
    let ns = parts.next()?.as_os_str().to_str()?.to_string();
    let runs = parts.next()?.as_os_str() == crate::runs::files::RUNS_DIR;
    (runs && parts.count() <= 1).then_some(ns)
}

/// True for an event that changes nothing: a file or directory opened, read, or closed
/// without writing (listing a namespace directory to clean leftovers is one). Taken as a touch,
/// a directory's open made the memory distrust the whole watch, so every later plan stat'ed
/// every file. A close after writing still counts (the write's own event does too).
fn reads_only(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    matches!(
        kind,
        notify::EventKind::Access(
            AccessKind::Open(_)
                | AccessKind::Read
                | AccessKind::Close(AccessMode::Read | AccessMode::Any)
        )
    )
}

impl Watch {
    /// Watches `root` recursively; `None` (and a debug log) when the platform will not.
    fn start(root: &Path, root_inode: Option<u64>) -> Option<Watch> {
        let touched = Arc::new(Mutex::new(Touched::default()));
        let sink = touched.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let mut t = lock(&sink);
            match event {
                Ok(e) if e.need_rescan() => t.lost = true,
                Ok(e) if reads_only(&e.kind) => {}
                Ok(e) => t.paths.extend(e.paths),
                Err(_) => t.lost = true,
            }
        })
        .and_then(|mut w| w.watch(root, RecursiveMode::Recursive).map(|()| w));
        match watcher {
            Ok(watcher) => Some(Watch {
                root: root.to_path_buf(),
                root_inode,
                touched,
                _watcher: watcher,
            }),
            Err(e) => {
                tracing::debug!(root = %root.display(), error = %e, "no watch; every plan checks every file");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Memory, runs_namespace};
    use std::path::Path;

    /// A watched memory tells which run files were touched from its second plan on; an
    /// unwatched one starts no watch and cannot tell, and unwatching drops a running watch.
    #[test]
    fn an_unwatched_memory_starts_no_watch_and_tells_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let plan_twice = |m: &Memory| {
            m.begin(dir.path());
            m.runs_looked_at();
            m.begin(dir.path());
        };
        let watched = Memory::default();
        plan_twice(&watched);
        assert!(watched.files().watch.is_some());
        assert_eq!(watched.runs_touched(), Some(Default::default()));
        let single = Memory::default();
        single.unwatch();
        plan_twice(&single);
        assert!(single.files().watch.is_none());
        assert_eq!(single.runs_touched(), None);
        watched.unwatch();
        assert!(watched.files().watch.is_none());
        plan_twice(&watched);
        assert!(watched.files().watch.is_none(), "never watched again");
        assert_eq!(watched.runs_touched(), None);
    }

    #[test]
    fn run_files_and_runs_directories_name_their_namespace_and_nothing_else_does() {
        let root = Path::new("/t/local");
        let ns = |p: &str| runs_namespace(root, &root.join(p));
        assert_eq!(
            ns("recsys/runs/daily-20261201.yaml").as_deref(),
            Some("recsys")
        );
        assert_eq!(
            ns("recsys/runs").as_deref(),
            Some("recsys"),
            "the directory itself"
        );
        assert_eq!(ns("recsys/runs/.cubist-tmpA1").as_deref(), Some("recsys"));
        assert_eq!(ns("recsys/Service-a.yaml"), None, "an object file");
        assert_eq!(ns("recsys/runs/deeper/x.yaml"), None);
        assert_eq!(ns("recsys"), None);
        assert_eq!(
            runs_namespace(root, Path::new("/elsewhere/recsys/runs/x.yaml")),
            None
        );
    }
}
