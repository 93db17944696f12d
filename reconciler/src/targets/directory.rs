//! The directory target: hydrated manifests on disk, one file per object, plus an inventory
//! of what cubist wrote. Writes are atomic (temp file + rename); only inventory files are pruned.

use super::desired::Desired;
use super::file_stamp::{BytesDigest, bytes_digest};
use super::memory::{self, Memory};
use super::{Action, ApplyReport, Change, Plan, unified_diff};
use crate::model::yaml::parse_documents;
use crate::render::hash::content_hash;
use crate::render::{ObjectKey, RenderedObject, RenderedSet};
use anyhow::{Context, Result};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use foldhash::{HashSet, HashSetExt};
use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files one thread writes at least, when writing in parallel (fewer stay on one thread).
const MIN_FILES_PER_THREAD: usize = 16;

/// Files an apply writes at once (in parallel) before it reports their changes: enough to
/// keep every core busy, few enough that progress is steady.
const WRITE_BATCH: usize = 64;

/// Up to how many projects that may lose objects a plan compares each inventory entry's with
/// one by one, rather than looking it up in a set.
const FEW_LOSING: usize = 4;

/// Name of the inventory file in the target directory.
pub const INVENTORY_FILE: &str = "cubist-inventory.yaml";

/// A directory that holds one cluster's objects.
#[derive(Debug, Clone)]
pub struct DirectoryTarget {
    root: PathBuf,
    memory: Option<Memory>,
    /// The directory `root` must stay inside on disk, links resolved (see [`Self::confined_to`]).
    bound: Option<PathBuf>,
    /// Plans carry a diff per change (see [`Self::without_diffs`]).
    diffs: bool,
}

impl DirectoryTarget {
    /// The target at `root` (created on first apply). Every plan reads every file.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirectoryTarget {
            root: root.into(),
            memory: None,
            bound: None,
            diffs: true,
        }
    }

    /// This target, planning without diffs (`Change::diff` stays `None`): for the reconcile
    /// loop, which reports counts and states, never diffs. A create or update then costs no
    /// YAML text and no diff beside the file written, and a delete does not read its file.
    pub fn without_diffs(self) -> Self {
        DirectoryTarget {
            diffs: false,
            ..self
        }
    }

    /// This target, refusing to plan or write unless its directory is inside `bound` once
    /// links are resolved, and each entry of it that a plan or an apply goes through (the
    /// namespace directories of its objects, the inventory) is no link (cubist makes none): a
    /// link there could lead reads and writes out of the target root.
    pub fn confined_to(self, bound: impl Into<PathBuf>) -> Self {
        DirectoryTarget {
            bound: Some(bound.into()),
            ..self
        }
    }

    /// The target's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that the target directory (or, before it exists, its nearest existing ancestor)
    /// is inside the bound on disk.
    fn check_bound(&self) -> Result<()> {
        let Some(bound) = &self.bound else {
            return Ok(());
        };
        let real_bound = bound.canonicalize().with_context(|| {
            format!(
                "the target root {} does not exist: create it",
                bound.display()
            )
        })?;
        let mut probe = self.root.as_path();
        let real = loop {
            match probe.canonicalize() {
                Ok(p) => break p,
                Err(_) => probe = probe.parent().context("a target directory has a parent")?,
            }
        };
        anyhow::ensure!(
            real.starts_with(&real_bound) && (probe != self.root || real != real_bound),
            "{} leads out of the target root {} through a symbolic link: cubist writes only inside the target root; remove the link",
            probe.display(),
            real_bound.display()
        );
        Ok(())
    }

    /// Checks that none of the entries `names` of the target directory (namespace directories,
    /// the inventory) is a link, when the target is confined: cubist reads and writes only
    /// through the entries it names, so a link elsewhere in the directory is never followed.
    /// Returns the names that do not exist. Names that are not plain file names are skipped
    /// (their objects are never looked at).
    fn entries_not_links<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<HashSet<&'n str>> {
        let names: HashSet<&str> = names.into_iter().filter(|n| plain_name(n)).collect();
        let mut missing = HashSet::new();
        for name in names {
            let path = self.root.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() && self.bound.is_some() => anyhow::bail!(
                    "{} is a symbolic link: cubist never reads or writes a target through links; remove it",
                    path.display()
                ),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing.insert(name);
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        }
        Ok(missing)
    }

    /// Deletes the temporary files a write interrupted by a crash left in the target directory
    /// and its namespace directories (only files named like [`write_atomic`]'s, never links).
    /// Returns how many were deleted.
    pub fn clean_leftovers(&self) -> Result<usize> {
        self.check_bound()?;
        // The watch saw no temporary file left since the last clean: nothing to list.
        if self.memory.as_ref().is_some_and(Memory::no_leftovers) {
            return Ok(0);
        }
        let mut cleaned = 0;
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(0);
        };
        let mut dirs = vec![self.root.clone()];
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
        for dir in dirs {
            for e in std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
            {
                let leftover = e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                    && e.file_type().is_ok_and(|t| t.is_file());
                if leftover {
                    std::fs::remove_file(e.path())
                        .with_context(|| format!("cannot delete {}", e.path().display()))?;
                    cleaned += 1;
                }
            }
        }
        if let Some(m) = &self.memory {
            m.cleaned();
        }
        Ok(cleaned)
    }

    /// This target, skipping files unchanged since `memory` saw them (see [`Memory`]).
    pub fn with_memory(self, memory: Memory) -> Self {
        DirectoryTarget {
            memory: Some(memory),
            ..self
        }
    }

    /// The file an object lives in: `<ns or _cluster>/<group>_<kind>_<name>.yaml`.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        let group = key.api_version.rsplit_once('/').map_or("core", |(g, _)| g);
        self.root
            .join(dir_name(&key.namespace))
            .join(format!("{group}_{}_{}.yaml", key.kind, key.name))
    }

    /// The directories (by name, see [`dir_name`]) that the files of `objects` would be in
    /// and that do not exist: a file there needs no look of its own. An error when one is a
    /// link (see [`Self::entries_not_links`]). A first apply looked for
    /// each of 17,000 missing files (500 projects), a tenth of its time; it now looks for
    /// about 500 directories.
    fn missing_dirs<'o>(&self, objects: &[(&'o RenderedObject, bool)]) -> Result<HashSet<&'o str>> {
        self.entries_not_links(objects.iter().map(|(o, _)| dir_name(o.key_parts()[2])))
    }

    /// The inventory as last written (empty if none).
    pub fn inventory(&self) -> Result<Arc<Inventory>> {
        let path = self.root.join(INVENTORY_FILE);
        let Some(meta) = stat(&path)? else {
            return Ok(Default::default());
        };
        if let Some(known) = self.memory.as_ref().and_then(|m| m.inventory(&meta)) {
            return Ok(known);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut inventory: Inventory = match inventory_lines(&text) {
            Some(inventory) => inventory,
            None => {
                let docs = parse_documents(INVENTORY_FILE, &text)
                    .map_err(|d| anyhow::anyhow!("{}: {}", path.display(), d.message))?;
                let json = docs.into_iter().next().map(|d| d.json).unwrap_or_default();
                serde_json::from_value(json).with_context(|| {
                    format!(
                        "{} is corrupt; delete it to let cubist rebuild it",
                        path.display()
                    )
                })?
            }
        };
        // Cubist writes it sorted; one written otherwise is sorted as read, so an object is
        // looked up in it by halves (see `owned_at`).
        if !inventory.objects.is_sorted() {
            inventory.objects.sort();
        }
        let inventory = Arc::new(inventory);
        if let Some(m) = &self.memory {
            m.remember_inventory(&meta, inventory.clone(), None, None);
        }
        Ok(inventory)
    }

    /// Writes the inventory of `entries` (sorted, one per key; see [`merge`]) and remembers it,
    /// with the `projects` it lists objects of. An entry with an index in `from` (its place in
    /// the inventory `old` was written as) keeps its line. `reuse`: buffers of an earlier
    /// inventory to write into.
    fn write_inventory(
        &self,
        entries: Vec<InventoryEntry>,
        from: &[Option<usize>],
        old: Option<&InventoryLines>,
        reuse: Option<InventoryLines>,
        projects: Option<Arc<memory::Projects>>,
    ) -> Result<()> {
        let lines = InventoryLines::of(&entries, from, old, reuse);
        let meta = write_atomic(self.root.join(INVENTORY_FILE), &lines.text)?;
        if let Some(m) = &self.memory {
            let inventory = Arc::new(Inventory { objects: entries });
            m.remember_inventory(&meta, inventory, Some(Arc::new(lines)), projects);
        }
        Ok(())
    }

    /// Where a desired object stands against the file at `path`: the action, and the file's
    /// object when it was read (for the diff). Files the memory knows are not read, and files
    /// whose bytes it knows not parsed, unless a diff needs them.
    fn compare(
        &self,
        path: &Path,
        owned: bool,
        desired: &str,
        project: &Option<String>,
    ) -> Result<(Action, Option<serde_json::Value>)> {
        let memory = self.memory.as_ref().filter(|_| owned);
        // What the memory knows of an owned file decides without reading it, unless a diff
        // needs the current content.
        let known = |hash: Option<&str>| match hash {
            Some(h) if h == desired => Some(Action::Unchanged),
            Some(_) if !self.diffs => Some(Action::Update),
            _ => None,
        };
        if let Some(action) = known(memory.and_then(|m| m.untouched(path)).as_deref()) {
            return Ok((action, None));
        }
        let Some(meta) = stat(path)? else {
            return Ok((Action::Create, None));
        };
        if let Some(action) = known(memory.and_then(|m| m.hash(path, &meta)).as_deref()) {
            return Ok((action, None));
        }
        let Some(text) = read(path)? else {
            return Ok((Action::Create, None));
        };
        let bytes = bytes_digest(text.as_bytes());
        // The bytes remembered: the object is known without parsing it.
        if let Some(m) = memory
            && let Some(hash) = m.hash_of_bytes(path, &bytes)
            && let Some(action) = known(Some(&hash))
        {
            m.remember(path, &meta, bytes, &hash, project);
            return Ok((action, None));
        }
        let Some(current) = parse_object(path, &text) else {
            return Ok((Action::Create, None));
        };
        let hash = content_hash(&current);
        if let Some(m) = &self.memory {
            m.remember(path, &meta, bytes, &hash, project);
        }
        let action = match (owned, hash == desired) {
            (true, true) => Action::Unchanged,
            (true, false) => Action::Update,
            (false, _) => Action::Conflict,
        };
        Ok((action, Some(current)))
    }

    /// The current object at a path, parsed, if the file exists.
    fn current(&self, path: &Path) -> Result<Option<serde_json::Value>> {
        Ok(read(path)?.and_then(|text| parse_object(path, &text)))
    }
}

