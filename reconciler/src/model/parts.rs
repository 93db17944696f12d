//! A snapshot read in parts: each project directory `projects/<p>/` on its own, and the
//! platform (every other file). Read revision after revision, a project directory with the
//! same git tree id is taken over whole from the previous read (its files' documents, its
//! assembled project, its diagnostics), and a changed part reads again only the files whose
//! blob ids changed: a change to one project costs that project, not the repository.
//!
//! Parts do not overlap in what they can define: a project's kinds are placed only from its
//! directory (see `load::placed_right`), a project's name is its directory's, and clusters and
//! platform templates come only from outside `projects/`. So a part's duplicates and
//! missing-project errors are found within it, as in a read of the whole snapshot.

use super::assemble::{Typed, assemble};
use super::checks::Rejected;
use super::load::{FileRead, read_file};
use super::{Model, Project};
use crate::diag::{Diagnostic, project_dir};
use crate::source::{FileBody, Snapshot};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

/// Below this many files per thread, parsing stays on one thread.
const MIN_FILES_PER_THREAD: usize = 64;
/// Below this many parts per thread, assembling stays on one thread.
const MIN_PARTS_PER_THREAD: usize = 64;

/// What a snapshot update can have changed, from the paths it changed (see
/// `source::git_tree::Changed`).
pub enum Touched {
    /// Any part.
    All,
    /// Only these project directories.
    Projects(BTreeSet<String>),
}

impl Touched {
    /// The project directories touched, unless any part may have been.
    pub fn projects(&self) -> Option<&BTreeSet<String>> {
        match self {
            Touched::All => None,
            Touched::Projects(dirs) => Some(dirs),
        }
    }

    /// The parts that paths changed by a snapshot update belong to.
    pub fn of(changed: &[String]) -> Touched {
        let mut dirs = BTreeSet::new();
        for path in changed {
            match project_dir(path) {
                Some(dir) => {
                    dirs.insert(dir.to_string());
                }
                None => return Touched::All,
            }
        }
        Touched::Projects(dirs)
    }
}

/// Every part of one snapshot.
#[derive(Default)]
pub(super) struct Parts {
    platform: Arc<Part>,
    /// By project directory name.
    projects: BTreeMap<String, Arc<Part>>,
}

/// What one part's files yield, assembled.
#[derive(Default)]
struct Part {
    /// The project directory's git tree id; `None` for the platform, or read without ids.
    tree: Option<Oid>,
    /// Its files in path order: path, blob id (if read from git), what the file yields.
    files: Vec<PartFile>,
    /// For the platform: its platform, clusters and templates; for a project directory: the
    /// project, unless its Project manifest is missing or rejected.
    model: Model,
    /// The files' diagnostics and the assembly's (duplicates, missing project).
    diags: Vec<Diagnostic>,
    /// What the files failed to define (see [`Rejected`]).
    rejected_names: Vec<(Option<String>, Option<String>, String)>,
    rejected_files: Vec<String>,
}

/// A part's file: its path, its blob id (if read from git) and what it yields.
type PartFile = (String, Option<Oid>, Arc<FileRead>);

/// A file to assemble: its path and body, its blob id, and its read when found already.
type PendingFile<'a> = (&'a String, &'a FileBody, Option<Oid>, Option<Arc<FileRead>>);

/// A part to assemble: its project directory (`None` for the platform), its tree id, and its
/// files with the reads found so far (`None` until parsed).
type Pending<'a> = (Option<&'a str>, Option<Oid>, Vec<PendingFile<'a>>);

impl Parts {
    /// Reads `snapshot`, taking over from `previous` every project directory whose tree id is
    /// unchanged, the platform when none of its files changed, and every file whose blob id is.
    pub fn read(snapshot: &Snapshot, previous: &Parts) -> Parts {
        let mut kept: BTreeMap<String, Arc<Part>> = BTreeMap::new();
        let mut platform: Vec<(&String, &FileBody)> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut key = String::new();
        let mut files = snapshot.files.iter().peekable();
        while let Some((path, body)) = files.next() {
            let Some(dir) = project_dir(path) else {
                platform.push((path, body));
                continue;
            };
            key.clear();
            key.push_str("projects/");
            key.push_str(dir);
            key.push('/');
            let tree = snapshot.ids.get(&key).copied();
            let before = previous.projects.get(dir);
            if let Some(before) = before.filter(|b| tree.is_some() && b.tree == tree) {
                while files
                    .next_if(|(p, _)| p.starts_with(key.as_str()))
                    .is_some()
                {}
                kept.insert(dir.to_string(), before.clone());
                continue;
            }
            let mut part = vec![(path, body)];
            while let Some((p, b)) = files.next_if(|(p, _)| p.starts_with(key.as_str())) {
                part.push((p, b));
            }
            let files = with_reads(snapshot, part, before.map(|b| &b.files[..]));
            pending.push((Some(dir), tree, files));
        }
        let platform_files = with_reads(snapshot, platform, Some(&previous.platform.files));
        let platform_kept = !snapshot.ids.is_empty()
            && platform_files.len() == previous.platform.files.len()
            && platform_files.iter().all(|(_, _, _, read)| read.is_some());
        if !platform_kept {
            pending.push((None, None, platform_files));
        }
        let mut parts = Parts {
            platform: previous.platform.clone(),
            projects: kept,
        };
        parts.assemble(snapshot, pending);
        parts
    }

