//! Test-only hook into applies, for tests that kill the loop mid-apply
//! (`tests/crash_restart.rs`). With `CUBIST_TEST_HOLD_APPLY_AFTER=N` set, an apply stops after
//! its N-th object, prints `cubist: test hook: holding the apply after N objects` on stderr and
//! sleeps until the process is killed. Unset (always, outside tests) it does nothing.

use crate::target::Change;
use std::time::Duration;

/// The environment variable that arms the hook.
pub const HOLD_APPLY_AFTER: &str = "CUBIST_TEST_HOLD_APPLY_AFTER";

/// The progress callback of an apply: a no-op unless the hook is armed.
pub(super) fn apply_progress() -> impl FnMut(&Change) {
    let hold_after: Option<usize> = std::env::var(HOLD_APPLY_AFTER)
        .ok()
        .and_then(|v| v.parse().ok());
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
