//! Test-only fault injection, compiled in with the cargo feature `test-hooks` (which the
//! end-to-end tests of `cubist-tests` turn on); without it the variables below are never read.
//!
//! - `CUBIST_TEST_HOLD_APPLY_AFTER=N`: an apply stops after its N-th object, prints
//!   `cubist: test hook: holding the apply after N objects` on stderr and sleeps until the
//!   process is killed (`tests/crash_restart.rs`).
//! - `CUBIST_TEST_NOW=<RFC 3339 time>`: the run controller's clock (`reconcile::runs::now`).
//! - `CUBIST_TEST_HOLD_RUN=before|after`: the run controller, having decided to start a run,
//!   stops just before (or just after) it creates the run's Workflow, prints `cubist: test
//!   hook: holding the run <workflow> before|after creating it` on stderr and sleeps until the
//!   process is killed (`tests/runs_kube.rs`).
//! - `CUBIST_TEST_PANIC_ON_PATH=PATH`: reconciling a commit whose tree holds the
//!   repository-relative `PATH` panics after the commit was read (`tests/fault_loop.rs`).

use crate::targets::Change;
use std::time::Duration;

/// The environment variable that holds applies.
pub const HOLD_APPLY_AFTER: &str = "CUBIST_TEST_HOLD_APPLY_AFTER";

/// The environment variable that makes a reconcile panic.
pub const PANIC_ON_PATH: &str = "CUBIST_TEST_PANIC_ON_PATH";

/// The value of a hook's variable: `None` unless the hooks are compiled in and it is set.
fn armed(var: &str) -> Option<String> {
    if cfg!(feature = "test-hooks") {
        std::env::var(var).ok()
    } else {
        None
    }
}

/// The environment variable that sets the run controller's clock.
pub const NOW: &str = "CUBIST_TEST_NOW";

/// The run controller's time when the hook is armed.
pub(super) fn now() -> Option<chrono::DateTime<chrono::Utc>> {
    let t = armed(NOW)?;
    chrono::DateTime::parse_from_rfc3339(&t)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The environment variable that holds the run controller around creating a Workflow.
pub const HOLD_RUN: &str = "CUBIST_TEST_HOLD_RUN";

/// Holds the thread until the process is killed when the hook is armed with `point` (`before`
/// or `after` creating the Workflow `workflow`), or with `point:prefix` and the Workflow's name
/// starts with `prefix` (projects run on several threads: the others go on).
pub(super) fn hold_run(point: &str, workflow: &str) {
    let held = armed(HOLD_RUN).is_some_and(|v| match v.split_once(':') {
        Some((p, prefix)) => p == point && workflow.starts_with(prefix),
        None => v == point,
    });
    if held {
        eprintln!("cubist: test hook: holding the run {workflow} {point} creating it");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// The progress callback of an apply: a no-op unless the hook is armed.
pub(super) fn apply_progress() -> impl FnMut(&Change) {
    let hold_after: Option<usize> = armed(HOLD_APPLY_AFTER).and_then(|v| v.parse().ok());
    let mut applied = 0;
    move |_| {
        applied += 1;
        if hold_after == Some(applied) {
            eprintln!("cubist: test hook: holding the apply after {applied} objects");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// Panics when the hook is armed and `revision`'s tree holds the path it names.
pub(super) fn panic_on_path(repo: &git2::Repository, revision: git2::Oid) {
    let Some(path) = armed(PANIC_ON_PATH) else {
        return;
    };
    let found = repo
        .find_commit(revision)
        .and_then(|c| c.tree())
        .is_ok_and(|t| t.get_path(std::path::Path::new(&path)).is_ok());
    if found {
        panic!("test hook: {PANIC_ON_PATH} names {path}, which this commit holds");
    }
}