    /// Reads the parts `touched` names again, taking over the others from `self` (which must
    /// hold the snapshot that an update, touching them, turned into `snapshot`).
    pub fn update(&mut self, snapshot: &Snapshot, touched: &Touched) {
        let Touched::Projects(dirs) = touched else {
            *self = Parts::read(snapshot, self);
            return;
        };
        let mut pending: Vec<Pending> = Vec::new();
        for dir in dirs {
            let key = format!("projects/{dir}/");
            let files: Vec<(&String, &FileBody)> = snapshot
                .files
                .range::<str, _>((Bound::Included(key.as_str()), Bound::Unbounded))
                .take_while(|(path, _)| path.starts_with(key.as_str()))
                .collect();
            let before = self.projects.remove(dir.as_str());
            if files.is_empty() {
                continue; // the directory is gone, or holds no manifest
            }
            let tree = snapshot.ids.get(&key).copied();
            let files = with_reads(snapshot, files, before.as_ref().map(|b| &b.files[..]));
            pending.push((Some(dir.as_str()), tree, files));
        }
        self.assemble(snapshot, pending);
    }

    /// Parses what `pending` lacks, assembles each part (spread over the cores) and keeps it.
    fn assemble(&mut self, snapshot: &Snapshot, mut pending: Vec<Pending>) {
        parse_misses(&mut pending);
        let made = crate::par::map_in_runs(&pending, MIN_PARTS_PER_THREAD, |(dir, tree, files)| {
            (
                dir.map(str::to_string),
                Arc::new(assemble_part(snapshot, *tree, files)),
            )
        });
        for (dir, part) in made {
            match dir {
                Some(dir) => {
                    self.projects.insert(dir, part);
                }
                None => self.platform = part,
            }
        }
    }

    /// The model of every part (without a revision).
    pub fn model(&self) -> Model {
        let platform = &self.platform.model;
        Model {
            revision: None,
            platform: platform.platform.clone(),
            clusters: platform.clusters.clone(),
            templates: platform.templates.clone(),
            projects: self
                .projects
                .values()
                .flat_map(|part| &part.model.projects)
                .map(|(name, project)| (name.clone(), Arc::<Project>::clone(project)))
                .collect(),
        }
    }

    /// What every part failed to define.
    pub fn rejected(&self) -> Rejected {
        let parts = || std::iter::once(&self.platform).chain(self.projects.values());
        Rejected::new(
            parts()
                .flat_map(|p| p.rejected_names.iter().cloned())
                .collect(),
            parts()
                .flat_map(|p| p.rejected_files.iter().cloned())
                .collect(),
        )
    }

    /// Every part's diagnostics (unsorted).
    pub fn diags(&self) -> Vec<Diagnostic> {
        std::iter::once(&self.platform)
            .chain(self.projects.values())
            .flat_map(|p| p.diags.iter().cloned())
            .collect()
    }
}

/// `files` with their blob ids and, for each one `before` holds with the same id, its read.
fn with_reads<'a>(
    snapshot: &Snapshot,
    files: Vec<(&'a String, &'a FileBody)>,
    before: Option<&[PartFile]>,
) -> Vec<PendingFile<'a>> {
    let before = before.unwrap_or_default();
    files
        .into_iter()
        .map(|(path, body)| {
            let id = snapshot.ids.get(path).copied();
            let read = id.and_then(|id| {
                let at = before
                    .binary_search_by(|(p, _, _)| p.as_str().cmp(path))
                    .ok()?;
                let (_, had, read) = &before[at];
                (*had == Some(id)).then(|| read.clone())
            });
            (path, body, id, read)
        })
        .collect()
}

