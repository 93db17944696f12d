//! The prune guard end to end: the loop on a git remote holding a copy of examples-repo, its
//! `local` cluster written to a directory. A commit that removes a whole project, empties every
//! project or deletes more than the cluster's `pruneLimit` has its deletions held (the files
//! stay, the status says Held, what and how to allow) on later commits and after a restart,
//! until a `Cubist-Allow-Prune:` trailer allows them. `cubist apply` holds them too, unless
//! `--allow-prune`.

use cubist::reconcile::{Config, Outcome, Reconciler};
use cubist::report::status_branch::read_status;
use cubist::targets::guard::Held;
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::InventoryEntry;
use cubist_status_ui::doc::{ClusterStatus, SyncState};
use cubist_tests::corpus::copy_tree;
use cubist_tests::repo::{commit_all, cubist_binary, edit, git, init_and_commit, read_dir_tree};
use git2::Repository;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const STATUS: &str = "cubist/status";

/// A working clone pushing to a bare remote (`cfg.repo`) that the loop reconciles.
struct Fixture {
    cfg: Config,
    work: PathBuf,
    tmp: TempDir,
}

impl Fixture {
    /// A bare remote holding a copy of examples-repo on `main` (with `edit_first` applied to
    /// the working clone before the first commit), pushed from a working clone.
    fn new(edit_first: impl Fn(&Path)) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let remote = tmp.path().join("remote.git");
        let work = tmp.path().join("work");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let bare = ["init", "-q", "--bare", "-b", "main"];
        git(
            tmp.path(),
            &[&bare[..], &[remote.to_str().unwrap()]].concat(),
        );
        let (from, to) = (remote.to_str().unwrap(), work.to_str().unwrap());
        git(tmp.path(), &["clone", "-q", from, to]);
        git(&work, &["checkout", "-q", "-B", "main"]);
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
            &work,
        );
        edit_first(&work);
        let cfg = Config {
            // clusters/local.yaml says `../rendered/local`: lands in <tmp>/rendered/local.
            target_root: root,
            push_status: true,
            metrics: None,
            ..Config::local(&remote, tmp.path().join("cache"))
        };
        let fx = Fixture { cfg, work, tmp };
        fx.commit_push(&["initial platform"]);
        fx
    }

    /// A fixture (see [`Fixture::new`]) whose first commit is reconciled, with its loop.
    fn started(edit_first: impl Fn(&Path)) -> (Fixture, Reconciler) {
        let fx = Fixture::new(edit_first);
        let mut rec = Reconciler::new(fx.cfg.clone()).unwrap();
        poll(&mut rec);
        (fx, rec)
    }

    /// Commits everything (empty commits too) with one `-m` per paragraph, and pushes.
    fn commit_push(&self, paragraphs: &[&str]) {
        git(&self.work, &["add", "-A"]);
        let mut args = vec!["commit", "-q", "--allow-empty"];
        for p in paragraphs {
            args.extend(["-m", p]);
        }
        git(&self.work, &args);
        git(&self.work, &["push", "-q", "origin", "main"]);
    }

    /// Adds a comment line to the file at `rel` and commits it with `message`.
    fn touch(&self, rel: &str, message: &str) {
        edit(&self.work.join(rel), "apiVersion", "# touched\napiVersion");
        self.commit_push(&[message]);
    }

    fn remove(&self, rel: &str) {
        git(&self.work, &["rm", "-q", "-r", rel]);
    }

    fn rendered(&self) -> BTreeMap<String, String> {
        read_dir_tree(&self.tmp.path().join("rendered/local"))
    }

    fn status(&self) -> StatusTree {
        let repo = Repository::open_bare(&self.cfg.repo).unwrap();
        StatusTree::new(read_status(&repo, STATUS).unwrap())
    }

    fn local(&self) -> ClusterStatus {
        let summary = self.status().summary().unwrap().unwrap();
        summary
            .clusters
            .into_iter()
            .find(|c| c.name == "local")
            .expect("local in the summary")
    }
}