impl DirectoryTarget {
    /// Plans `desired` project by project. With a memory, a project whose group is the one
    /// last applied in full and whose files nothing touched is counted as unchanged without
    /// looking at its objects (see [`Memory`]); the others are compared object by object.
    pub fn plan_desired(&self, desired: &Desired) -> Result<Plan> {
        // Inside the bound before it is watched; each entry read through is checked for links
        // as it comes.
        self.check_bound()?;
        let memory = self.memory.as_ref();
        if let Some(m) = memory {
            m.begin(&self.root);
        }
        self.entries_not_links([INVENTORY_FILE])?;
        let inventory = self.inventory()?;
        let mut plan = Plan {
            cluster: desired.cluster.clone(),
            ..Default::default()
        };
        let mut wanted: HashSet<[&str; 4]> = HashSet::new();
        let mut looked: HashSet<&Option<String>> = HashSet::new();
        let mut objects: Vec<(&RenderedObject, bool)> = Vec::new();
        if let Some(m) = memory {
            m.planned(&desired.projects);
        }
        for (project, group) in desired.projects.iter() {
            if memory.is_some_and(|m| m.unchanged_group(project, group)) {
                plan.untouched += group.len();
                continue;
            }
            looked.insert(project);
            for o in group.iter() {
                let parts = o.key_parts();
                wanted.insert(parts);
                objects.push((o, owned_at(&inventory, &parts).is_some()));
            }
        }
        // Compared several at once: without a memory, each file is read and parsed.
        let missing = self.missing_dirs(&objects)?;
        let changes = crate::par::map_in_runs(&objects, MIN_FILES_PER_THREAD, |(o, owned)| {
            let absent = missing.contains(dir_name(o.key_parts()[2]));
            self.plan_object(o, *owned, absent)
        });
        plan.changes = changes.into_iter().collect::<Result<_>>()?;
        // Owned objects no longer desired: only those of projects looked at (an unchanged
        // project owns exactly its group) or gone altogether. With a memory, the projects the
        // inventory lists are known without walking it; it is walked only when a project may
        // lose objects, and each entry is then matched against those projects alone.
        let gone = |p: &&Option<String>| !desired.projects.contains_key(*p);
        let listed = memory.map(|m| m.inventory_projects(&inventory));
        let mut losing = looked;
        match &listed {
            Some(listed) => losing.extend(listed.keys().filter(gone)),
            None => losing.extend(inventory.objects.iter().map(|e| &e.project).filter(gone)),
        }
        let few: Vec<&Option<String>> = losing.iter().copied().take(FEW_LOSING + 1).collect();
        let may_lose = |p: &Option<String>| match few.len() {
            0 => false,
            n if n <= FEW_LOSING => few.contains(&p),
            _ => losing.contains(p),
        };
        let deleted: Vec<&InventoryEntry> = inventory
            .objects
            .iter()
            .rev()
            .filter(|e| may_lose(&e.project) && !wanted.contains(&e.key_parts()))
            .collect();
        self.entries_not_links(deleted.iter().map(|e| dir_name(&e.namespace)))?;
        for e in deleted {
            plan.changes.push(self.plan_delete(e)?);
        }
        Ok(plan)
    }

