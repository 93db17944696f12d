//! Clusters: a Kubernetes target reached in-cluster names no kubeconfig and no context.

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use crate::model::kinds::Target;

/// `inCluster: true` with `kubeconfig` or `context`: which one would be used cannot be told.
pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for cluster in model.clusters.values() {
        let Target::Kubernetes {
            kubeconfig,
            context,
            in_cluster: true,
        } = &cluster.spec.target
        else {
            continue;
        };
        for (field, set) in [("kubeconfig", kubeconfig), ("context", context)] {
            if set.is_some() {
                diags.push(
                    Diagnostic::error(
                        codes::SCHEMA,
                        &cluster.at(&format!("spec/target/kubernetes/{field}")),
                        format!(
                            "cluster `{}` sets both `inCluster: true` and `{field}`; they exclude \
                             each other",
                            cluster.name()
                        ),
                    )
                    .help(format!(
                        "remove `{field}` to use the service account of the pod cubist runs \
                         in, or remove `inCluster` to use the kubeconfig"
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::kinds::Target;
    use crate::source::snapshot_dir;
    use std::path::Path;

    /// The corpus base with its cluster's target replaced by `target`: (the target read,
    /// the diagnostics).
    fn load(target: &str) -> (Option<Target>, Vec<crate::diag::Diagnostic>) {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/_base");
        let mut snap = snapshot_dir(&base).unwrap();
        let file = "clusters/local.yaml";
        let crate::source::FileBody::Bytes(text) = &snap.files[file] else {
            panic!("{file} is read");
        };
        let text = String::from_utf8(text.to_vec()).unwrap().replacen(
            "    directory: {path: ../rendered/local}\n",
            target,
            1,
        );
        snap.insert(file.into(), text.into_bytes());
        let (model, diags) = crate::model::load(&snap);
        let target = model.clusters.get("local").map(|c| c.spec.target.clone());
        (target, diags)
    }

    #[test]
    fn in_cluster_alone_is_read() {
        let (target, diags) = load("    kubernetes: {inCluster: true}\n");
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        assert_eq!(
            target,
            Some(Target::Kubernetes {
                kubeconfig: None,
                context: None,
                in_cluster: true
            })
        );
    }

    #[test]
    fn in_cluster_with_a_context_is_refused_at_the_context() {
        let (_, diags) = load("    kubernetes:\n      inCluster: true\n      context: prod\n");
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{diags:#?}");
        let e = errors[0];
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("clusters/local.yaml", 9, 16)
        );
        assert!(
            e.message.contains("`inCluster: true` and `context`"),
            "{e:?}"
        );
    }
}