/// The deletions held on `local` by a reconcile.
fn held_on_local(o: &Outcome) -> Option<&Held> {
    o.clusters["local"].plan.as_ref()?.held.as_ref()
}

fn poll(r: &mut Reconciler) -> Outcome {
    r.poll().expect("poll succeeds").expect("a new revision")
}

/// Rendered files of project `p` (its namespace directory).
fn of_project(files: &BTreeMap<String, String>, p: &str) -> usize {
    files
        .keys()
        .filter(|k| k.starts_with(&format!("{p}/")))
        .count()
}

/// Removing a project's directory deletes all its objects: held (files stay, status Held with
/// what and how) on a later commit and after a restart, then allowed by a trailer commit.
#[test]
fn a_removed_project_is_held_until_a_trailer_allows_it() {
    let (fx, mut rec) = Fixture::started(|_| {});
    let before = fx.rendered();
    let nlp = of_project(&before, "nlp");
    assert!(nlp >= 10, "nlp rendered: {before:?}");
    assert_eq!(fx.local().state, SyncState::Synced);

    fx.remove("projects/nlp");
    fx.commit_push(&["drop nlp"]);
    let o = poll(&mut rec);
    let held = held_on_local(&o)
        .cloned()
        .expect("the deletion of nlp is held");
    assert!(held.changes.len() >= nlp, "{held:?}");
    assert_eq!(fx.rendered(), before, "nothing deleted");
    let local = fx.local();
    assert_eq!(local.state, SyncState::Held);
    let doc = local.held.expect("held in the summary");
    assert_eq!(doc.projects.keys().collect::<Vec<_>>(), vec!["nlp"]);
    assert!(
        doc.reasons[0].contains("project `nlp` would lose all"),
        "{doc:?}"
    );
    assert!(
        doc.allow
            .contains(&"Cubist-Allow-Prune: project/nlp".to_string())
    );
    assert!(doc.help.contains("pruneLimit: 100%"), "{}", doc.help);
    assert_eq!(local.counts.held, held.changes.len() as u64);
    let inventory: Vec<InventoryEntry> = fx.status().inventory("local").unwrap().unwrap().objects;
    let owned_nlp = inventory
        .iter()
        .filter(|e| e.project.as_deref() == Some("nlp"))
        .count();
    assert_eq!(owned_nlp, held.changes.len(), "still owned");
    let page = |path: &str| {
        let opts = cubist_status_ui::PageOptions::default();
        let now = std::time::SystemTime::now().into();
        cubist_status_ui::render_page(&fx.status(), path, now, &opts)
            .expect("page")
            .html
    };
    let html = page("/clusters/local");
    assert!(
        html.contains(r#"<span class="badge warn">Held</span>"#),
        "{html}"
    );
    assert!(html.contains("<strong>Deletions held:</strong>"), "{html}");
    assert!(html.contains("Cubist-Allow-Prune: project/nlp"), "{html}");
    assert!(
        html.contains("deletion is held by the prune guard"),
        "{html}"
    );
    assert!(page("/").contains("<strong>Deletions held:</strong>"));

    // A later commit without the trailer: still held.
    fx.touch("projects/vision/services/detector.yaml", "touch vision");
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_some());
    assert_eq!(of_project(&fx.rendered(), "nlp"), nlp);

    // A restart remembers: the inventory on the status branch and the target keep them owned.
    drop(rec);
    let mut rec = Reconciler::new(fx.cfg.clone()).unwrap();
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_some());
    assert_eq!(fx.local().state, SyncState::Held);
    assert_eq!(of_project(&fx.rendered(), "nlp"), nlp);

    // An allowance for another project does not do.
    fx.commit_push(&["not this one", "Cubist-Allow-Prune: project/vision"]);
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_some());

    fx.commit_push(&["really drop nlp", "Cubist-Allow-Prune: project/nlp"]);
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_none(), "{:?}", held_on_local(&o));
    assert_eq!(
        o.clusters["local"].report.as_ref().unwrap().deleted,
        held.changes.len()
    );
    assert_eq!(of_project(&fx.rendered(), "nlp"), 0);
    let local = fx.local();
    assert_eq!((local.state, local.held), (SyncState::Synced, None));
}

