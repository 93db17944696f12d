//! Incremental reconciles on a synthetic repository of 10 projects in git: a project-local
//! change renders only that project, a template change re-checks and re-renders every project
//! that uses it (unchanged files come from the loader's cache, yet the semantic checks see the
//! new template), and the status commit keeps the trees of what did not change.

use cubist::diag::codes;
use cubist::reconcile::{Config, Outcome, Reconciler};
use cubist::synth::{self, Shape};
use cubist_tests::repo::{commit_all, edit, init_and_commit, read_dir_tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    rendered: PathBuf,
    rec: Reconciler,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        let shape = Shape {
            clusters: 1,
            ..Shape::small()
        };
        synth::write(&shape, &work).unwrap();
        init_and_commit(&work, "synthetic platform");
        let cfg = Config::local(&work, tmp.path().join("cache"));
        let rec = Reconciler::new(cfg).unwrap();
        Fixture {
            rendered: tmp.path().join("rendered/cluster-0"),
            _tmp: tmp,
            work,
            rec,
        }
    }

    fn commit_and_reconcile(&mut self, message: &str) -> Outcome {
        commit_all(&self.work, message);
        self.rec
            .poll()
            .expect("poll")
            .expect("a new revision is reconciled")
    }

    /// Rendered files by namespace directory (`_cluster` for cluster-scoped objects).
    /// The rendered object files by project; the run Workflows the controller wrote under
    /// `<project>/runs/` are runs already created, not objects, and are left out.
    fn rendered_by_project(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (path, text) in read_dir_tree(&self.rendered) {
            if let Some((ns, rest)) = path.split_once('/')
                && !rest.starts_with("runs/")
            {
                out.entry(ns.to_string()).or_default().insert(path, text);
            }
        }
        out
    }

    fn status_tree(&self) -> git2::Oid {
        let repo = self.rec.mirror().repo();
        let tip = repo.refname_to_id("refs/heads/cubist/status").unwrap();
        repo.find_commit(tip).unwrap().tree_id()
    }

    /// The tree id of a directory in the status branch.
    fn status_dir(&self, dir: &str) -> git2::Oid {
        let repo = self.rec.mirror().repo();
        let tree = repo.find_tree(self.status_tree()).unwrap();
        tree.get_path(Path::new(dir)).unwrap().id()
    }
}

