//! Cluster targets stay inside their boundaries: a directory target names its own directory
//! beside the repository (E1001) that no other cluster's target shares or contains (E1002); a
//! kubeconfig is a name inside the operator's kubeconfig directory (E1003).

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use crate::model::kinds::Target;
use crate::targets::kube::kubeconfig_name;
use crate::targets::select::beside_repository;
use std::path::PathBuf;

/// Reports every cluster whose target leaves its boundary or overlaps another's.
pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut taken: Vec<(PathBuf, &str)> = Vec::new();
    for (name, c) in &model.clusters {
        match &c.spec.target {
            Target::Directory { path } => {
                let at = c.at("spec/target/directory/path");
                match beside_repository(path) {
                    Err(why) => diags.push(
                        Diagnostic::error(codes::TARGET_PATH, &at, why)
                            .help("directory targets are written in the target root, the directory that holds the repository (or --target-root): write `../<dir>`"),
                    ),
                    Ok(dir) => {
                        if let Some((_, other)) = taken
                            .iter()
                            .find(|(d, _)| d.starts_with(&dir) || dir.starts_with(d))
                        {
                            diags.push(
                                Diagnostic::error(
                                    codes::SHARED_TARGET,
                                    &at,
                                    format!("cluster `{name}` writes to `{path}`, which is or overlaps the target directory of cluster `{other}`: each would prune the other's objects"),
                                )
                                .help("give every cluster its own directory, none inside another, such as `../rendered/<cluster>`"),
                            );
                        }
                        taken.push((dir, name));
                    }
                }
            }
            Target::Kubernetes {
                kubeconfig: Some(file),
                ..
            } => {
                if let Err(why) = kubeconfig_name(file) {
                    diags.push(
                        Diagnostic::error(
                            codes::KUBECONFIG_PATH,
                            &c.at("spec/target/kubernetes/kubeconfig"),
                            why,
                        )
                        .help("name a file of the kubeconfig directory the operator sets (CUBIST_KUBECONFIG_DIR), such as `prod-bj.yaml`"),
                    );
                }
            }
            Target::Kubernetes { .. } => {}
        }
    }
}
