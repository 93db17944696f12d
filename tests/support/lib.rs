//! Shared helpers for cubist end-to-end tests.

pub mod argo;
pub mod corpus;
pub mod crd_schema;
pub mod kube_local;
pub mod procs;
pub mod program;
pub mod receiver;
pub mod reference;
pub mod replicas;
pub mod repo;
pub mod status_writer;

/// Cargo cannot watch a path that does not exist yet (`build.rs`), so reference data, kube-local
/// or chromium that appeared after the build would leave their tests ignored: this test says
/// so instead, and also when one went away.
#[cfg(test)]
mod probes_match_the_build {
    #[test]
    fn every_probe_still_holds() {
        let chromium = [&["chromium", "chromium-browser"][..], &["chromedriver"]];
        let seen = [
            (
                "has_reference_crds",
                cfg!(has_reference_crds),
                crate::reference::dir().join("crds").exists(),
            ),
            (
                "has_reference_webhooks",
                cfg!(has_reference_webhooks),
                crate::reference::dir().join("github-webhooks").exists(),
            ),
            (
                "has_kube_local",
                cfg!(has_kube_local),
                crate::kube_local::apiserver_binary().exists(),
            ),
            (
                "has_chromium",
                cfg!(has_chromium),
                chromium
                    .iter()
                    .all(|names| crate::program::find(names).is_some()),
            ),
            (
                "has_kubectl",
                cfg!(has_kubectl),
                crate::program::find(&["kubectl"]).is_some(),
            ),
        ];
        for (cfg, built_with, now) in seen {
            assert_eq!(
                built_with,
                now,
                "cfg {cfg} is stale: what it probes {} since the tests were built; run \
                 `touch tests/build.rs webhook/build.rs` and test again (reference data: {})",
                if now { "appeared" } else { "went away" },
                crate::reference::dir().display()
            );
        }
    }
}
