//! `cubist install --print`: the manifests that install cubist in a Kubernetes cluster. They are
//! the files of `deploy/` (the kustomize base that `kubectl apply -k deploy/` applies),
//! embedded in the binary, with the namespace and the image substituted as kustomize's
//! `namespace:` and `images:` would: one source of truth for both ways of installing.

use anyhow::{Result, bail};
use std::process::ExitCode;

/// The files of `deploy/`, in the order of `resources` in `deploy/kustomization.yaml`.
pub const FILES: &[(&str, &str)] = &[
    (
        "namespace.yaml",
        include_str!("../../../deploy/namespace.yaml"),
    ),
    (
        "serviceaccount.yaml",
        include_str!("../../../deploy/serviceaccount.yaml"),
    ),
    (
        "clusterrole.yaml",
        include_str!("../../../deploy/clusterrole.yaml"),
    ),
    (
        "clusterrolebinding.yaml",
        include_str!("../../../deploy/clusterrolebinding.yaml"),
    ),
    (
        "leases-role.yaml",
        include_str!("../../../deploy/leases-role.yaml"),
    ),
    (
        "configmap.yaml",
        include_str!("../../../deploy/configmap.yaml"),
    ),
    (
        "deployment.yaml",
        include_str!("../../../deploy/deployment.yaml"),
    ),
    ("service.yaml", include_str!("../../../deploy/service.yaml")),
    ("pdb.yaml", include_str!("../../../deploy/pdb.yaml")),
];

/// The namespace the files of `deploy/` are written for.
pub const NAMESPACE: &str = "cubist-system";

/// The image the Deployment of `deploy/` runs: `cubist` at this binary's version.
pub const IMAGE: &str = concat!("cubist:", env!("CARGO_PKG_VERSION"));

/// Arguments of `cubist install`.
#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// Print the manifests on stdout (apply them with `kubectl apply -f -`).
    #[arg(long, required = true)]
    pub print: bool,
    /// Namespace cubist runs in.
    #[arg(long, default_value = NAMESPACE)]
    pub namespace: String,
    /// Image reference of cubist, e.g. registry.example.com/cubist:0.1.0.
    #[arg(long, default_value = IMAGE)]
    pub image: String,
}

/// `cubist install --print`.
pub(super) fn run(args: &InstallArgs) -> Result<ExitCode> {
    print!("{}", manifests(&args.namespace, &args.image)?);
    Ok(ExitCode::SUCCESS)
}

/// The YAML documents of `deploy/`, in order, with every `cubist-system` replaced by
/// `namespace` (the Namespace, the namespace of each namespaced object and of the
/// ServiceAccount the ClusterRoleBinding names) and the image `cubist:<version>` by `image`.
pub fn manifests(namespace: &str, image: &str) -> Result<String> {
    check_namespace(namespace)?;
    check_image(image)?;
    let image_line = format!("image: {IMAGE}\n");
    let mut out = String::new();
    let mut images = 0;
    for (name, text) in FILES {
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&format!("# deploy/{name}\n"));
        let text = text.replace(NAMESPACE, namespace);
        images += text.matches(&image_line).count();
        out.push_str(&text.replace(&image_line, &format!("image: {image}\n")));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    if images != 1 {
        bail!("deploy/deployment.yaml must name the image `{IMAGE}` once, found {images}");
    }
    Ok(out)
}

/// A namespace name: a DNS-1123 label.
fn check_namespace(ns: &str) -> Result<()> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if !ok {
        bail!(
            "--namespace `{}` is not a namespace name: use at most 63 lowercase letters, digits \
             and '-', starting and ending with a letter or digit",
            ns.escape_debug()
        );
    }
    Ok(())
}

/// An image reference: `[registry/]repository[:tag][@digest]`, the characters those use.
fn check_image(image: &str) -> Result<()> {
    let ok = !image.is_empty()
        && image.len() <= 512
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if !ok {
        bail!(
            "--image `{}` is not an image reference: write it like \
             registry.example.com/cubist:0.1.0 or registry.example.com/cubist@sha256:…",
            image.escape_debug()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_substituted() {
        let out = manifests("ml-ops", "reg.example.com/ml/cubist:1.2").unwrap();
        assert!(!out.contains(NAMESPACE), "{out}");
        assert!(out.contains("\n  name: ml-ops\n"), "{out}");
        assert_eq!(
            out.matches("image: reg.example.com/ml/cubist:1.2\n")
                .count(),
            1
        );
        assert!(!out.contains(IMAGE));
    }

    #[test]
    fn bad_names_are_refused() {
        for ns in ["", "Cubist", "-a", "a-", "a.b", "a\nb: c", &"a".repeat(64)] {
            let e = manifests(ns, IMAGE).unwrap_err().to_string();
            assert!(e.starts_with("--namespace `"), "{ns:?}: {e}");
        }
        for image in ["", "x y", "x\n  command: [sh]", "\"x\"", "-x", "x#y"] {
            let e = manifests(NAMESPACE, image).unwrap_err().to_string();
            assert!(e.starts_with("--image `"), "{image:?}: {e}");
        }
    }
}
