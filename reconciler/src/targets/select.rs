//! Picks the target of a cluster from its manifest, inside the boundaries the operator set.
//!
//! A directory target's `path` names a directory beside the repository: `../<dir>[/<sub>…]`,
//! resolved in the *target root*, the directory that holds the repository's directory (a path
//! given as `repo_dir` below stands for the repository even when it does not exist: the
//! target root is always its parent). Absolute paths, paths that leave the target root and
//! paths inside the repository are refused, here and by validation (E1001).

use super::directory::DirectoryTarget;
use crate::model::kinds::{ClusterSpec, Target as TargetSpec};
use std::path::{Component, Path, PathBuf};

/// The directory target of a cluster, `<repo_dir>/../<dir>`, confined to the target root
/// `<repo_dir>/..`, or why there is none.
pub fn directory_target(repo_dir: &Path, cluster: &ClusterSpec) -> Result<DirectoryTarget, String> {
    match &cluster.target {
        TargetSpec::Directory { path } => directory_target_at(repo_dir, path),
        TargetSpec::Kubernetes { context, .. } => Err(format!(
            "kubernetes target (context {}) is not a directory; it is reached through `targets::kube`",
            context.as_deref().unwrap_or("default")
        )),
    }
}

/// The directory target whose `path` is `path` (see [`directory_target`]).
pub fn directory_target_at(repo_dir: &Path, path: &str) -> Result<DirectoryTarget, String> {
    let inside = beside_repository(path)?;
    // `<repo>/..` as the system resolves it (the repository's directory may be a link);
    // a stand-in that does not exist (`--target-root`) is resolved by its name.
    let root = if repo_dir.is_dir() {
        repo_dir.join("..")
    } else {
        let parent = std::path::absolute(repo_dir)
            .ok()
            .and_then(|p| Some(p.parent()?.to_path_buf()));
        parent.ok_or_else(|| {
            format!(
                "{} has no parent directory to write targets in",
                repo_dir.display()
            )
        })?
    };
    let dir = root.join(&inside);
    if let (Ok(repo), Ok(real)) = (repo_dir.canonicalize(), root.canonicalize())
        && real.join(&inside).starts_with(&repo)
    {
        return Err(format!(
            "target path `{path}` is inside the repository {}: name a directory beside it, such as `../rendered/<cluster>`",
            repo.display()
        ));
    }
    Ok(DirectoryTarget::new(dir).confined_to(root))
}

/// The directory a target `path` names inside the target root (`../a/b` → `a/b`), normalized;
/// or why the path is refused: absolute, leaving the target root, or not beside the
/// repository. Lexical only: links are checked where the directory is written.
pub fn beside_repository(path: &str) -> Result<PathBuf, String> {
    let fix = "name a directory beside the repository, such as `../rendered/<cluster>`";
    let mut ups = 0;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Prefix(_) | Component::RootDir => {
                return Err(format!("target path `{path}` is absolute: {fix}"));
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    ups += 1;
                }
            }
            Component::Normal(p) => parts.push(p),
        }
    }
    match (ups, parts.is_empty()) {
        (0, _) => Err(format!(
            "target path `{path}` is inside the repository: {fix}"
        )),
        (1, true) => Err(format!(
            "target path `{path}` names no directory beside the repository: {fix}"
        )),
        (1, false) => Ok(parts.iter().collect()),
        _ => Err(format!(
            "target path `{path}` leaves the target root: {fix}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_beside_the_repository_are_targets() {
        assert_eq!(
            beside_repository("../rendered/local"),
            Ok(PathBuf::from("rendered/local"))
        );
        assert_eq!(
            beside_repository(".././out/./a/../b"),
            Ok(PathBuf::from("out/b"))
        );
        assert_eq!(beside_repository("x/../../y"), Ok(PathBuf::from("y")));
        for (path, why) in [
            ("/etc", "absolute"),
            ("../../..", "leaves the target root"),
            ("../x/../../y", "leaves the target root"),
            ("x/../../../y", "leaves the target root"),
            ("rendered", "inside the repository"),
            ("./x", "inside the repository"),
            ("..", "names no directory"),
            ("../x/..", "names no directory"),
        ] {
            let err = beside_repository(path).unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
    }
}
