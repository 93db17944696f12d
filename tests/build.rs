//! Finds what some end-to-end tests need from outside the repository (see
//! `support/build_probe.rs`): cfg `has_reference_crds`, `has_reference_webhooks`,
//! `has_kube_local`, `has_chromium` and `has_kubectl`, and the paths as
//! `env!("CUBIST_REFERENCE_DIR")` and `env!("KUBE_LOCAL_CACHE")`.

#[path = "support/build_probe.rs"]
mod build_probe;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=support/build_probe.rs");
    println!("cargo::rerun-if-changed=support/program.rs");
    let reference = build_probe::reference_dir();
    let shared = "put the upstream reference data in ../shared/reference or set CUBIST_REFERENCE_DIR; see README, Tests";
    build_probe::cfg_when_present("has_reference_crds", &[reference.join("crds")], shared);
    build_probe::cfg_when_present(
        "has_reference_webhooks",
        &[reference.join("github-webhooks")],
        shared,
    );
    build_probe::cfg_when_present(
        "has_kube_local",
        &[build_probe::kube_local_cache().join("bin/kube-local-apiserver")],
        "run `bash tests/kube-local/setup.sh`; see README, Tests",
    );
    build_probe::cfg_when_present(
        "has_chromium",
        &[
            build_probe::program(&["chromium", "chromium-browser"]),
            build_probe::program(&["chromedriver"]),
        ],
        "apt-get install chromium chromium-driver; see README, Tests",
    );
    build_probe::cfg_when_present(
        "has_kubectl",
        &[build_probe::program(&["kubectl"])],
        "install kubectl (kustomize is built in); see README, Tests",
    );
}
