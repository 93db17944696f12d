//! `cubist reconcile --once` as CI or cron runs it, through the binary, on a synthetic
//! repository of 500 projects (4 directory clusters, 18,000 objects), against the cold
//! validate + render of the same repository measured in the same run (issue #21):
//!
//! - first run: the full reconcile of a new repository (informative; goal of the loop: ≤ 3×);
//! - nothing new: a restart that finds the status branch synced at the head stops early
//!   (goal: no slower than the cold validate + render);
//! - a platform template change that re-renders every project (goal: within 3×).
//!
//! Each figure is one process's wall time (start to exit), so it includes opening the mirror,
//! fetching and pushing the status commit into the repository.
//!
//! `TMPDIR=/dev/shm cargo bench --workspace --bench once`. Options after `--`: `--projects N`
//! (default 500), `--runs N` (default 5).

#[path = "support/cli_repo.rs"]
mod cli_repo;

use cli_repo::{CliRepo, TEMPLATE, cold_validate_render, median};
use std::time::Duration;

fn main() {
    let (mut projects, mut runs) = (500usize, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--projects" => projects = cubist::synth::flag_value(&mut args, "--projects"),
            "--runs" => runs = cubist::synth::flag_value::<usize>(&mut args, "--runs").max(1),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let repo = CliRepo::new(projects);
    let cold = cold_validate_render(&repo.src, 3);
    println!("synthetic repository: {projects} projects");
    println!("cold validate + render (in process)   median {cold:>9.2?}");
    let ratio = |d: Duration| d.as_secs_f64() / cold.as_secs_f64();

    let (first, _) = repo.reconcile_once();
    println!(
        "reconcile --once, first run           {first:>9.2?}  {:>5.2}x cold (loop goal for a first reconcile: <= 3x)",
        ratio(first)
    );

    let tip = repo.status_tip();
    let mut idle: Vec<Duration> = (0..runs).map(|_| repo.reconcile_once().0).collect();
    assert_eq!(
        repo.status_tip(),
        tip,
        "nothing new writes no status commit"
    );
    let idle = median(&mut idle);
    println!(
        "reconcile --once, nothing new  median {idle:>9.2?}  {:>5.2}x cold (goal: <= 1x) {}",
        ratio(idle),
        verdict(ratio(idle) <= 1.0)
    );

    let mut changes = Vec::new();
    for i in 0..runs.min(3) {
        repo.edit_and_commit(
            TEMPLATE,
            "PYTHONUNBUFFERED: \"",
            &format!("PYTHONUNBUFFERED: \"{i}"),
        );
        let (took, out) = repo.reconcile_once();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&format!(" {projects} rendered")), "{said}");
        changes.push(took);
    }
    // The first change parses every run-records file; the next ones read what it kept.
    let each: Vec<String> = changes.iter().map(|d| format!("{d:.0?}")).collect();
    let change = median(&mut changes);
    println!(
        "reconcile --once, template change median {change:>9.2?}  {:>5.2}x cold (goal: <= 3x) {} (each: {})",
        ratio(change),
        verdict(ratio(change) <= 3.0),
        each.join(", ")
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "within" } else { "OVER" }
}