/// Parses every file of `pending` without a read, spread over the cores in contiguous runs of
/// paths (the result does not depend on the number of threads).
fn parse_misses(pending: &mut [Pending]) {
    let misses: Vec<(&String, &FileBody)> = pending
        .iter()
        .flat_map(|(_, _, files)| files)
        .filter(|(_, _, _, read)| read.is_none())
        .map(|(path, body, _, _)| (*path, *body))
        .collect();
    let fresh = crate::par::map_in_runs(&misses, MIN_FILES_PER_THREAD, |(path, body)| {
        read_file(path, body)
    });
    let mut fresh = fresh.into_iter();
    for (_, _, _, read) in pending
        .iter_mut()
        .flat_map(|(_, _, files)| files)
        .filter(|(_, _, _, read)| read.is_none())
    {
        *read = fresh.next().map(Arc::new);
    }
}

/// Merges a part's file reads in path order and assembles them.
fn assemble_part(snapshot: &Snapshot, tree: Option<Oid>, files: &[PendingFile]) -> Part {
    let mut part = Part {
        tree,
        ..Part::default()
    };
    let mut typed = Typed::default();
    for (path, _, id, read) in files {
        let read = read.clone().expect("every file read");
        typed.append(read.typed.clone());
        part.rejected_names
            .extend(read.rejected_names.iter().cloned());
        if read.rejected_file {
            part.rejected_files.push((*path).clone());
        }
        part.diags.extend(read.diags.iter().cloned());
        part.files.push(((*path).clone(), *id, read));
    }
    part.model = assemble(typed, snapshot, &mut part.diags);
    part
}

#[cfg(test)]
mod tests {
    use crate::diag::codes;
    use crate::model::check_cache::tests::{edited, with_ids};
    use crate::model::{Loader, Model, load};
    use crate::source::{FileBody, Snapshot, snapshot_dir};
    use std::path::Path;
    use std::sync::Arc;

    fn examples() -> Snapshot {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo");
        with_ids(snapshot_dir(&repo).unwrap())
    }

    fn with_file(base: &Snapshot, path: &str, text: Option<&str>) -> Snapshot {
        let mut s = Snapshot {
            ids: Default::default(),
            ..base.clone()
        };
        match text {
            Some(text) => s
                .files
                .insert(path.into(), FileBody::Bytes(text.as_bytes().into())),
            None => s.files.remove(path),
        };
        with_ids(s)
    }

    fn without_dir(base: &Snapshot, dir: &str) -> Snapshot {
        let mut s = Snapshot {
            ids: Default::default(),
            ..base.clone()
        };
        s.files.retain(|p, _| !p.starts_with(dir));
        with_ids(s)
    }

