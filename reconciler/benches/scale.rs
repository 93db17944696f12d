//! The scale goal of issue #21, measured in one run: synthetic repositories of 500 and 5,000
//! projects (4 pipelines and 4 services each, 4 clusters; 18,000 and 180,000 rendered objects)
//!
//! - cold validate + render of each (blueprints compiled, files read, every document validated,
//!   every project rendered; median of `--runs`) and their ratio (goal: at most 12×);
//! - peak RSS of one cold validate + render of the large repository, in a child process (this
//!   bench run again with `--child-validate-render DIR`; its whole-life VmHWM, which is what
//!   getrusage's ru_maxrss reports), and of `cubist validate` on it when /usr/bin/time exists
//!   (goal: under 1 GiB);
//! - validate of a hostile variant of each size (every project's `pipeline-0` rejected by the
//!   schema, its `Run` referring to it: one diagnostic per project, no dangling-reference
//!   diagnostics) and its ratio, which a scan of every rejected document per reference makes
//!   quadratic (goal: at most 12× too);
//! - a one-file change (a service's autoscale target) reconciled through
//!   `Reconciler::reconcile`, wall time, with directory targets under TMPDIR: median of
//!   `--changes` (goals: under 35 ms at 500 projects, under 60 ms at 5,000).
//!
//! `TMPDIR=/dev/shm cargo bench --workspace --bench scale`. Options after `--`: `--small N`
//! (default 500), `--large N` (default 5000), `--runs N` (cold runs, default 3), `--changes N`
//! (default 7), `--no-reconcile` (skip the one-file changes and their first full reconciles).

#[path = "support/cli_repo.rs"]
#[allow(dead_code)] // shared with the `once` and `page` benches
mod cli_repo;

use cli_repo::{CliRepo, cold_validate_render, median};
use cubist::reconcile::{Reconciler, Timings};
use cubist::synth::Shape;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Re-executes the bench as a child that does one cold validate + render of DIR.
const CHILD: &str = "--child-validate-render";
/// The file each one-file change edits.
const SERVICE: &str = "projects/team-0042/services/service-0.yaml";
const RATIO_GOAL: f64 = 12.0;
const RSS_GOAL_MIB: f64 = 1024.0;

fn main() {
    let (mut small, mut large, mut runs, mut changes) = (500usize, 5000usize, 3usize, 7usize);
    let mut reconcile = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            CHILD => return child(Path::new(&args.next().expect("DIR"))),
            "--small" => small = cubist::synth::flag_value(&mut args, "--small"),
            "--large" => large = cubist::synth::flag_value(&mut args, "--large"),
            "--runs" => runs = cubist::synth::flag_value::<usize>(&mut args, "--runs").max(1),
            "--changes" => {
                changes = cubist::synth::flag_value::<usize>(&mut args, "--changes").max(1)
            }
            "--no-reconcile" => reconcile = false,
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let (small_repo, large_repo) = (CliRepo::new(small), CliRepo::new(large));
    let cold_small = cold_validate_render(&small_repo.src, runs);
    let cold_large = cold_validate_render(&large_repo.src, runs);
    let ratio = cold_large.as_secs_f64() / cold_small.as_secs_f64();
    println!(
        "cold validate + render, {small:>5} projects  median {cold_small:>9.2?}  ({runs} runs)"
    );
    println!(
        "cold validate + render, {large:>5} projects  median {cold_large:>9.2?}  ({runs} runs)"
    );
    println!(
        "ratio {ratio:.2}x for {:.0}x the projects (goal <= {RATIO_GOAL}x): {}",
        large as f64 / small as f64,
        verdict(ratio <= RATIO_GOAL)
    );
    for (n, repo) in [(small, &small_repo), (large, &large_repo)] {
        let [snapshot, load, render, peak] = child_rss_mib(&repo.src);
        println!(
            "peak RSS, validate + render, {n:>5} projects  {peak:>7.1} MiB (child process; goal < {RSS_GOAL_MIB} MiB at {large}): {}",
            verdict(n != large || peak < RSS_GOAL_MIB)
        );
        println!(
            "  RSS after snapshot {snapshot:.1} MiB, validate {load:.1} MiB, render {render:.1} MiB"
        );
    }
    match cli_validate_peak_rss_mib(&large_repo.src) {
        Some(mib) => println!("peak RSS, cubist validate,   {large:>5} projects  {mib:>7.1} MiB"),
        None => println!("peak RSS, cubist validate: skipped (no /usr/bin/time)"),
    }
    let (hostile_small, hostile_large) =
        (hostile_validate(small, runs), hostile_validate(large, runs));
    let ratio = hostile_large.as_secs_f64() / hostile_small.as_secs_f64();
    println!("hostile validate,       {small:>5} projects  median {hostile_small:>9.2?}");
    println!("hostile validate,       {large:>5} projects  median {hostile_large:>9.2?}");
    println!(
        "ratio {ratio:.2}x for {:.0}x the projects (goal <= {RATIO_GOAL}x): {}",
        large as f64 / small as f64,
        verdict(ratio <= RATIO_GOAL)
    );
    if !reconcile {
        return;
    }
    drop(small_repo);
    for (n, goal) in [(small, 35), (large, 60)] {
        let repo = CliRepo::new(n);
        let (took, stages) = one_file_change(&repo, changes);
        let goal = Duration::from_millis(goal);
        println!(
            "one-file change, {n:>5} projects  median {took:>9.2?}  ({changes} runs; goal < {goal:?}): {}",
            verdict(took < goal)
        );
        print_stages(&stages);
    }
}

