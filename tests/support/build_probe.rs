//! Build-time probes for what some tests need from outside the repository: the upstream
//! reference data (`../shared/reference`, never copied into the repository), the kube-local
//! API server (`~/.cache/kube-local`) and programs (chromium). Each probe declares a `cfg` and
//! sets it when the thing exists, so a test that needs it is written
//! `#[cfg_attr(not(has_reference_crds), ignore = "needs …")]`: ignored with its reason when the
//! thing is absent, never passed without running.
//!
//! Included with `#[path]` by the build scripts of `tests/` and `webhook/`; not part of the
//! support library. Cargo reruns a build script when a path it was told to watch changes or
//! disappears, but it cannot watch a path that does not exist yet: when one appears after a
//! build, the `probes_match_the_build` test of `cubist-tests` fails and says what to touch.

use std::path::{Path, PathBuf};

#[path = "program.rs"]
mod program;

/// The first of `names` found on `PATH`, or `<first name> (not on PATH)`, a path that does not
/// exist, when none is.
pub fn program(names: &[&str]) -> PathBuf {
    println!("cargo::rerun-if-env-changed=PATH");
    program::find(names).unwrap_or_else(|| PathBuf::from(format!("{} (not on PATH)", names[0])))
}

/// The reference data: `$CUBIST_REFERENCE_DIR` (an absolute path) or `../shared/reference`
/// beside the workspace. The crate's code reads the same path as `env!("CUBIST_REFERENCE_DIR")`.
pub fn reference_dir() -> PathBuf {
    let dir = match resolved("CUBIST_REFERENCE_DIR") {
        Some(dir) => dir,
        None => workspace_root().join("../shared/reference"),
    };
    println!("cargo::rustc-env=CUBIST_REFERENCE_DIR={}", dir.display());
    dir
}

/// The kube-local cache: `$KUBE_LOCAL_CACHE` (an absolute path) or `~/.cache/kube-local`.
/// The crate's code reads the same path as `env!("KUBE_LOCAL_CACHE")`.
pub fn kube_local_cache() -> PathBuf {
    println!("cargo::rerun-if-env-changed=HOME");
    let dir = match resolved("KUBE_LOCAL_CACHE") {
        Some(dir) => dir,
        None => {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kube-local")
        }
    };
    println!("cargo::rustc-env=KUBE_LOCAL_CACHE={}", dir.display());
    dir
}

/// Declares `cfg` and sets it when every one of `paths` exists; reruns the build script when
/// one of them changes or disappears. Warns, naming what is missing and `how` to get it, when
/// the cfg is not set.
pub fn cfg_when_present(cfg: &str, paths: &[PathBuf], how: &str) {
    println!("cargo::rustc-check-cfg=cfg({cfg})");
    let missing: Vec<&PathBuf> = paths.iter().filter(|p| !p.exists()).collect();
    if missing.is_empty() {
        println!("cargo::rustc-cfg={cfg}");
        for path in paths {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    } else {
        let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        println!(
            "cargo::warning=not found: {}; the tests that need it are ignored ({how})",
            names.join(" and ")
        );
    }
}

/// The value of the environment variable `name`, which must be an absolute path when set.
fn resolved(name: &str) -> Option<PathBuf> {
    println!("cargo::rerun-if-env-changed={name}");
    let value = PathBuf::from(std::env::var_os(name).filter(|v| !v.is_empty())?);
    assert!(
        value.is_absolute(),
        "{name}={} is relative: set it to an absolute path",
        value.display()
    );
    Some(value)
}

/// The workspace root: the parent of the crate running the build script.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set");
    Path::new(&manifest).join("..")
}
