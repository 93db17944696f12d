//! Hostile and surprising manifests through the model and the reconcile loop: an emptied
//! manifest holds its project instead of pruning it, and the README's own examples validate.

use cubist::reconcile::{Config, Outcome, Reconciler};
use cubist::report::status_branch::read_status;
use cubist_status_ui::doc::{ProjectState, Summary};
use cubist_tests::corpus::copy_tree;
use cubist_tests::repo::{commit_all, init_and_commit, read_dir_tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A copy of examples-repo as a git repository, reconciled into `<tmp>/rendered/local`.
struct Fixture {
    tmp: TempDir,
    reconciler: Reconciler,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        copy_tree(&examples_repo(), &repo);
        init_and_commit(&repo, "initial platform");
        let cfg = Config::local(&repo, tmp.path().join("cache"));
        let reconciler = Reconciler::new(cfg).unwrap();
        Fixture { tmp, reconciler }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    /// Commits the working tree and reconciles it.
    fn commit_and_reconcile(&mut self, message: &str) -> Outcome {
        commit_all(&self.repo(), message);
        self.reconcile()
    }

    fn reconcile(&mut self) -> Outcome {
        self.reconciler
            .poll()
            .expect("poll succeeds")
            .expect("a new revision was reconciled")
    }

    /// The status summary of the newest status commit.
    fn summary(&self) -> Summary {
        let files = read_status(self.reconciler.mirror().repo(), "cubist/status").unwrap();
        cubist_status_ui::yaml::from_yaml(&files["status/summary.yaml"]).unwrap()
    }

    /// The local cluster's directory target (clusters/local.yaml: `../rendered/local`).
    fn rendered(&self) -> BTreeMap<String, String> {
        read_dir_tree(&self.tmp.path().join("rendered/local"))
    }
}

fn examples_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo")
}

/// Files of the rendered tree that hold an object of namespace `project`.
fn objects_of(tree: &BTreeMap<String, String>, project: &str) -> usize {
    let namespace = format!("namespace: {project}\n");
    tree.values()
        .filter(|body| body.contains(&namespace))
        .count()
}

/// Emptying `projects/nlp/project.yaml` (or leaving only a comment) is an error that holds nlp
/// at its last good state: every object stays in the directory target. Deleting the whole
/// directory with the prune guard's allowance, as the error's help says, removes them.
#[test]
fn an_emptied_project_yaml_holds_the_project_instead_of_pruning_it() {
    let mut fx = Fixture::new();
    let first = fx.reconcile();
    assert!(first.projects_held.is_empty(), "{:?}", first.diagnostics);
    let before = fx.rendered();
    assert!(
        objects_of(&before, "nlp") > 3,
        "nlp renders objects: {before:?}"
    );

    for (content, what) in [("", "empty"), ("# nothing here yet\n", "comment only")] {
        std::fs::write(fx.repo().join("projects/nlp/project.yaml"), content).unwrap();
        let o = fx.commit_and_reconcile(&format!("nlp: project.yaml {what}"));
        assert_eq!(o.projects_held, ["nlp"], "{what}: {:?}", o.diagnostics);
        // The status summary lists the held project as Failed, with its error.
        let summary = fx.summary();
        let nlp = summary
            .projects
            .iter()
            .find(|p| p.name == "nlp")
            .unwrap_or_else(|| panic!("{what}: nlp missing from the summary: {summary:?}"));
        assert_eq!(nlp.state, ProjectState::Failed, "{what}");
        assert!(
            nlp.errors
                .iter()
                .any(|e| e.file == "projects/nlp/project.yaml"),
            "{what}: {nlp:?}"
        );
        let error = o
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("{what}: no error in {:?}", o.diagnostics));
        assert_eq!(
            (
                error.file.as_str(),
                error.line,
                error.column,
                error.project.as_deref()
            ),
            ("projects/nlp/project.yaml", 1, 1, Some("nlp")),
            "{what}"
        );
        assert!(
            error
                .help
                .as_deref()
                .is_some_and(|h| h.contains("delete the whole directory projects/nlp/")),
            "{what}: {error:?}"
        );
        assert_eq!(
            fx.rendered(),
            before,
            "{what}: nothing is pruned or changed"
        );
    }

    // An emptied pipeline of nlp holds nlp too: its objects are not pruned.
    std::fs::copy(
        examples_repo().join("projects/nlp/project.yaml"),
        fx.repo().join("projects/nlp/project.yaml"),
    )
    .unwrap();
    std::fs::write(
        fx.repo().join("projects/nlp/pipelines/llm-finetune.yaml"),
        "",
    )
    .unwrap();
    let o = fx.commit_and_reconcile("nlp: empty pipeline");
    assert_eq!(o.projects_held, ["nlp"], "{:?}", o.diagnostics);
    assert_eq!(fx.rendered(), before);

    std::fs::remove_dir_all(fx.repo().join("projects/nlp")).unwrap();
    // Removing a project needs an allowance from the prune guard (README, "The prune guard").
    let o = fx.commit_and_reconcile("Remove nlp\n\nCubist-Allow-Prune: project/nlp");
    assert!(o.projects_held.is_empty(), "{:?}", o.diagnostics);
    let after = fx.rendered();
    assert_eq!(
        objects_of(&after, "nlp"),
        0,
        "deleting the directory removes nlp"
    );
    assert_eq!(objects_of(&after, "recsys"), objects_of(&before, "recsys"));
}

/// The README's `sentiment` Service (no `resources:`, which is optional) validates: it used to
/// crash every command with an index out of bounds.
#[test]
fn the_readme_sentiment_service_validates() {
    let readme = std::fs::read_to_string(examples_repo().join("../README.md")).unwrap();
    let start = readme
        .find("# projects/nlp/services/sentiment.yaml")
        .expect("the README shows the sentiment Service");
    let block = &readme[start..];
    let block = &block[..block.find("\n---\n").expect("the example ends with ---")];
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&examples_repo(), tmp.path());
    let manifest = format!("apiVersion: cubist.dev/v1alpha1\n{block}\n");
    assert!(
        !manifest.contains("resources:"),
        "the example has no resources:\n{manifest}"
    );
    std::fs::write(
        tmp.path().join("projects/nlp/services/sentiment.yaml"),
        &manifest,
    )
    .unwrap();
    let snapshot = cubist::source::snapshot_dir(tmp.path()).unwrap();
    let (model, diags) = cubist::model::load(&snapshot);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{manifest}\n{errors:#?}");
    assert!(model.projects["nlp"].services.contains_key("sentiment"));
}