/// Removing every project is held; a trailer in an earlier commit of the same push allows it.
#[test]
fn emptying_every_project_is_held_and_allowed_by_a_trailer_in_the_push() {
    let (fx, mut rec) = Fixture::started(|_| {});
    let before = fx.rendered();
    fx.remove("projects");
    fx.commit_push(&["remove every project"]);
    let o = poll(&mut rec);
    let held = held_on_local(&o).cloned().expect("held");
    assert_eq!(held.by_project().len(), 3, "{:?}", held.by_project());
    assert_eq!(fx.rendered(), before);
    assert_eq!(fx.local().state, SyncState::Held);

    fx.commit_push(&["allow it", "Cubist-Allow-Prune: all"]);
    fx.touch("cubist.yaml", "a later commit");
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_none());
    let left: Vec<String> = fx
        .rendered()
        .into_keys()
        .filter(|k| k.ends_with(".yaml") && k != "cubist-inventory.yaml")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `pruneLimit: 10%` of the local cluster's objects (a limit of 10, the floor): one
/// WorkflowTemplate goes; then the services and pipelines of every project (more than 10
/// objects, no project whole) are held.
#[test]
fn deleting_more_than_the_prune_limit_is_held_and_fewer_is_applied() {
    let (fx, mut rec) = Fixture::started(|work| {
        edit(
            &work.join("clusters/local.yaml"),
            "  target:\n",
            "  pruneLimit: 10%\n  target:\n",
        )
    });
    let templates = |files: &BTreeMap<String, String>| {
        files
            .keys()
            .filter(|k| k.contains("/argoproj.io_WorkflowTemplate_"))
            .count()
    };
    let before = templates(&fx.rendered());

    fx.remove("projects/recsys/pipelines/ctr-hpo.yaml");
    fx.commit_push(&["drop ctr-hpo"]);
    let o = poll(&mut rec);
    assert!(held_on_local(&o).is_none(), "{:?}", o.diagnostics);
    assert_eq!(o.clusters["local"].report.as_ref().unwrap().deleted, 1);
    assert_eq!(templates(&fx.rendered()), before - 1);

    for file in [
        "projects/recsys/services/ranker.yaml",
        "projects/nlp/services/summarizer.yaml",
        "projects/nlp/pipelines/llm-finetune.yaml",
        "projects/nlp/pipelines/weekly-embeddings.yaml",
        "projects/nlp/runs/finetune-2026-11-20.yaml",
        "projects/vision/pipelines/classifier-retrain.yaml",
        "projects/vision/pipelines/detector-train.yaml",
        "projects/vision/runs/backfill-detector-2026-11.yaml",
    ] {
        fx.remove(file);
    }
    fx.commit_push(&["drop the services and most pipelines"]);
    let o = poll(&mut rec);
    assert!(o.projects_held.is_empty(), "{:?}", o.diagnostics);
    let held = held_on_local(&o).cloned().expect("over the limit");
    assert!(held.changes.len() > 10, "{}", held.changes.len());
    assert!(
        held.reasons[0].contains("pruneLimit 10%"),
        "{:?}",
        held.reasons
    );
    assert_eq!(templates(&fx.rendered()), before - 1);
    assert_eq!(fx.local().state, SyncState::Held);
}

