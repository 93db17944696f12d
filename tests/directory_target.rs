//! The directory target end to end on a copy of `examples-repo`: first apply creates every
//! object and the inventory, a second apply changes nothing and rewrites no file, deleting a
//! pipeline prunes exactly its objects, files cubist does not own are never touched, hand edits
//! show up as an update with a diff, and no temporary file is ever left behind.

use cubist::render::{Blueprints, ObjectKey, RenderedSet, render};
use cubist::targets::directory::{DirectoryTarget, INVENTORY_FILE};
use cubist::targets::select::directory_target;
use cubist::targets::{Action, Plan};
use cubist_tests::corpus::copy_tree;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A copy of examples-repo in a tempdir, with the `local` cluster's directory target inside it.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo");
        copy_tree(&src, &dir.path().join("repo"));
        let cluster = dir.path().join("repo/clusters/local.yaml");
        let text = std::fs::read_to_string(&cluster).unwrap();
        assert!(
            text.contains("path: ../rendered/local"),
            "clusters/local.yaml changed shape:\n{text}"
        );
        std::fs::write(
            &cluster,
            text.replace("path: ../rendered/local", "path: ../out/local"),
        )
        .unwrap();
        Fixture { dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The target directory, spelt as cubist joins it (`<repo>/../out/local`).
    fn out(&self) -> PathBuf {
        self.repo().join("../out/local")
    }

    /// Loads and renders the repo; returns the local cluster's objects and its target.
    fn render(&self) -> (RenderedSet, DirectoryTarget) {
        let snapshot = cubist::source::snapshot_dir(&self.repo()).expect("snapshot");
        let (model, diags) = cubist::model::load(&snapshot);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let mut sets = render(&model, &Blueprints::embedded().unwrap()).unwrap();
        let target = directory_target(&self.repo(), &model.clusters["local"].spec)
            .expect("local has a directory target");
        (sets.remove("local").expect("local rendered"), target)
    }

    fn plan(&self) -> (RenderedSet, DirectoryTarget, Plan) {
        let (set, target) = self.render();
        let plan = target.plan(&set).expect("plan");
        (set, target, plan)
    }

    fn apply(&self) -> (RenderedSet, Plan, cubist::targets::ApplyReport) {
        let (set, target, plan) = self.plan();
        let mut seen = 0;
        let report = target.apply(&plan, &mut |_| seen += 1).expect("apply");
        assert!(
            seen == plan.changes.len() || plan.is_empty(),
            "progress called {seen} times for {} changes",
            plan.changes.len()
        );
        (set, plan, report)
    }
}

