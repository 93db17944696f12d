//! Finds the GitHub webhook payloads some tests read from the upstream reference data
//! (`../tests/support/build_probe.rs`): cfg `has_reference_webhooks`, and the path as
//! `env!("CUBIST_REFERENCE_DIR")`.

#[path = "../tests/support/build_probe.rs"]
#[allow(dead_code)] // the kube-local and program probes are for the end-to-end tests only
mod build_probe;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../tests/support/build_probe.rs");
    println!("cargo::rerun-if-changed=../tests/support/program.rs");
    build_probe::cfg_when_present(
        "has_reference_webhooks",
        &[build_probe::reference_dir().join("github-webhooks")],
        "put the upstream reference data in ../shared/reference or set CUBIST_REFERENCE_DIR; see README, Tests",
    );
}