    /// The change that makes the file of `o` hold it; `owned` when the inventory lists it,
    /// `absent` when its directory is known not to exist. The file of an object whose names
    /// are not plain file names is not looked at (its path could lead out of the target); the
    /// apply refuses to write it.
    fn plan_object(&self, o: &RenderedObject, owned: bool, absent: bool) -> Result<Change> {
        let key = o.key();
        let path = self.path_of(&key);
        let (action, current) = if absent || !safe_file_names(&key) {
            (Action::Create, None)
        } else {
            self.compare(&path, owned, &o.hash, &o.project)?
        };
        // The label only for a note or a diff: most objects of a plan need neither.
        let note = (action == Action::Conflict).then(|| {
            format!(
                "{} exists but cubist did not write it; move it away to let cubist manage it",
                self.label(&path)
            )
        });
        let diff = (self.diffs && matches!(action, Action::Create | Action::Update)).then(|| {
            unified_diff(
                current.as_ref(),
                Some(&o.body.to_value()),
                &self.label(&path),
            )
        });
        Ok(Change {
            key,
            action,
            project: o.project.clone(),
            source: o.source.clone(),
            diff,
            desired: Some(o.clone()),
            note,
        })
    }

    /// Records one change of an apply whose file, for a create or update, `written` holds
    /// the result of writing (see [`Self::write_objects`]); deletes the file of a delete.
    fn apply_change(
        &self,
        c: &Change,
        written: &mut impl Iterator<Item = Result<(std::fs::Metadata, BytesDigest)>>,
        report: &mut ApplyReport,
        unsettled: &mut std::collections::HashSet<Option<String>>,
    ) {
        let path = self.path_of(&c.key);
        let result = match (c.action, &c.desired) {
            _ if !safe_file_names(&c.key) => Err(anyhow::anyhow!(
                "its namespace or name is not a plain file name; nothing was written"
            )),
            (Action::Create | Action::Update, Some(o)) => {
                let done = written.next().expect("one result per file to write");
                done.map(|(meta, bytes)| {
                    if let Some(m) = &self.memory {
                        m.remember(&path, &meta, bytes, &o.hash, &o.project);
                    }
                    if c.action == Action::Create {
                        report.created += 1
                    } else {
                        report.updated += 1
                    }
                })
            }
            (Action::Delete, _) => remove(&path).map(|_| {
                if let Some(m) = &self.memory {
                    m.forget(&path);
                }
                report.deleted += 1
            }),
            (Action::Conflict, _) => {
                unsettled.insert(c.project.clone());
                report
                    .failed
                    .push((c.key.clone(), c.note.clone().unwrap_or_default()));
                Ok(())
            }
            _ => {
                report.unchanged += 1;
                Ok(())
            }
        };
        if let Err(e) = result {
            unsettled.insert(c.project.clone());
            report.failed.push((c.key.clone(), format!("{e:#}")));
        }
    }

    /// Writes the file of every create and update of `changes` (in order, objects with plain
    /// names only), several at once, each through a synced temporary file renamed over the
    /// object's file ([`write_atomic`]). Returns each write's result with the new file's
    /// metadata and the digest of its bytes.
    fn write_objects(&self, changes: &[Change]) -> Vec<Result<(std::fs::Metadata, BytesDigest)>> {
        let files: Vec<(PathBuf, &RenderedObject)> = changes
            .iter()
            .filter(|c| writes_file(c))
            .filter_map(|c| Some((self.path_of(&c.key), c.desired.as_ref()?)))
            .collect();
        crate::par::map_in_runs(&files, MIN_FILES_PER_THREAD, |(path, o)| {
            let text = o.body.to_yaml();
            let meta = write_atomic(path, &text)?;
            Ok((meta, bytes_digest(text.as_bytes())))
        })
    }

    /// The change that prunes the owned object of `e`.
    fn plan_delete(&self, e: &InventoryEntry) -> Result<Change> {
        let key = ObjectKey::from(e);
        let path = self.path_of(&key);
        let diff = if self.diffs && safe_file_names(&key) {
            let label = self.label(&path);
            self.current(&path)?
                .map(|c| unified_diff(Some(&c), None, &label))
        } else {
            None
        };
        Ok(Change {
            key,
            action: Action::Delete,
            project: e.project.clone(),
            source: e.source.clone(),
            diff,
            desired: None,
            note: None,
        })
    }