/// Projects (`team-NNNN`) whose pipelines name `template` in a task.
fn users_of(work: &Path, template: &str) -> Vec<String> {
    let mut users = Vec::new();
    for entry in std::fs::read_dir(work.join("projects")).unwrap() {
        let dir = entry.unwrap().path();
        let uses = read_dir_tree(&dir.join("pipelines"))
            .values()
            .any(|text| text.contains(&format!("template: {template}\n")));
        if uses {
            users.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    users.sort();
    users
}

#[test]
fn project_change_renders_one_project_and_template_change_reaches_its_users() {
    let mut fx = Fixture::new();
    let first = fx.rec.poll().unwrap().expect("first reconcile");
    assert_eq!(
        (first.projects_rendered, first.projects_held.len()),
        (10, 0)
    );
    let before = fx.rendered_by_project();
    assert_eq!(
        before.keys().filter(|ns| ns.starts_with("team-")).count(),
        10,
        "one namespace directory per project (and `_cluster`)"
    );

    // A project-local change renders that project only; the others' files and status stay.
    let other_status = fx.status_dir("status/clusters/cluster-0/team-0001");
    edit(
        &fx.work.join("projects/team-0003/services/service-0.yaml"),
        "target: 70",
        "target: 75",
    );
    let o = fx.commit_and_reconcile("team-0003: autoscale at 75% cpu");
    assert_eq!(
        (o.projects_rendered, o.projects_skipped),
        (1, 9),
        "{:?}",
        o.diagnostics
    );
    let after = fx.rendered_by_project();
    for (project, files) in &after {
        if project == "team-0003" {
            assert_ne!(files, &before[project], "team-0003 re-rendered");
        } else {
            assert_eq!(files, &before[project], "{project} untouched");
        }
    }
    assert_eq!(
        fx.status_dir("status/clusters/cluster-0/team-0001"),
        other_status,
        "an unchanged project's status tree is kept as it was"
    );

    // A template gains a required parameter: every project using it is re-checked and held
    // (its own files are unchanged and come from the cache), the others proceed.
    let users = users_of(&fx.work, "mpijob");
    assert!(
        !users.is_empty() && users.len() < 10,
        "mpijob is used by some projects only: {users:?}"
    );
    let mpijob = fx.work.join("templates/mpijob.yaml");
    edit(&mpijob, "required: [script]", "required: [script, tier]");
    edit(
        &mpijob,
        "properties:\n",
        "properties:\n      tier: {type: string}\n",
    );
    let o = fx.commit_and_reconcile("mpijob: require a tier");
    assert_eq!(o.projects_held, users, "exactly the users are held");
    let args_errors: Vec<&str> = o
        .diagnostics
        .iter()
        .filter(|d| d.code == codes::ARGS)
        .map(|d| d.file.as_str())
        .collect();
    assert!(
        users.iter().all(|u| args_errors
            .iter()
            .any(|f| f.starts_with(&format!("projects/{u}/")))),
        "each user reports the missing argument: {args_errors:?}"
    );

    // Fixing the template re-renders every project that uses it with the new template.
    edit(&mpijob, "required: [script, tier]", "required: [script]");
    edit(&mpijob, "ml/mpijob:1.0", "ml/mpijob:2.0");
    let o = fx.commit_and_reconcile("mpijob: optional tier, image 2.0");
    assert!(o.projects_held.is_empty(), "{:?}", o.diagnostics);
    assert_eq!(o.projects_rendered, 10, "a platform change re-renders all");
    for (project, files) in fx.rendered_by_project() {
        let new_image = files.values().any(|t| t.contains("ml/mpijob:2.0"));
        assert_eq!(
            new_image,
            users.contains(&project),
            "{project}: the new image appears exactly in the users' objects"
        );
        assert!(!files.values().any(|t| t.contains("ml/mpijob:1.0")));
    }
}

/// A snapshot updated in place from one commit to the next holds exactly what a fresh snapshot
/// of the new commit holds: changed files read again, a deleted project and file gone, a new
/// directory read.
#[test]
fn a_snapshot_updated_in_place_equals_a_fresh_one() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    synth::write(&Shape::small(), &work).unwrap();
    let first = init_and_commit(&work, "synthetic platform");
    let mirror = cubist::source::git::GitMirror::open(
        &work.display().to_string(),
        &tmp.path().join("cache"),
    )
    .unwrap();
    mirror.fetch(&["main"]).unwrap();
    let mut snap = mirror
        .snapshot(git2::Oid::from_str(&first).unwrap())
        .unwrap();
    let projects: Vec<String> = std::fs::read_dir(work.join("projects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::remove_dir_all(work.join("projects").join(&projects[0])).unwrap();
    let kept = work.join("projects").join(&projects[1]);
    std::fs::remove_file(kept.join("project.yaml")).unwrap();
    std::fs::create_dir_all(kept.join("extra")).unwrap();
    std::fs::write(kept.join("extra/new.yaml"), "kind: Run\n").unwrap();
    let second = commit_all(&work, "remove a project, a file; add a directory");
    mirror.fetch(&["main"]).unwrap();
    let second = git2::Oid::from_str(&second).unwrap();
    mirror.update_snapshot(second, &mut snap).unwrap();
    let fresh = mirror.snapshot(second).unwrap();
    assert_eq!(snap.ids, fresh.ids);
    let paths = |s: &cubist::source::Snapshot| s.files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(paths(&snap), paths(&fresh));
    assert!(
        !snap
            .ids
            .keys()
            .any(|p| p.contains(&format!("/{}/", projects[0])))
    );
    assert_eq!(snap.revision, fresh.revision);
}