/// `model::load` of an in-memory repository of `projects` projects, each with a run of its
/// `pipeline-0`, which the schema rejects: the median of `runs`.
fn hostile_validate(projects: usize, runs: usize) -> Duration {
    let shape = Shape {
        projects,
        runs_per_project: 1,
        ..Shape::default()
    };
    let mut snapshot = cubist::source::Snapshot::default();
    for (path, text) in cubist::synth::files(&shape) {
        let text = if path.ends_with("/pipelines/pipeline-0.yaml") {
            text.replacen("parallelism: 2", "parallelism: two", 1)
        } else {
            text
        };
        snapshot.insert(path, text.into_bytes());
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            let (_, diags) = cubist::model::load(&snapshot);
            let took = t0.elapsed();
            assert_eq!(
                diags.iter().filter(|d| d.is_error()).count(),
                projects,
                "one error per project (the rejected pipeline), none for its run: {:#?}",
                diags.iter().take(3).collect::<Vec<_>>()
            );
            took
        })
        .collect();
    median(&mut times)
}

/// The child: one cold validate + render (as `cli_repo::cold_validate_render` does it), then on
/// stdout its RSS in KiB after the snapshot, after validating and after rendering, and its peak.
fn child(dir: &Path) {
    let blueprints = cubist::render::Blueprints::embedded().expect("blueprints");
    let snapshot = cubist::source::snapshot_dir(dir).expect("snapshot");
    let after_snapshot = proc_status_kib("VmRSS");
    let (model, diags) = cubist::model::load(&snapshot);
    let after_load = proc_status_kib("VmRSS");
    assert!(
        !diags.iter().any(|d| d.is_error()),
        "the repository is valid"
    );
    let sets = cubist::render::render(&model, &blueprints).expect("render");
    let after_render = proc_status_kib("VmRSS");
    drop((sets, model, snapshot));
    let peak = proc_status_kib("VmHWM");
    println!("{after_snapshot} {after_load} {after_render} {peak}");
}

/// A field of /proc/self/status in KiB.
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a /proc/self/status field")
}

/// RSS in MiB of a child process doing one cold validate + render of `dir`: after the
/// snapshot, after validating, after rendering, and its peak.
fn child_rss_mib(dir: &Path) -> [f64; 4] {
    let out = Command::new(std::env::current_exe().expect("the bench's path"))
        .arg(CHILD)
        .arg(dir)
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("the child prints KiB"))
        .collect();
    let kib: [f64; 4] = kib.try_into().expect("four figures");
    kib.map(|k| k / 1024.0)
}

/// Peak RSS in MiB of `cubist validate DIR` (max resident set size of GNU time's `%M`).
fn cli_validate_peak_rss_mib(dir: &Path) -> Option<f64> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return None;
    }
    let out = Command::new(time)
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_cubist"))
        .arg("validate")
        .arg(dir)
        .output()
        .expect("run cubist validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib: f64 = stderr.lines().last()?.trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// A first full reconcile, then `runs` one-file changes each committed, fetched and reconciled
/// (only the reconcile is timed): the median wall time and the stages of that run.
fn one_file_change(repo: &CliRepo, runs: usize) -> (Duration, Timings) {
    let mut rec = Reconciler::new(repo.config()).expect("open the reconciler");
    let first = rec.poll().expect("first reconcile").expect("a revision");
    assert!(first.projects_held.is_empty(), "{:#?}", first.diagnostics);
    // As the reconcile bench does: the target directory reads files younger than a second
    // again, and its watch restarts trusting after the first apply's burst of events.
    std::thread::sleep(Duration::from_millis(1100));
    let cpu = |n: usize| format!("autoscale: {{metric: cpu, target: {n}}}");
    let mut timed = Vec::new();
    for i in 0..=runs {
        repo.edit_and_commit(SERVICE, &cpu(70 + i), &cpu(71 + i));
        rec.mirror().fetch(&["main"]).expect("fetch");
        let head = rec.mirror().head("main").expect("main exists");
        let t0 = Instant::now();
        let o = rec.reconcile(head).expect("reconcile");
        let took = t0.elapsed();
        assert_eq!(
            (o.projects_rendered, o.projects_held.len()),
            (1, 0),
            "only team-0042 re-renders"
        );
        if i > 0 {
            timed.push((took, o.timings));
        }
    }
    timed.sort_by_key(|(took, _)| *took);
    timed[timed.len() / 2]
}

fn print_stages(t: &Timings) {
    for (stage, d) in t.stages() {
        println!("  {stage:<10} {d:>9.2?}");
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "within" } else { "OVER" }
}