    /// A path as shown in plans: relative to the target directory.
    fn label(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The projects a plan leaves to look at again: those with held deletions (they own more than
/// their group) or a conflict.
fn unsettled(plan: &Plan) -> std::collections::HashSet<Option<String>> {
    let held = plan.held.iter().flat_map(|h| &h.changes);
    let conflicts = plan.changes.iter().filter(|c| c.action == Action::Conflict);
    held.chain(conflicts).map(|c| c.project.clone()).collect()
}

impl DirectoryTarget {
    /// After a plan that writes nothing, which is not applied (a refresh): the directory holds
    /// each group the plan covered, as after an apply of it, so the next plan counts an
    /// untouched group unchanged without looking at its objects (see [`Memory`]), except the
    /// projects [`unsettled`] names. Without it, after a restart every refresh looked at every
    /// object until a commit was applied.
    pub fn hold_as_planned(&self, plan: &Plan) {
        if let Some(m) = &self.memory {
            m.applied(&unsettled(plan));
        }
    }

    /// Compares a rendered set with the files (see [`Self::plan_desired`]).
    pub fn plan(&self, desired: &RenderedSet) -> Result<Plan> {
        self.plan_desired(&Desired::from_set(desired.clone()))
    }

    /// Carries out a plan; `progress` is called after each object.
    pub fn apply(&self, plan: &Plan, progress: &mut dyn FnMut(&Change)) -> Result<ApplyReport> {
        self.clean_leftovers()?;
        let names = plan.changes.iter().map(|c| dir_name(&c.key.namespace));
        self.entries_not_links(names.chain([INVENTORY_FILE]))?;
        let mut report = ApplyReport::default();
        let mut unsettled = unsettled(plan);
        if plan.is_empty() && self.root.join(INVENTORY_FILE).exists() {
            report.unchanged = plan.len();
            if let Some(m) = &self.memory {
                m.applied(&unsettled);
            }
            return Ok(report);
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let old = self.inventory()?;
        let old_lines = self.memory.as_ref().and_then(|m| m.inventory_lines(&old));
        // Claim what is about to be written first: a crash then leaves nothing unowned. Not
        // needed when every object to write is owned already (updates only).
        let mut claimed: Vec<InventoryEntry> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .filter_map(|c| c.desired.as_ref())
            .filter(|o| owned_at(&old, &o.key_parts()).is_none())
            .map(InventoryEntry::from)
            .collect();
        if !claimed.is_empty() {
            sort_unique(&mut claimed);
            let (mut entries, mut from) = (Vec::new(), Vec::new());
            merge(
                old.objects.iter().enumerate(),
                claimed.iter(),
                &mut entries,
                &mut from,
            );
            let lines = InventoryLines::of(&entries, &from, old_lines.as_deref(), None);
            write_atomic(self.root.join(INVENTORY_FILE), &lines.text)?;
        }
        // Batches of files written at once, then reported one by one.
        for batch in write_batches(&plan.changes) {
            let mut written = self.write_objects(batch).into_iter();
            for c in batch {
                self.apply_change(c, &mut written, &mut report, &mut unsettled);
                progress(c);
            }
        }
        report.unchanged += plan.untouched;
        // What cubist owns now: what the plan did not name, as before, and what it wrote or
        // kept (conflicts are not cubist's; pruned objects are gone).
        let mut named: Vec<usize> = plan
            .changes
            .iter()
            .filter_map(|c| owned_at(&old, &c.key.key_parts()))
            .collect();
        named.sort_unstable();
        named.dedup();
        let mut written: Vec<InventoryEntry> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::Conflict)
            .filter_map(|c| c.desired.as_ref().map(InventoryEntry::from))
            .collect();
        sort_unique(&mut written);
        // The projects it lists then: those of the old one, less the entries the plan named,
        // plus those it wrote.
        let projects = (self.memory.as_ref()).map(|m| m.projects_after(&old, &named, &written));
        // The old entries are moved, not copied, once the memory lets go of its copy (the
        // inventory is written again just below), into the buffers of the one before.
        let spare = self.memory.as_ref().map(Memory::forget_inventory);
        let (mut entries, reuse) = spare.flatten().unwrap_or_default();
        entries.clear();
        let mut old_entries = Arc::unwrap_or_clone(old).objects;
        let kept = old_entries
            .drain(..)
            .enumerate()
            .filter(|(i, _)| named.binary_search(i).is_err());
        let mut from = Vec::new();
        merge(kept, written.into_iter(), &mut entries, &mut from);
        let old_lines = old_lines.and_then(|l| Arc::try_unwrap(l).ok());
        self.write_inventory(entries, &from, old_lines.as_ref(), reuse, projects)?;
        if let Some(m) = &self.memory {
            m.keep_spare(old_entries, old_lines);
            m.applied(&unsettled);
        }
        Ok(report)
    }
}

/// The text of an inventory as this process wrote it, and where each entry's line starts in it
/// (and, last, where the text ends): a later write copies the lines of the entries it keeps.
#[derive(Debug, Default)]
pub(super) struct InventoryLines {
    text: Vec<u8>,
    starts: Vec<usize>,
}

impl InventoryLines {
    /// The inventory of `entries` (sorted, one per key); an entry with an index in `from`
    /// (its place in the inventory `old` was written as) has its line copied from there. The
    /// buffers of `reuse` (an earlier inventory's) are written into, not allocated again: at
    /// thousands of projects they are megabytes, each page of which a fresh buffer faults in.
    fn of<T: Borrow<InventoryEntry>>(
        entries: &[T],
        from: &[Option<usize>],
        old: Option<&InventoryLines>,
        reuse: Option<InventoryLines>,
    ) -> InventoryLines {
        let InventoryLines {
            mut text,
            mut starts,
        } = reuse.unwrap_or_default();
        text.clear();
        starts.clear();
        // One object per line (a YAML flow mapping, written as JSON): quick to write for
        // thousands of objects, and a change shows as one changed line.
        text.reserve(64 + old.map_or(160 * entries.len(), |o| o.text.len()));
        text.extend_from_slice(b"# Objects cubist owns in this directory. Do not edit.\n");
        starts.reserve(entries.len() + 1);
        if entries.is_empty() {
            text.extend_from_slice(b"objects: []\n");
        } else {
            text.extend_from_slice(b"objects:\n");
            for (i, e) in entries.iter().enumerate() {
                starts.push(text.len());
                match from.get(i).copied().flatten().and_then(|i| old?.line(i)) {
                    Some(line) => text.extend_from_slice(line),
                    None => {
                        text.extend_from_slice(b"- ");
                        entry_json(e.borrow(), &mut text);
                        text.push(b'\n');
                    }
                }
            }
        }
        starts.push(text.len());
        InventoryLines { text, starts }
    }

    /// The line of entry `i`, `- ` and newline included.
    fn line(&self, i: usize) -> Option<&[u8]> {
        Some(&self.text[*self.starts.get(i)?..*self.starts.get(i + 1)?])
    }
}

/// Where `inventory` lists the object of key `parts`. Looked up by halves: an inventory is
/// sorted (cubist writes it so, and one written otherwise is sorted as read).
fn owned_at(inventory: &Inventory, parts: &[&str; 4]) -> Option<usize> {
    inventory
        .objects
        .binary_search_by(|e| e.key_parts().cmp(parts))
        .ok()
}

/// Sorts `entries`, keeping one per key (the first).
fn sort_unique(entries: &mut Vec<InventoryEntry>) {
    entries.sort();
    entries.dedup_by(|a, b| a.key_parts() == b.key_parts());
}

/// Appends the entries of `old` (sorted, with their indices) and `new` (sorted) to `out` in
/// order, and to `from` the index in `old` of each (`None` for a new one): one pass, where
/// sorting them again compared every entry.
fn merge<T: Borrow<InventoryEntry>>(
    old: impl Iterator<Item = (usize, T)>,
    new: impl Iterator<Item = T>,
    out: &mut Vec<T>,
    from: &mut Vec<Option<usize>>,
) {
    let (mut old, mut new) = (old.peekable(), new.peekable());
    out.reserve(old.size_hint().0 + new.size_hint().0);
    from.reserve(old.size_hint().0 + new.size_hint().0);
    loop {
        let newer = match (old.peek(), new.peek()) {
            (Some((_, o)), Some(n)) => n.borrow() < o.borrow(),
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (None, None) => break,
        };
        let (entry, index) = match newer {
            true => (new.next(), None),
            false => old.next().map_or((None, None), |(i, o)| (Some(o), Some(i))),
        };
        out.extend(entry);
        from.push(index);
    }
}

/// Appends the JSON of an inventory entry: what `serde_json::to_string` writes for it (tested),
/// without going through serde (an inventory is written again whole at every apply: 40,000
/// entries at 5,000 projects).
fn entry_json(e: &InventoryEntry, out: &mut Vec<u8>) {
    use crate::render::json_text::{write_map, write_str};
    let fields = [
        ("apiVersion", Some(&e.api_version)),
        ("kind", Some(&e.kind)),
        ("namespace", Some(&e.namespace)),
        ("name", Some(&e.name)),
        ("project", e.project.as_ref()),
        ("hash", Some(&e.hash)),
        ("source", Some(&e.source)),
    ];
    let present = fields.into_iter().filter_map(|(k, v)| Some((k, v?)));
    write_map(present, out, |v, out| write_str(v, out));
}

/// The inventory in `text` when it is laid out as [`DirectoryTarget::write_inventory`] writes
/// it (a comment, `objects:`, then one JSON object per line): read with a JSON parser. The YAML
/// parser took half the main thread's time of a `reconcile --once` with nothing new (500
/// projects). `None` for any other layout, which the YAML parser reads (or rejects).
fn inventory_lines(text: &str) -> Option<Inventory> {
    let mut lines = text.lines().skip_while(|l| l.starts_with('#'));
    if lines.next()? != "objects:" {
        return None;
    }
    let objects = lines
        .map(|l| {
            let json = l.strip_prefix("- ").filter(|j| j.starts_with('{'))?;
            serde_json::from_str(json).ok()
        })
        .collect::<Option<Vec<InventoryEntry>>>()?;
    // An empty list is written `objects: []`: `objects:` alone is not this layout.
    (!objects.is_empty()).then_some(Inventory { objects })
}

/// True when carrying out `c` writes its object's file (a create or update of a plain name).
fn writes_file(c: &Change) -> bool {
    safe_file_names(&c.key) && matches!(c.action, Action::Create | Action::Update)
}

/// The directory of a namespace's files: the namespace, or `_cluster` for cluster objects.
fn dir_name(namespace: &str) -> &str {
    if namespace.is_empty() {
        "_cluster"
    } else {
        namespace
    }
}

/// `changes` cut in runs that each write [`WRITE_BATCH`] files (the last one fewer): an apply
/// that leaves most objects unchanged still writes its files many at once.
fn write_batches(changes: &[Change]) -> impl Iterator<Item = &[Change]> {
    let mut rest = changes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .enumerate()
            .filter(|(_, c)| writes_file(c))
            .nth(WRITE_BATCH - 1)
            .map_or(rest.len(), |(i, _)| i + 1);
        let (batch, tail) = rest.split_at(end);
        rest = tail;
        Some(batch)
    })
}

/// True when an object's namespace and name are safe as file names (see [`plain_name`]), so
/// that its file stays in its namespace directory of the target.
fn safe_file_names(key: &ObjectKey) -> bool {
    [key.namespace.as_str(), key.name.as_str(), key.kind.as_str()]
        .into_iter()
        .all(plain_name)
        && key.api_version.matches('/').count() <= 1
}

/// True for a name that stays one path component: no separator, not `.` or `..`.
fn plain_name(n: &str) -> bool {
    !n.contains(['/', '\\', '\0']) && !matches!(n, "." | "..")
}

/// The text of the file at `path`, `None` when there is none.
fn read(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The object of a file's text, `None` when it holds none.
fn parse_object(path: &Path, text: &str) -> Option<serde_json::Value> {
    parse_documents(&path.display().to_string(), text)
        .ok()
        .and_then(|d| d.into_iter().next().map(|n| n.json))
}

/// The metadata of the file at `path`, `None` when there is none.
fn stat(path: &Path) -> Result<Option<std::fs::Metadata>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// How the names of [`write_atomic`]'s temporary files begin.
pub const TEMP_PREFIX: &str = ".cubist-tmp";

/// Writes a file through a temporary file in its directory, synced to disk before it replaces
/// the file: readers see the old or the new content, never a mix, even after a crash. Returns
/// the file's metadata once in place (taken from the open file, after the rename, which
/// changes its ctime), as `stat` of `path` would give it.
pub fn write_atomic(
    path: impl AsRef<Path>,
    content: impl AsRef<[u8]>,
) -> Result<std::fs::Metadata> {
    let path = path.as_ref();
    let dir = path.parent().context("path has a parent")?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    // The directory is created when the temporary file cannot be: most files of an apply go
    // to a directory that is there, and asking first cost a `stat` each.
    let tmp = match builder.tempfile_in(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            builder.tempfile_in(dir)
        }
        made => made,
    };
    let mut tmp = tmp.with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, content.as_ref())?;
    tmp.as_file().sync_all()?;
    let file = tmp
        .persist(path)
        .map_err(|e| anyhow::anyhow!("cannot replace {}: {}", path.display(), e.error))?;
    Ok(file.metadata()?)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir); // only succeeds when empty
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn desired() -> RenderedSet {
        super::super::config_maps(&["a"])
    }

    /// Along applies that update, create and delete objects, the inventory written with the
    /// kept lines of the last one is the inventory serialised whole.
    #[test]
    fn an_inventory_written_from_kept_lines_is_the_serialised_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget::new(dir.path().join("t")).with_memory(Memory::default());
        let steps: [(&[&str], usize); 6] = [
            (&["a", "b", "c"], 0),
            (&["a", "b", "c"], 1),
            (&["a", "c", "d", "e"], 2),
            (&["a", "c", "d", "e"], 3),
            (&["d"], 0),
            (&[], 0),
        ];
        for (i, (names, round)) in steps.into_iter().enumerate() {
            let mut set = crate::targets::config_maps(names);
            for o in set.objects.iter_mut().filter(|o| o.key().name == "c") {
                let mut body = o.body.to_value();
                body["data"]["k"] = format!("v{round}").into();
                o.hash = crate::render::hash::content_hash(&body);
                o.body = body.into();
            }
            let plan = target.plan(&set).unwrap();
            target.apply(&plan, &mut |_| {}).unwrap();
            let written = std::fs::read(dir.path().join("t").join(INVENTORY_FILE)).unwrap();
            let inventory = target.inventory().unwrap();
            assert_eq!(inventory.objects.len(), names.len(), "step {i}");
            let whole = match inventory.objects.is_empty() {
                true => {
                    "# Objects cubist owns in this directory. Do not edit.\nobjects: []\n".into()
                }
                false => whole_inventory(&inventory.objects),
            };
            assert_eq!(String::from_utf8(written).unwrap(), whole, "step {i}");
        }
    }

    /// The serialised inventory of `entries`, as a write without kept lines makes it.
    fn whole_inventory(entries: &[InventoryEntry]) -> String {
        let mut whole =
            "# Objects cubist owns in this directory. Do not edit.\nobjects:\n".to_string();
        for e in entries {
            whole += &format!("- {}\n", serde_json::to_string(e).unwrap());
        }
        whole
    }

    /// An inventory written out of order (by hand) is read sorted: every object it lists is
    /// still found owned.
    #[test]
    fn an_unsorted_inventory_still_owns_its_objects() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget::new(dir.path().join("t"));
        let set = crate::targets::config_maps(&["a", "b", "c", "d"]);
        target
            .apply(&target.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        let path = dir.path().join("t").join(INVENTORY_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let (head, lines) = text.split_once("objects:\n").unwrap();
        let reversed: Vec<&str> = lines.lines().rev().collect();
        std::fs::write(&path, format!("{head}objects:\n{}\n", reversed.join("\n"))).unwrap();
        let plan = target.plan(&set).unwrap();
        assert!(
            plan.changes.iter().all(|c| c.action == Action::Unchanged),
            "{:?}",
            plan.changes.iter().map(|c| c.action).collect::<Vec<_>>()
        );
    }

    /// Kept entries merged with new ones keep their places and their lines.
    #[test]
    fn kept_lines_go_to_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::default();
        let target = DirectoryTarget::new(dir.path().join("t")).with_memory(memory.clone());
        std::fs::create_dir_all(dir.path().join("t")).unwrap();
        let entry = |name: &str, hash: &str| InventoryEntry {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
            project: Some("p".into()),
            hash: hash.into(),
            source: format!("projects/p/{name}.yaml"),
        };
        let first = ["b", "d", "f"].map(|n| entry(n, "h1")).to_vec();
        target
            .write_inventory(first, &[], None, None, None)
            .unwrap();
        let old = target.inventory().unwrap();
        let lines = memory
            .inventory_lines(&old)
            .expect("written by this process");
        // b dropped, d and f kept (old indices 1 and 2), a new, e new.
        let kept = old
            .objects
            .iter()
            .cloned()
            .enumerate()
            .filter(|(i, _)| *i != 0);
        let new = [entry("a", "h2"), entry("e", "h2")];
        let (mut next, mut from) = (Vec::new(), Vec::new());
        merge(kept, new.into_iter(), &mut next, &mut from);
        assert_eq!(from, vec![None, Some(1), None, Some(2)]);
        // Written into the buffers of another inventory, which leave nothing behind.
        let reuse = InventoryLines::of(&[entry("z", "h9")], &[], None, None);
        target
            .write_inventory(next, &from, Some(&lines), Some(reuse), None)
            .unwrap();
        let written = std::fs::read_to_string(dir.path().join("t").join(INVENTORY_FILE)).unwrap();
        let want =
            ["a", "d", "e", "f"].map(|n| entry(n, if n == "a" || n == "e" { "h2" } else { "h1" }));
        assert_eq!(written, whole_inventory(&want));
    }

    #[test]
    fn an_inventory_line_is_what_serde_json_writes() {
        let hostile = [
            "",
            "plain",
            "quote \" and \\ back",
            "tab\tnew\nline\u{1}",
            "ünï 雪 \u{7f}",
        ];
        for (i, s) in hostile.iter().enumerate() {
            let e = InventoryEntry {
                api_version: s.to_string(),
                kind: format!("K{s}"),
                namespace: hostile[(i + 1) % hostile.len()].to_string(),
                name: format!("{s}n"),
                project: (i % 2 == 0).then(|| s.to_string()),
                hash: format!("sha256:{s}"),
                source: hostile[(i + 2) % hostile.len()].to_string(),
            };
            let mut line = Vec::new();
            entry_json(&e, &mut line);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                serde_json::to_string(&e).unwrap()
            );
        }
    }

    /// The metadata `write_atomic` returns is what `stat` of the file gives after it: the
    /// memory's stamps are taken from it.
    #[test]
    fn write_atomic_returns_the_files_stat() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns/a.yaml");
        for content in ["first\n", "second, longer\n"] {
            let got = write_atomic(&path, content).unwrap();
            let stat = std::fs::metadata(&path).unwrap();
            let stamp = |m: &std::fs::Metadata| {
                (
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                    m.ino(),
                )
            };
            assert_eq!(stamp(&got), stamp(&stat), "{content:?}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        }
    }

    /// Objects whose namespace directory is missing are planned as creates without a look at
    /// their files; in a directory that exists, each file is still compared: a file cubist
    /// did not write is a conflict, and one removed by hand is created again.
    #[test]
    fn a_missing_directory_makes_creates_and_a_present_one_is_compared() {
        let (_dir, _memory, target) = remembering();
        let mut set = desired();
        let mut other = super::super::config_maps(&["b", "c"]);
        for o in &mut other.objects {
            let mut body = o.body.to_value();
            body["metadata"]["namespace"] = "elsewhere".into();
            o.hash = crate::render::hash::content_hash(&body);
            o.body = body.into();
        }
        set.objects.extend(other.objects);
        let plan = target.plan(&set).unwrap();
        assert_eq!(plan.count(Action::Create), 3, "nothing exists yet");
        target.apply(&plan, &mut |_| {}).unwrap();
        // A hand-made file beside cubist's in one directory; the other directory removed.
        let key = |name: &str, ns: &str| ObjectKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: ns.into(),
            name: name.into(),
        };
        let a = target.path_of(&key("a", "ns"));
        std::fs::remove_file(&a).unwrap();
        std::fs::write(&a, "hand: made\n").unwrap();
        std::fs::remove_dir_all(target.root().join("elsewhere")).unwrap();
        let plan = target.plan(&set).unwrap();
        let action = |name: &str| {
            let c = plan.changes.iter().find(|c| c.key.name == name).unwrap();
            c.action
        };
        assert_eq!(action("b"), Action::Create, "its directory is gone");
        assert_eq!(action("c"), Action::Create, "its directory is gone");
        assert_eq!(
            action("a"),
            Action::Update,
            "its file is there, and compared"
        );
    }

    /// An object whose namespace is not a plain directory name is never looked for outside
    /// the target: a file planted where its path leads (`t/../outside/`) is not read (it would
    /// be a conflict), the object is planned as a create, and the apply refuses to write it.
    #[test]
    fn a_path_out_of_the_target_is_not_read_when_planning() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget::new(dir.path().join("t"));
        let mut set = desired();
        let mut body = set.objects[0].body.to_value();
        body["metadata"]["namespace"] = "../outside".into();
        set.objects[0].hash = crate::render::hash::content_hash(&body);
        set.objects[0].body = body.into();
        let planted = dir.path().join("outside/core_ConfigMap_a.yaml");
        std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::fs::create_dir_all(target.root()).unwrap();
        std::fs::write(
            &planted,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        let plan = target.plan(&set).unwrap();
        assert_eq!(
            plan.changes[0].action,
            Action::Create,
            "{:?}",
            plan.changes[0].note
        );
        let report = target.apply(&plan, &mut |_| {}).unwrap();
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(report.failed[0].1.contains("not a plain file name"));
        assert_eq!(
            std::fs::read_to_string(&planted).unwrap(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        );
    }

    /// A target in `<tempdir>/t` with a memory, planning without diffs, as the loop's.
    fn remembering() -> (tempfile::TempDir, Memory, DirectoryTarget) {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::default();
        let target = DirectoryTarget::new(dir.path().join("t"))
            .with_memory(memory.clone())
            .without_diffs();
        (dir, memory, target)
    }

    /// A target in `<tempdir>/t` (without a memory) that [`desired`] was applied to.
    fn applied() -> (tempfile::TempDir, DirectoryTarget, RenderedSet) {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget::new(dir.path().join("t"));
        let set = desired();
        target
            .apply(&target.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        (dir, target, set)
    }

    /// The inventory an apply rewrites is not a leftover temporary file: the next apply does
    /// not list every namespace directory for leftovers because of it. Before, any file of
    /// cubist's own that was touched and still there (the inventory always is) counted as one.
    #[test]
    fn a_rewritten_inventory_is_not_a_leftover() {
        let (_dir, memory, target) = remembering();
        let mut set = desired();
        target
            .apply(&target.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        // A second object: the apply writes its file and the inventory again.
        let mut second = set.objects[0].clone();
        let mut body = second.body.to_value();
        body["metadata"]["name"] = "b".into();
        second.hash = content_hash(&body);
        second.body = body.into();
        set.objects.push(second);
        target
            .apply(&target.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        // Then the first object's file is replaced: once a plan sees that, the watch has
        // reported everything before it, the inventory's rewrite included.
        let file = target.path_of(&set.objects[0].key());
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("k: v", "k: w");
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, text).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while target.plan(&set).unwrap().changes[0].action != Action::Update {
            assert!(
                std::time::Instant::now() < deadline,
                "the watch saw the edit"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(memory.no_leftovers(), "the inventory counted as a leftover");
    }

    /// The inventory file as cubist writes it is read line by line, to the same inventory
    /// the YAML parser reads; any other layout is left to the YAML parser.
    #[test]
    fn the_inventory_is_read_by_lines_as_written_and_by_yaml_otherwise() {
        let (dir, target, _) = applied();
        let text = std::fs::read_to_string(dir.path().join("t").join(INVENTORY_FILE)).unwrap();
        let by_lines = inventory_lines(&text).expect("the written layout");
        let docs = parse_documents(INVENTORY_FILE, &text).unwrap();
        let by_yaml: Inventory = serde_json::from_value(docs[0].json.clone()).unwrap();
        assert_eq!(by_lines, by_yaml);
        assert_eq!(by_lines.objects.len(), 1);
        assert_eq!(*target.inventory().unwrap(), by_yaml);
        // Other layouts: block style, an empty list, a line that is YAML but not JSON.
        let entry = &by_yaml.objects[0];
        let block = format!(
            "objects:\n- apiVersion: v1\n  kind: ConfigMap\n  namespace: ns\n  name: {}\n  hash: {}\n",
            entry.name, entry.hash
        );
        let not_json = text.replace("{\"apiVersion\":\"v1\"", "{apiVersion: v1");
        assert_ne!(not_json, text);
        for other in [block.as_str(), "objects: []\n", not_json.as_str()] {
            assert_eq!(inventory_lines(other), None, "{other}");
            std::fs::write(dir.path().join("t").join(INVENTORY_FILE), other).unwrap();
            let read = DirectoryTarget::new(dir.path().join("t"))
                .inventory()
                .unwrap();
            let want = if other.contains("[]") { 0 } else { 1 };
            assert_eq!(read.objects.len(), want, "{other}");
        }
    }

    /// Hostile inventory files (hand-edited, damaged) never panic the line reader: they are
    /// refused, and left to the YAML parser, which reports them.
    #[test]
    fn hostile_inventory_lines_are_refused() {
        let deep = format!(
            "objects:\n- {{\"a\":{}{}}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let cases = [
            "".to_string(),
            "objects:".to_string(),
            "objects:\n- {\n".to_string(),
            "objects:\n- {\"kind\": 1}\n".to_string(),
            "objects:\n-  {}\n".to_string(),
            "objects:\n\n".to_string(),
            "objects:\n- {\"apiVersion\":\"v1\",\"kind\":\"K\",\"name\":\"\\ud800\",\"hash\":\"h\"}\n".to_string(),
            deep,
            format!("objects:\n- {{\"name\":\"{}\"}}\n", "x".repeat(1 << 20)),
        ];
        for text in &cases {
            assert_eq!(inventory_lines(text), None, "{:.60}", text);
        }
    }

    /// An apply that leaves most objects unchanged writes its files [`WRITE_BATCH`] at a
    /// time (in parallel), not a few per run of unchanged objects.
    #[test]
    fn write_batches_hold_a_batch_of_files_each() {
        let object = &desired().objects[0];
        let change = |i: usize| Change {
            key: object.key(),
            action: if i.is_multiple_of(7) {
                Action::Update
            } else {
                Action::Unchanged
            },
            project: object.project.clone(),
            source: object.source.clone(),
            diff: None,
            desired: Some(object.clone()),
            note: None,
        };
        let changes: Vec<Change> = (0..1000).map(change).collect();
        let batches: Vec<&[Change]> = write_batches(&changes).collect();
        let writes = |b: &[Change]| b.iter().filter(|c| writes_file(c)).count();
        let counts: Vec<usize> = batches.iter().map(|b| writes(b)).collect();
        assert_eq!(counts, [64, 64, 15], "{} updates", writes(&changes));
        let lengths: usize = batches.iter().map(|b| b.len()).sum();
        assert_eq!(lengths, changes.len(), "every change, once, in order");
        let ends = |b: &&[Change]| b.last().is_some_and(writes_file);
        assert!(
            batches[..2].iter().all(ends),
            "a full batch ends with its last write"
        );
        assert_eq!(write_batches(&[]).count(), 0);
    }

    /// A file written less than a second ago (its stamp not trusted yet) is read again: when
    /// its bytes are the ones cubist wrote it is unchanged without being parsed; when they
    /// differ it is parsed, and only a different object is an update.
    /// After a restart (a new memory), a plan that finds nothing to write and is held as
    /// planned lets the next plan count every untouched group unchanged without looking at its
    /// objects; a file edited by hand since is still seen. Before, every refresh after a
    /// restart looked at every object until a commit was applied.
    #[test]
    fn a_plan_held_as_planned_lets_the_next_plan_skip_untouched_groups() {
        let (dir, _, first) = remembering();
        let set = super::super::config_maps(&["a", "b"]);
        first
            .apply(&first.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        let desired = Desired::from_set(set.clone());
        let target = DirectoryTarget::new(dir.path().join("t"))
            .with_memory(Memory::default())
            .without_diffs();
        let plan = target.plan_desired(&desired).unwrap();
        assert_eq!(
            (plan.untouched, plan.changes.len()),
            (0, 2),
            "a new watch trusts nothing"
        );
        let again = target.plan_desired(&desired).unwrap();
        assert_eq!(again.untouched, 0, "not held as planned: looked at again");
        target.hold_as_planned(&again);
        let next = target.plan_desired(&desired).unwrap();
        assert_eq!((next.untouched, next.changes.len()), (2, 0));
        let file = target.path_of(&set.objects[1].key());
        let edited = std::fs::read_to_string(&file)
            .unwrap()
            .replace("k: v", "k: w");
        std::fs::write(&file, edited).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let actions = loop {
            let plan = target.plan_desired(&desired).unwrap();
            let got: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
            if !got.is_empty() || std::time::Instant::now() > deadline {
                break got;
            }
            target.hold_as_planned(&plan);
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(actions.contains(&Action::Update), "{actions:?}");
    }

    /// The projects `inventory` lists, counted from its entries.
    fn counted(inventory: &Inventory) -> memory::Projects {
        let mut counted = memory::Projects::new();
        for e in &inventory.objects {
            *counted.entry(e.project.clone()).or_default() += 1;
        }
        counted
    }

    /// The deletions a remembering target plans (matching inventory entries against the few
    /// projects that may lose objects, or a set of them when there are more) are those a
    /// target without a memory plans by walking its whole inventory.
    #[test]
    fn a_remembering_plan_deletes_what_a_whole_inventory_walk_does() {
        let (dir, memory, target) = remembering();
        let object = |project: usize, name: &str| {
            let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{name}-{project}"), "namespace": format!("ns{project}")}});
            crate::render::RenderedObject {
                hash: crate::render::hash::content_hash(&body),
                body: body.into(),
                project: Some(format!("p{project}")),
                source: format!("projects/p{project}/{name}.yaml"),
            }
        };
        let set = |drop_y: &[usize], gone: &[usize]| RenderedSet {
            cluster: "c".into(),
            objects: (0..8)
                .filter(|p| !gone.contains(p))
                .flat_map(|p| {
                    let y = (!drop_y.contains(&p)).then(|| object(p, "y"));
                    [Some(object(p, "x")), y]
                })
                .flatten()
                .collect(),
        };
        let deletions = |plan: &Plan| {
            let mut keys: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.action == Action::Delete)
                .map(|c| c.key.to_string())
                .collect();
            keys.sort();
            keys
        };
        let first = Desired::from_set(set(&[], &[]));
        target
            .apply(&target.plan_desired(&first).unwrap(), &mut |_| {})
            .unwrap();
        let walking = DirectoryTarget::new(dir.path().join("t")).without_diffs();
        let steps: [(&[usize], &[usize], usize); 4] = [
            (&[1], &[], 1),
            (&[0, 1, 2, 3, 4, 5], &[], 5),
            (&[0, 1, 2, 3, 4, 5], &[7], 2),
            (&[], &[], 0),
        ];
        for (drop_y, gone, expected) in steps {
            let desired = Desired::from_set(set(drop_y, gone));
            let plan = target.plan_desired(&desired).unwrap();
            let walked = walking.plan_desired(&desired).unwrap();
            assert_eq!(deletions(&plan), deletions(&walked), "{drop_y:?} {gone:?}");
            assert_eq!(deletions(&plan).len(), expected, "{:?}", deletions(&plan));
            target.apply(&plan, &mut |_| {}).unwrap();
            // The projects the apply derived for the inventory it wrote are its entries'.
            let inventory = target.inventory().unwrap();
            assert_eq!(*memory.inventory_projects(&inventory), counted(&inventory));
        }
    }

    /// Two projects rendering the same object (the plan names its inventory entry twice)
    /// leave the projects an apply derives for its inventory those of its entries.
    #[test]
    fn an_object_two_projects_render_is_counted_once() {
        let (_dir, memory, target) = remembering();
        let set = |value: &str| {
            // `p` renders a and b, `q` renders a too, and c.
            let mut set = super::super::config_maps(&["a", "b", "c"]);
            for i in [0, 2] {
                let mut of_q = set.objects[i].clone();
                of_q.project = Some("q".into());
                set.objects[i] = of_q;
            }
            let mut twin = set.objects[0].clone();
            twin.project = Some("p".into());
            set.objects.push(twin);
            for o in &mut set.objects {
                let mut body = o.body.to_value();
                body["data"]["k"] = value.into();
                o.hash = crate::render::hash::content_hash(&body);
                o.body = body.into();
            }
            Desired::from_set(set)
        };
        for value in ["v", "w", "x"] {
            let plan = target.plan_desired(&set(value)).unwrap();
            target.apply(&plan, &mut |_| {}).unwrap();
            let inventory = target.inventory().unwrap();
            let counted = counted(&inventory);
            assert_eq!(*memory.inventory_projects(&inventory), counted, "{value}");
        }
    }

    #[test]
    fn a_recent_file_is_judged_by_its_bytes_then_by_its_object() {
        let (_dir, _, target) = remembering();
        let set = desired();
        target
            .apply(&target.plan(&set).unwrap(), &mut |_| {})
            .unwrap();
        let file = target.path_of(&set.objects[0].key());
        let written = std::fs::read_to_string(&file).unwrap();
        // The file is replaced (a new inode: its stamp says it changed), then planned until
        // the plan says `want` (the watch sees the replacement on its own thread, and until
        // it does, the file counts as untouched) or 10 s pass.
        let planned = |text: &str, want: Action| {
            std::fs::remove_file(&file).unwrap();
            std::fs::write(&file, text).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let plan = target.plan(&set).unwrap();
                let got: Vec<Action> = plan.changes.iter().map(|c| c.action).collect();
                if got == [want] || std::time::Instant::now() > deadline {
                    return got;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        };
        let (same, update) = (Action::Unchanged, Action::Update);
        assert_eq!(planned(&written, same), [same], "the same bytes");
        let reformatted = format!("# a comment\n{written}");
        assert_eq!(planned(&reformatted, same), [same], "the same object");
        let edited = written.replace("k: v", "k: w");
        assert_ne!(edited, written);
        assert_eq!(planned(&edited, update), [update], "another object");
        assert_eq!(planned(&written, same), [same], "the same bytes again");
    }

    #[test]
    fn an_apply_deletes_the_temporary_files_a_crash_left_and_nothing_else() {
        let (dir, target, set) = applied();
        let clean = std::fs::read_dir(dir.path().join("t/ns")).unwrap().count();
        std::fs::write(
            dir.path().join("t").join(format!("{TEMP_PREFIX}x1")),
            "half",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t/ns").join(format!("{TEMP_PREFIX}x2")),
            "half",
        )
        .unwrap();
        std::fs::write(dir.path().join("t/ns/mine.txt"), "not cubist's").unwrap();
        let plan = target.plan(&set).unwrap();
        assert!(plan.is_empty());
        target.apply(&plan, &mut |_| {}).unwrap();
        let names = |d: &str| -> Vec<String> {
            std::fs::read_dir(dir.path().join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert!(
            !names("t").iter().any(|n| n.starts_with(TEMP_PREFIX)),
            "{:?}",
            names("t")
        );
        assert!(
            !names("t/ns").iter().any(|n| n.starts_with(TEMP_PREFIX)),
            "{:?}",
            names("t/ns")
        );
        assert_eq!(
            names("t/ns").len(),
            clean + 1,
            "only the temporary files went"
        );
    }

    #[test]
    fn a_confined_target_never_writes_through_a_link_out_of_its_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("rendered")).unwrap();
        let target =
            DirectoryTarget::new(root.path().join("rendered/local")).confined_to(root.path());
        let err = target.plan(&desired()).unwrap_err().to_string();
        assert!(err.contains("leads out of the target root"), "{err}");
        // Inside the target: a namespace directory that is a link.
        let target = DirectoryTarget::new(root.path().join("own")).confined_to(root.path());
        std::fs::create_dir(root.path().join("own")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("own/ns")).unwrap();
        let err = target.plan(&desired()).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(
            std::fs::read_dir(outside.path()).unwrap().count(),
            0,
            "nothing written outside"
        );
    }

    /// A namespace directory replaced by a link after the plan is refused by the apply; a link
    /// no plan goes through is left alone.
    #[test]
    fn an_apply_refuses_a_directory_that_became_a_link_after_the_plan() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let target = DirectoryTarget::new(root.path().join("own")).confined_to(root.path());
        std::fs::create_dir_all(root.path().join("own/ns")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("own/elsewhere")).unwrap();
        let plan = target.plan(&desired()).unwrap();
        assert!(!plan.changes.is_empty());
        std::fs::remove_dir(root.path().join("own/ns")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("own/ns")).unwrap();
        let err = target.apply(&plan, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