    /// Which projects of `now` are the very same value as in `before`.
    fn shared(before: &Model, now: &Model) -> Vec<String> {
        now.projects
            .iter()
            .filter(|(n, p)| before.projects.get(*n).is_some_and(|b| Arc::ptr_eq(b, p)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    #[test]
    fn revision_after_revision_reads_the_changed_parts_as_a_full_load_would() {
        let base = examples();
        let pipeline = "projects/recsys/pipelines/daily-ranker.yaml";
        let steps = [
            // One project's file: that project alone is assembled again.
            (
                edited(
                    &base,
                    pipeline,
                    "cron: \"0 2 * * *\"",
                    "cron: \"0 3 * * *\"",
                ),
                vec!["nlp", "vision"],
            ),
            // Its Project manifest gone: its other files are orphans.
            (
                with_file(&base, "projects/recsys/project.yaml", None),
                vec!["nlp", "vision"],
            ),
            (base.clone(), vec!["nlp", "vision"]),
            // A second Project document in a directory: a duplicate, the first kept.
            (
                with_file(
                    &base,
                    "projects/vision/project.yml",
                    Some(
                        "apiVersion: cubist.dev/v1alpha1\nkind: Project\nmetadata: {name: vision}\nspec: {displayName: again, members: [{user: zoe, role: admin}]}\n",
                    ),
                ),
                vec!["nlp", "recsys"],
            ),
            // A file in projects/ but in no project directory is the platform's.
            (
                with_file(
                    &base,
                    "projects/README.yaml",
                    Some("apiVersion: cubist.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: x}\n"),
                ),
                vec!["nlp", "recsys"],
            ),
            (
                without_dir(&base, "projects/nlp/"),
                vec!["recsys", "vision"],
            ),
            (base.clone(), vec!["recsys", "vision"]),
            // A platform file changed: every project is taken over (checked again, see
            // `check_cache`).
            (
                edited(&base, "clusters/local.yaml", "\n", "\n# changed\n"),
                vec!["nlp", "recsys", "vision"],
            ),
        ];
        let mut loader = Loader::default();
        let (mut before, first) = loader.load(&base);
        assert_eq!(first, load(&base).1);
        for (step, (snapshot, kept)) in steps.iter().enumerate() {
            let (model, diags) = loader.load(snapshot);
            let (full_model, full_diags) = load(snapshot);
            assert_eq!(diags, full_diags, "step {step}");
            assert_eq!(
                format!("{model:?}"),
                format!("{full_model:?}"),
                "step {step}"
            );
            assert_eq!(
                shared(&before, &model),
                *kept,
                "step {step}: projects taken over"
            );
            before = model;
        }
    }

    #[test]
    fn a_second_project_document_in_a_directory_is_a_duplicate() {
        let base = examples();
        let FileBody::Bytes(first) = &base.files["projects/vision/project.yaml"] else {
            panic!("vision's project.yaml has bytes");
        };
        let first = std::str::from_utf8(first).unwrap();
        let (_, display) = first.split_once("displayName: ").unwrap();
        let display = display.lines().next().unwrap();
        let again = first.replacen(display, "Another", 1);
        let with_again = with_file(&base, "projects/vision/project.yml", Some(&again));
        let (model, diags) = load(&with_again);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(
            (errors[0].code, errors[0].file.as_str(), errors[0].line),
            (codes::DUPLICATE_NAME, "projects/vision/project.yml", 4)
        );
        assert!(
            errors[0].message.contains("projects/vision/project.yaml"),
            "{}",
            errors[0].message
        );
        assert_ne!(
            model.projects["vision"]
                .manifest
                .spec
                .display_name
                .as_deref(),
            Some("Another")
        );
    }
}

#[cfg(test)]
mod since_tests {
    use crate::model::{Loader, load};
    use crate::source::git_tree::snapshot_into;
    use crate::source::{Snapshot, local::commit_directory};
    use crate::synth::{self, Shape, edit};
    use std::fs;

    #[test]
    fn a_load_told_what_changed_equals_a_full_load() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        synth::write(&Shape::small(), &src).unwrap();
        let projects = src.join("projects");
        type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
        let steps: Vec<Step> = vec![
            ("first", Box::new(|| {})),
            (
                "one pipeline",
                Box::new(|| {
                    edit(
                        &projects.join("team-0003/pipelines/pipeline-1.yaml"),
                        "parallelism: 2",
                        "parallelism: 3",
                    )
                }),
            ),
            (
                "a broken service",
                Box::new(|| {
                    edit(
                        &projects.join("team-0004/services/service-0.yaml"),
                        "target: 70",
                        "target: seventy",
                    )
                }),
            ),
            (
                "a project gone",
                Box::new(|| fs::remove_dir_all(projects.join("team-0005")).unwrap()),
            ),
            (
                "a quota gone",
                Box::new(|| fs::remove_file(projects.join("team-0006/quota.yaml")).unwrap()),
            ),
            (
                "a project copied",
                Box::new(|| {
                    let to = projects.join("team-0099/pipelines");
                    fs::create_dir_all(&to).unwrap();
                    let project =
                        fs::read_to_string(projects.join("team-0001/project.yaml")).unwrap();
                    fs::write(
                        projects.join("team-0099/project.yaml"),
                        project.replace("team-0001", "team-0099"),
                    )
                    .unwrap();
                    fs::copy(
                        projects.join("team-0001/pipelines/pipeline-0.yaml"),
                        to.join("p.yaml"),
                    )
                    .unwrap();
                }),
            ),
            (
                "a file beside the projects",
                Box::new(|| fs::write(projects.join("README.yaml"), "kind: Note\n").unwrap()),
            ),
            (
                "a platform template",
                Box::new(|| {
                    edit(
                        &src.join("templates/python.yaml"),
                        "required: [script]",
                        "required: [script, extra]",
                    )
                }),
            ),
            ("nothing", Box::new(|| {})),
        ];
        let cache = tmp.path().join("commits");
        let mut snap = Snapshot::default();
        let mut loader = Loader::default();
        for (step, change) in &steps {
            change();
            let repo = git2::Repository::open_bare(commit_directory(&src, &cache, "main").unwrap())
                .unwrap();
            let head = repo.refname_to_id("refs/heads/main").unwrap();
            let before = snap.revision.clone();
            let changed = snapshot_into(&repo, head, &mut snap).unwrap();
            let since = before.as_deref().map(|b| (b, &changed[..]));
            let (model, diags) = loader.load_since(&snap, since);
            let (full_model, full_diags) = load(&snap);
            assert_eq!(diags, full_diags, "{step}");
            assert_eq!(format!("{model:?}"), format!("{full_model:?}"), "{step}");
        }
        let errors = |s: &Snapshot| load(s).1.into_iter().filter(|d| d.is_error()).count();
        assert!(
            errors(&snap) > 0,
            "the broken service and the template change are errors"
        );
    }
}