/// Every file under `root`: relative path → (inode, mtime in ns, content).
fn snapshot(root: &Path) -> BTreeMap<String, (u64, i128, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, i128, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let m = e.metadata().unwrap();
                let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, (m.ino(), mtime, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn keys(set: &RenderedSet) -> BTreeSet<ObjectKey> {
    set.objects.iter().map(|o| o.key()).collect()
}

/// The key of the first object of `kind`.
fn first_of(set: &RenderedSet, kind: &str) -> ObjectKey {
    set.objects
        .iter()
        .find(|o| o.body.value()["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
        .key()
}

/// The key of the recsys project's `daily-ranker` WorkflowTemplate.
fn daily_ranker(set: &RenderedSet) -> ObjectKey {
    set.objects
        .iter()
        .find(|o| {
            o.body.value()["kind"] == "WorkflowTemplate"
                && o.body.value()["metadata"]["name"] == "daily-ranker"
        })
        .expect("examples-repo renders daily-ranker")
        .key()
}

fn changes_of(plan: &Plan, action: Action) -> BTreeSet<ObjectKey> {
    plan.changes
        .iter()
        .filter(|c| c.action == action)
        .map(|c| c.key.clone())
        .collect()
}

/// No file in the target but the inventory and the files of inventory objects (plus `allowed`).
fn assert_only_owned_files(target: &DirectoryTarget, root: &Path, allowed: &[&str]) {
    let inventory = target.inventory().unwrap();
    let mut expected: BTreeSet<String> = inventory
        .objects
        .iter()
        .map(|e| {
            target
                .path_of(&ObjectKey::from(e))
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    expected.insert(INVENTORY_FILE.to_string());
    expected.extend(allowed.iter().map(|s| s.to_string()));
    let present: BTreeSet<String> = snapshot(root).into_keys().collect();
    let stray: Vec<_> = present.difference(&expected).collect();
    assert!(
        stray.is_empty(),
        "files nobody owns (temp files left behind?): {stray:?}"
    );
    let missing: Vec<_> = expected.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "inventory objects without a file: {missing:?}"
    );
}

#[test]
fn first_apply_creates_everything_second_changes_nothing() {
    let f = Fixture::new();
    let (set, target, plan) = f.plan();
    let n = set.objects.len();
    assert!(n > 40, "only {n} objects for local");
    assert_eq!(
        plan.count(Action::Create),
        n,
        "a fresh target: every object is a create"
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.diff.as_deref().is_some_and(|d| d.contains("+kind: "))),
        "creates carry a diff"
    );
    assert!(!f.out().exists(), "plan must not write");

    let (_, _, report) = f.apply();
    assert_eq!(
        (
            report.created,
            report.updated,
            report.deleted,
            report.failed.len()
        ),
        (n, 0, 0, 0),
        "{report:?}"
    );
    let inventory = target.inventory().unwrap();
    assert_eq!(inventory.objects.len(), n);
    let hashes: BTreeMap<ObjectKey, &str> = set
        .objects
        .iter()
        .map(|o| (o.key(), o.hash.as_str()))
        .collect();
    for e in &inventory.objects {
        assert_eq!(
            Some(&e.hash.as_str()),
            hashes.get(&ObjectKey::from(e)),
            "{e:?}"
        );
        assert!(e.project.is_some() && !e.source.is_empty(), "{e:?}");
    }
    for o in &set.objects {
        let text = std::fs::read_to_string(target.path_of(&o.key())).unwrap();
        assert_eq!(
            text,
            cubist::render::yaml_out::to_yaml(o.body.value()),
            "{} on disk is not its rendered YAML",
            o.key()
        );
    }
    assert_only_owned_files(&target, &f.out(), &[]);

    // Second round: nothing to do, and nothing is rewritten (same inode, mtime and bytes).
    let before = snapshot(&f.out());
    let (_, _, plan) = f.plan();
    assert!(
        plan.is_empty(),
        "second plan: {}",
        cubist::report::plan::counts(&plan)
    );
    assert_eq!(plan.count(Action::Unchanged), n);
    let (_, _, report) = f.apply();
    assert!(report.is_noop(), "{report:?}");
    assert_eq!(report.unchanged, n);
    assert!(before == snapshot(&f.out()), "a no-op apply rewrote files");
}

#[test]
fn deleting_a_pipeline_prunes_exactly_its_objects() {
    let f = Fixture::new();
    let (before_set, _, _) = f.apply();
    let before = snapshot(&f.out());

    // daily-ranker's WorkflowTemplate, and its two Runs make 15 Workflows (`cubist apply` writes
    // a Run's Workflows; scheduled runs are the loop's run controller's).
    let repo = f.repo();
    for file in [
        "projects/recsys/pipelines/daily-ranker.yaml",
        "projects/recsys/runs/backfill-2026-11.yaml",
        "projects/recsys/runs/rerun-2026-11-20.yaml",
    ] {
        std::fs::remove_file(repo.join(file)).unwrap();
    }
    let (after_set, target, plan) = f.plan();
    let gone: BTreeSet<ObjectKey> = keys(&before_set)
        .difference(&keys(&after_set))
        .cloned()
        .collect();
    let expected: BTreeSet<ObjectKey> = before_set
        .objects
        .iter()
        .filter(|o| o.body.value()["metadata"]["namespace"] == "recsys")
        .filter(|o| {
            let name = o.body.value()["metadata"]["name"].as_str().unwrap();
            match o.body.value()["kind"].as_str().unwrap() {
                "WorkflowTemplate" => name == "daily-ranker",
                "Workflow" => name.starts_with("daily-ranker-"),
                _ => false,
            }
        })
        .map(|o| o.key())
        .collect();
    assert_eq!(
        expected.iter().filter(|k| k.kind == "Workflow").count(),
        15,
        "{expected:?}"
    );
    assert!(expected.iter().any(|k| k.kind == "WorkflowTemplate"));
    assert_eq!(gone, expected, "the render lost other objects too");
    assert_eq!(changes_of(&plan, Action::Delete), expected, "plan deletes");
    // pipeline-runner's Role follows the workflows: daily-ranker was recsys's only pipeline
    // with Volcano and XGBoostJob steps, so those grants go. Everything else is unchanged.
    let runner_role = ObjectKey {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: "Role".into(),
        namespace: "recsys".into(),
        name: "pipeline-runner".into(),
    };
    assert_eq!(
        changes_of(&plan, Action::Update),
        BTreeSet::from([runner_role.clone()]),
        "plan updates"
    );
    assert_eq!(
        plan.count(Action::Unchanged),
        after_set.objects.len() - 1,
        "everything else is unchanged"
    );
    assert_eq!(plan.changes.len(), after_set.objects.len() + expected.len());
    let paths: BTreeSet<String> = expected
        .iter()
        .map(|k| {
            target
                .path_of(k)
                .strip_prefix(f.out())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();

    let (_, _, report) = f.apply();
    assert_eq!(
        (
            report.created,
            report.updated,
            report.deleted,
            report.failed.len()
        ),
        (0, 1, expected.len(), 0),
        "{report:?}"
    );
    let after = snapshot(&f.out());
    for (path, state) in &before {
        if path == INVENTORY_FILE {
            continue;
        }
        match after.get(path) {
            None => assert!(
                paths.contains(path),
                "{path} was deleted but is not daily-ranker's"
            ),
            Some(now) => {
                assert!(!paths.contains(path), "{path} should have been pruned");
                let role_path = target.path_of(&runner_role);
                let runner_role = role_path.strip_prefix(f.out()).unwrap().to_str();
                assert!(
                    now == state || Some(path.as_str()) == runner_role,
                    "{path} was rewritten"
                );
            }
        }
    }
    let inventory: BTreeSet<ObjectKey> = target
        .inventory()
        .unwrap()
        .objects
        .iter()
        .map(ObjectKey::from)
        .collect();
    assert_eq!(inventory, keys(&after_set));
    assert_only_owned_files(&target, &f.out(), &[]);
    assert!(f.plan().2.is_empty());
}

#[test]
fn files_cubist_does_not_own_are_never_touched() {
    let f = Fixture::new();
    let (set, target) = f.render();
    // Someone's file exactly where cubist wants to write the recsys ranker-v12 InferenceService...
    let taken = set
        .objects
        .iter()
        .find(|o| {
            o.body.value()["kind"] == "InferenceService"
                && o.body.value()["metadata"]["name"] == "ranker-v12"
        })
        .unwrap()
        .key();
    let taken_path = target.path_of(&taken);
    let rel_taken = taken_path
        .strip_prefix(f.out())
        .unwrap()
        .display()
        .to_string();
    std::fs::create_dir_all(taken_path.parent().unwrap()).unwrap();
    let theirs = "# hand-made, not cubist's\napiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: ranker-v12, namespace: recsys}\n";
    std::fs::write(&taken_path, theirs).unwrap();
    // ...and unrelated foreign files next to cubist's.
    std::fs::create_dir_all(f.out().join("recsys")).unwrap();
    std::fs::write(f.out().join("recsys/notes.txt"), "not a manifest").unwrap();
    std::fs::write(f.out().join("README.md"), "readme").unwrap();

    let plan = target.plan(&set).unwrap();
    assert_eq!(
        changes_of(&plan, Action::Conflict),
        BTreeSet::from([taken.clone()])
    );
    let conflict = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Conflict)
        .unwrap();
    assert!(
        conflict
            .note
            .as_deref()
            .is_some_and(|n| n.contains(&rel_taken)),
        "{conflict:?}"
    );
    assert_eq!(plan.count(Action::Create), set.objects.len() - 1);

    let (_, _, report) = f.apply();
    assert_eq!(report.created, set.objects.len() - 1);
    assert_eq!(
        report.failed.len(),
        1,
        "the conflict is reported: {report:?}"
    );
    assert!(
        report.failed[0]
            .0
            .to_string()
            .contains("InferenceService recsys/ranker"),
        "{report:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&taken_path).unwrap(),
        theirs,
        "a conflicting file was overwritten"
    );
    assert!(
        !target
            .inventory()
            .unwrap()
            .objects
            .iter()
            .any(|e| ObjectKey::from(e) == taken),
        "cubist claimed a file it did not write"
    );

    // Prune the whole recsys project's pipelines: foreign files survive, the conflict stays a conflict.
    for dir in ["pipelines", "runs"] {
        std::fs::remove_dir_all(f.repo().join("projects/recsys").join(dir)).unwrap();
    }
    let (_, _, report) = f.apply();
    assert!(report.deleted > 15, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(std::fs::read_to_string(&taken_path).unwrap(), theirs);
    assert_eq!(
        std::fs::read_to_string(f.out().join("recsys/notes.txt")).unwrap(),
        "not a manifest"
    );
    assert_eq!(
        std::fs::read_to_string(f.out().join("README.md")).unwrap(),
        "readme"
    );
    assert_only_owned_files(
        &target,
        &f.out(),
        &["README.md", "recsys/notes.txt", &rel_taken],
    );

    // Once the file is moved away, cubist creates the object and owns it.
    std::fs::remove_file(&taken_path).unwrap();
    let (_, plan, report) = f.apply();
    assert_eq!(
        changes_of(&plan, Action::Create),
        BTreeSet::from([taken.clone()])
    );
    assert_eq!((report.created, report.failed.len()), (1, 0));
    assert!(
        target
            .inventory()
            .unwrap()
            .objects
            .iter()
            .any(|e| ObjectKey::from(e) == taken)
    );
}

#[test]
fn a_hand_edit_is_planned_as_one_update_with_a_diff() {
    let f = Fixture::new();
    let (set, _, _) = f.apply();
    let (_, target) = f.render();
    let key = daily_ranker(&set);
    let path = target.path_of(&key);
    let rendered = std::fs::read_to_string(&path).unwrap();
    assert!(rendered.contains("\n  parallelism: 3\n"), "{rendered}");

    // A comment or re-indentation is not a change: the objects are compared, not the bytes.
    std::fs::write(&path, format!("# reviewed by bob\n{rendered}")).unwrap();
    assert!(f.plan().2.is_empty(), "a comment made the object differ");

    std::fs::write(
        &path,
        rendered.replace("\n  parallelism: 3\n", "\n  parallelism: 8\n"),
    )
    .unwrap();
    let (_, _, plan) = f.plan();
    assert_eq!(
        changes_of(&plan, Action::Update),
        BTreeSet::from([key.clone()])
    );
    assert_eq!(plan.count(Action::Unchanged), set.objects.len() - 1);
    let diff = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Update)
        .unwrap()
        .diff
        .clone()
        .expect("an update has a diff");
    assert!(
        diff.contains("-  parallelism: 8") && diff.contains("+  parallelism: 3"),
        "{diff}"
    );
    assert!(
        diff.contains("recsys/argoproj.io_WorkflowTemplate_daily-ranker.yaml"),
        "{diff}"
    );
    let text = cubist::report::plan::text(std::slice::from_ref(&plan), &[]);
    assert!(text.contains("created 0, changed 1, deleted 0"), "{text}");

    let (_, _, report) = f.apply();
    assert_eq!((report.created, report.updated, report.deleted), (0, 1, 0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        rendered,
        "apply restores the rendered object"
    );
    assert!(f.plan().2.is_empty());
    assert_only_owned_files(&target, &f.out(), &[]);
}

#[test]
fn a_deleted_file_or_a_corrupt_one_is_recreated() {
    let f = Fixture::new();
    let (set, _, _) = f.apply();
    let (_, target) = f.render();
    let ns = first_of(&set, "Namespace");
    let sa = first_of(&set, "ServiceAccount");
    std::fs::remove_file(target.path_of(&ns)).unwrap();
    std::fs::write(target.path_of(&sa), "{ not: [yaml").unwrap();
    let (_, _, plan) = f.plan();
    // An unreadable file cubist owns is planned as a create too (it is rewritten).
    assert_eq!(
        changes_of(&plan, Action::Create),
        BTreeSet::from([ns.clone(), sa.clone()]),
        "{}",
        cubist::report::plan::counts(&plan)
    );
    assert_eq!(plan.count(Action::Unchanged), set.objects.len() - 2);
    let (_, _, report) = f.apply();
    assert!(report.failed.is_empty());
    assert!(f.plan().2.is_empty());
    assert_only_owned_files(&target, &f.out(), &[]);
}

/// The loop's target remembers what it wrote (`Memory`): unchanged files are not read again,
/// yet a hand edit is still planned as an update, whether it happens before the directory is
/// watched (the file's stamp changed) or after (the watch saw it), even an edit that keeps the
/// file's size.
#[test]
fn a_remembering_target_still_sees_hand_edits() {
    use cubist::targets::memory::Memory;
    let f = Fixture::new();
    let memory = Memory::default();
    let plan = |memory: &Memory| {
        let (set, target) = f.render();
        let target = target.with_memory(memory.clone());
        let plan = target.plan(&set).expect("plan");
        (set, target, plan)
    };
    let (set, target, first) = plan(&memory);
    target.apply(&first, &mut |_| {}).expect("apply");
    let key = daily_ranker(&set);
    let path = target.path_of(&key);
    let rendered = std::fs::read_to_string(&path).unwrap();
    let edited = rendered.replace("\n  parallelism: 3\n", "\n  parallelism: 8\n");
    assert_eq!(edited.len(), rendered.len());

    // Edited before the first plan that watches: seen by its stamp.
    std::fs::write(&path, &edited).unwrap();
    let (_, _, p) = plan(&memory);
    assert_eq!(
        changes_of(&p, Action::Update),
        BTreeSet::from([key.clone()])
    );
    std::fs::write(&path, &rendered).unwrap();
    // Restored: unchanged, now and on the plans that trust the watch.
    for _ in 0..2 {
        assert!(plan(&memory).2.is_empty());
    }

    // Edited in place while watched, same size, within the same second: seen by the watch.
    // Its event is delivered by another thread, so wait for it (a plan never misses it later).
    std::fs::write(&path, &edited).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let updates = loop {
        let u = changes_of(&plan(&memory).2, Action::Update);
        if !u.is_empty() || std::time::Instant::now() > deadline {
            break u;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(updates, BTreeSet::from([key.clone()]));
    // Seen once is seen for good: the next plan reads the file again rather than trust a
    // stamp taken within the edit's timestamp tick.
    assert_eq!(
        changes_of(&plan(&memory).2, Action::Update),
        BTreeSet::from([key.clone()])
    );

    // A deleted file is recreated; applying restores everything.
    let ns = first_of(&set, "Namespace");
    std::fs::remove_file(target.path_of(&ns)).unwrap();
    let (_, target, p) = plan(&memory);
    assert_eq!(changes_of(&p, Action::Create), BTreeSet::from([ns]));
    assert_eq!(changes_of(&p, Action::Update), BTreeSet::from([key]));
    let report = target.apply(&p, &mut |_| {}).expect("apply");
    assert_eq!((report.created, report.updated), (1, 1));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), rendered);
    assert!(plan(&memory).2.is_empty());
    assert!(plan(&memory).2.is_empty());
}

/// While the watch is trusted and every project is unchanged, a plan does not walk the
/// inventory for objects to delete (the memory knows which projects it lists); a project gone
/// from the desired objects still has every one of its objects deleted, and only those.
#[test]
fn a_project_gone_while_the_watch_is_trusted_has_its_objects_deleted() {
    use cubist::targets::desired::Desired;
    use cubist::targets::memory::Memory;
    let f = Fixture::new();
    let (set, target) = f.render();
    let target = target.with_memory(Memory::default());
    let desired = Desired::from_set(set);
    let total = desired.len();
    let poll = |desired: &Desired| {
        let plan = target.plan_desired(desired).expect("plan");
        target.apply(&plan, &mut |_| {}).expect("apply");
        plan
    };
    assert_eq!(poll(&desired).count(Action::Create), total);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while poll(&desired).untouched != total {
        assert!(std::time::Instant::now() < deadline, "never trusted");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut fewer = desired.clone();
    let gone = fewer
        .projects
        .keys()
        .find(|p| p.is_some())
        .cloned()
        .expect("a project");
    let removed = std::sync::Arc::make_mut(&mut fewer.projects)
        .remove(&gone)
        .expect("its group")
        .len();
    assert!(removed > 0 && removed < total);
    let plan = poll(&fewer);
    assert_eq!(plan.count(Action::Delete), removed, "{gone:?}");
    assert_eq!(
        plan.untouched,
        total - removed,
        "the others are not looked at"
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == Action::Delete && c.project == gone)
    );
    let again = poll(&fewer);
    let writes = [Action::Create, Action::Update, Action::Delete].map(|a| again.count(a));
    assert_eq!(writes, [0, 0, 0], "deleted once");
}

/// The loop's polls on an unchanged revision (plan, then an apply that writes nothing) come to
/// trust the watch: every project counted unchanged without a look at its files, even though
/// each apply lists the target's directories (for leftovers) and someone reads the files. An
/// open or a read is no change; before, the directory's open event made the memory distrust
/// the watch on every poll, so each one stat'ed every file (issue #21: a no-change poll of 500
/// projects took 275 ms, not under 1 ms).
#[test]
fn reading_the_target_keeps_the_watch_trusted() {
    use cubist::targets::desired::Desired;
    use cubist::targets::memory::Memory;
    let f = Fixture::new();
    let (set, target) = f.render();
    let target = target.with_memory(Memory::default());
    let desired = Desired::from_set(set);
    let total = desired.len();
    let poll = || {
        let plan = target.plan_desired(&desired).expect("plan");
        target.apply(&plan, &mut |_| {}).expect("apply");
        plan
    };
    assert_eq!(poll().count(Action::Create), total);
    // Events reach the memory from another thread: poll until the apply's own are drained.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while poll().untouched != total {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch is never trusted again after an apply that wrote nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for entry in std::fs::read_dir(f.out()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for file in std::fs::read_dir(&path).unwrap() {
                std::fs::read_to_string(file.unwrap().path()).unwrap();
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..3 {
        let plan = poll();
        assert_eq!(
            (plan.untouched, plan.changes.len()),
            (total, 0),
            "reads are no change: the plan trusts the watch"
        );
    }
    // While trusted, an apply lists no directory for leftovers, yet one left meanwhile (by
    // another writer: cubist renames its own away) is seen by the watch and deleted.
    let namespace = std::fs::read_dir(f.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a namespace directory");
    let leftover = namespace.join(".cubist-tmp-left");
    std::fs::write(&leftover, "half").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while leftover.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "a temporary file left while watched is never deleted"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        poll();
    }
}
