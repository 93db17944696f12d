//! `cubist status-site` as a process: the status branch written by `cubist reconcile --once`
//! becomes a static site, read from a plain directory's local repository, a git repository path
//! and a `file://` URL (through the mirror).

mod common;
#[path = "../../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;
use common::{cubist_alone as cubist, stdout_ok as assert_ok};
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A copy of examples-repo at `<dir>/repo` (its local cluster renders into `<dir>/rendered`).
fn examples_copy(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    corpus::copy_tree(&corpus::examples_repo(), &repo);
    repo
}

/// The pages of the site at `out`, relative, sorted; asserts every link is relative and resolves.
fn site_pages(out: &Path) -> Vec<String> {
    let mut pages = Vec::new();
    let mut dirs = vec![out.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let html = std::fs::read_to_string(&path).unwrap();
            for chunk in html.split("href=\"").skip(1) {
                let href = &chunk[..chunk.find('"').unwrap()];
                if href.starts_with("https://") {
                    continue;
                }
                assert!(
                    path.parent().unwrap().join(href).is_file(),
                    "{}: link {href} does not resolve",
                    path.display()
                );
            }
            pages.push(path.strip_prefix(out).unwrap().display().to_string());
        }
    }
    pages.sort();
    pages
}

#[test]
fn site_of_a_plain_directory_after_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let repo = examples_copy(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("site");
    let site = ["status-site", "--repo", s(&repo), "--cache-dir", s(&cache)];

    let before = cubist(&[&site[..], &["--out", s(&out)]].concat());
    assert_eq!(before.status.code(), Some(2));
    let err = String::from_utf8_lossy(&before.stderr);
    assert!(err.contains("cubist serve --repo"), "{err}");
    assert!(!out.exists());

    let reconcile = ["reconcile", "--once", "--repo", s(&repo), "--cache-dir"];
    assert_ok(
        &cubist(&[&reconcile[..], &[s(&cache)]].concat()),
        "reconcile",
    );
    let stdout = assert_ok(&cubist(&[&site[..], &["--out", s(&out)]].concat()), "site");
    let pages = site_pages(&out);
    assert!(
        stdout.contains(&format!("wrote {} pages", pages.len())),
        "{stdout}"
    );
    for page in [
        "index.html",
        "projects/index.html",
        "projects/nlp/index.html",
        "projects/recsys/pipelines/daily-ranker/index.html",
        "clusters/local/index.html",
        "history/index.html",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} in {pages:?}");
    }
    let projects = std::fs::read_to_string(out.join("projects/index.html")).unwrap();
    for name in ["nlp", "recsys", "vision"] {
        let link = format!("href=\"../projects/{name}/index.html\"");
        assert!(projects.contains(&link), "{link}");
    }
}

#[test]
fn site_of_a_git_repository_by_path_and_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let repo = examples_copy(dir.path());
    let git = git2::Repository::init(&repo).unwrap();
    let mut index = git.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    git.commit(Some("refs/heads/main"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    git.set_head("refs/heads/main").unwrap();
    // Status commits are pushed to the watched repository: a bare one, as a remote would be.
    let origin = dir.path().join("origin.git");
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(&format!("file://{}", s(&repo)), &origin)
        .unwrap();
    let repo = origin;
    let cache = dir.path().join("cache");

    let missing = cubist(&["status-site", "--repo", s(&repo), "--out", s(&cache)]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no branch `cubist/status`"), "{err}");

    let reconcile = ["reconcile", "--once", "--repo", s(&repo), "--cache-dir"];
    assert_ok(
        &cubist(&[&reconcile[..], &[s(&cache)]].concat()),
        "reconcile",
    );
    let by_path = dir.path().join("by-path");
    let args = ["status-site", "--repo", s(&repo), "--out", s(&by_path)];
    assert_ok(&cubist(&args), "site by path");
    let url = format!("file://{}", s(&repo));
    let by_url = dir.path().join("by-url");
    let cache2 = dir.path().join("cache2");
    let args = ["status-site", "--repo", &url, "--cache-dir", s(&cache2)];
    assert_ok(
        &cubist(&[&args[..], &["--out", s(&by_url)]].concat()),
        "site by URL",
    );

    let pages = site_pages(&by_path);
    assert!(pages.len() >= 10, "{pages:?}");
    assert_eq!(pages, site_pages(&by_url));
    let project = std::fs::read_to_string(by_url.join("projects/nlp/index.html")).unwrap();
    assert!(project.contains("href=\"../../index.html\""));
}