/// `cubist plan` shows held deletions, `cubist apply` holds them (exit 1) unless
/// `--allow-prune`; a bad `pruneLimit` is an error at its line.
#[test]
fn cubist_apply_holds_unless_allowed_and_bad_limits_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
        &repo,
    );
    let run = |args: &[&str]| {
        let out = std::process::Command::new(cubist_binary())
            .args(args)
            .arg(&repo)
            .args(["--cluster", "local"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let out = tmp.path().join("rendered/local");
    assert_eq!(run(&["apply"]).0, Some(0));
    let nlp = of_project(&read_dir_tree(&out), "nlp");
    std::fs::remove_dir_all(repo.join("projects/nlp")).unwrap();

    let (code, text) = run(&["plan"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("HELD:") && text.contains("project/nlp"),
        "{text}"
    );
    let (code, text) = run(&["apply"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("--allow-prune"), "{text}");
    assert_eq!(of_project(&read_dir_tree(&out), "nlp"), nlp);
    let (code, text) = run(&["apply", "--allow-prune"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(of_project(&read_dir_tree(&out), "nlp"), 0);

    edit(
        &repo.join("clusters/local.yaml"),
        "  target:\n",
        "  pruneLimit: 150%\n  target:\n",
    );
    let (code, text) = std::process::Command::new(cubist_binary())
        .arg("validate")
        .arg(&repo)
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).to_string(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("clusters/local.yaml:11:"), "{text}");
}

/// On a Kubernetes cluster (kube-local), a removed project's live objects stay while held, on
/// the status branch's inventory after a restart too, and go once a trailer names the cluster;
/// the directory cluster, not named, keeps holding.
#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn kubernetes_deletions_are_held_across_a_restart_until_allowed() {
    use cubist_tests::kube_local::{get, with_crds};
    let (server, rt, client) = with_crds("prod-bj");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
        &work,
    );
    cubist_tests::kube_local::point_prod_bj_at(&work.join("clusters/prod-bj.yaml"), &server);
    init_and_commit(&work, "platform");
    let cfg = Config::local(&work, tmp.path().join("cache"));
    let mut rec = Reconciler::new(cfg.clone()).unwrap();
    let o = poll(&mut rec);
    let cron = o.clusters["prod-bj"]
        .desired
        .objects()
        .map(|obj| obj.key())
        .find(|k| k.kind == "WorkflowTemplate" && k.namespace == "vision")
        .expect("a vision WorkflowTemplate on prod-bj");
    assert!(rt.block_on(get(&client, &cron)).is_some());
    let held_on = |o: &Outcome, c: &str| o.clusters[c].plan.as_ref()?.held.clone();

    std::fs::remove_dir_all(work.join("projects/vision")).unwrap();
    commit_all(&work, "drop vision");
    let o = poll(&mut rec);
    let held = held_on(&o, "prod-bj").expect("held on prod-bj");
    assert!(held.changes.iter().any(|c| c.key == cron));
    assert!(rt.block_on(get(&client, &cron)).is_some(), "not deleted");

    drop(rec);
    let mut rec = Reconciler::new(cfg).unwrap();
    let o = poll(&mut rec);
    assert!(held_on(&o, "prod-bj").is_some(), "held after a restart");
    assert!(rt.block_on(get(&client, &cron)).is_some());
    let tree = StatusTree::new(read_status(rec.mirror().repo(), STATUS).unwrap());
    let summary = tree.summary().unwrap().unwrap();
    let bj = summary
        .clusters
        .iter()
        .find(|c| c.name == "prod-bj")
        .unwrap();
    let doc = bj.held.as_ref().expect("held in the summary");
    assert!(doc.projects.contains_key("vision"), "{doc:?}");

    edit(&work.join("cubist.yaml"), "apiVersion", "# ok\napiVersion");
    commit_all(&work, "allow on prod-bj\n\nCubist-Allow-Prune: prod-bj");
    let o = poll(&mut rec);
    assert!(held_on(&o, "prod-bj").is_none());
    assert!(held_on(&o, "local").is_some(), "local is not named");
    assert!(rt.block_on(get(&client, &cron)).is_none(), "pruned");
}
