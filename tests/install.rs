//! `cubist install --print` against kustomize itself (`kubectl kustomize`): the defaults are the
//! objects of `deploy/`, and `--namespace`/`--image` are what kustomize's `namespace:` and
//! `images:` make of them. (`reconciler/tests/cli_install.rs` tests the command without kubectl.)

use cubist::cli::install::{IMAGE, NAMESPACE, manifests};
use serde_json::Value;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
        .canonicalize()
        .unwrap()
}

/// The objects of a YAML text, sorted by kind, namespace and name (kustomize orders objects
/// its own way).
fn objects(file: &str, text: &str) -> Vec<Value> {
    let mut objects: Vec<Value> = cubist::model::yaml::parse_documents(file, text)
        .unwrap_or_else(|d| panic!("{file} is not YAML: {d:?}"))
        .into_iter()
        .map(|p| p.json)
        .collect();
    objects.sort_by_key(|o| {
        let m = &o["metadata"];
        (
            o["kind"].to_string(),
            m["namespace"].to_string(),
            m["name"].to_string(),
        )
    });
    objects
}

fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl kustomize failed: {stderr}");
    objects("kubectl kustomize", &String::from_utf8(out.stdout).unwrap())
}

/// `to` relative to `from` (kustomize refuses absolute resource paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..].iter().map(|_| "..").collect();
    path.extend(&to[common..]);
    path
}

#[test]
#[cfg_attr(not(has_kubectl), ignore = "needs kubectl on PATH; see README, Tests")]
fn defaults_are_what_kubectl_kustomize_makes_of_deploy() {
    let printed = manifests(NAMESPACE, IMAGE).unwrap();
    assert_eq!(objects("printed", &printed), kustomize(&deploy_dir()));
}

#[test]
#[cfg_attr(not(has_kubectl), ignore = "needs kubectl on PATH; see README, Tests")]
fn namespace_and_image_are_what_a_kustomize_overlay_makes() {
    let overlay = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = overlay.path().canonicalize().unwrap();
    let base = relative(&dir, &deploy_dir());
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "resources: [{}]\nnamespace: ml-ops\nimages:\n  - name: cubist\n    \
             newName: registry.example.com/ml/cubist\n    newTag: \"1.2\"\n",
            base.display()
        ),
    )
    .unwrap();
    let printed = manifests("ml-ops", "registry.example.com/ml/cubist:1.2").unwrap();
    assert_eq!(objects("printed", &printed), kustomize(&dir));
}
