//! Incremental reconcile (issue #4): a synthetic repository of 500 projects (5,013 manifests,
//! 18,000 rendered objects on 4 directory-target clusters) committed into a local git
//! repository, reconciled once in full; then, per iteration, one file of one project changes
//! and `Reconciler::reconcile(new head)` is timed (the fetch is not). Also timed: a poll with no
//! new commit (it must render nothing), and a change to a platform template (every project that
//! uses it re-renders). Prints medians, with the time of each stage.
//! Goal: a one-file change re-reconciles in under 100 ms. The first full reconcile and the
//! template change are also printed as ratios to the cold validate + render of the same
//! repository measured in the same run (issue #21 goals: at most 3x and 2x).
//!
//! `cargo bench -p cubist --bench reconcile`. Options after `--`: `--projects N` (default 500),
//! `--runs N` (timed iterations, default 7), `--once` (one iteration of each), `--no-template`
//! (skip the template change). Instruction
//! counts, repeatable on a busy machine: `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*timed_reconcile*' target/release/deps/reconcile-<hash> --once` counts the
//! one-file change and the template change (first full reconcile excluded).

#[path = "support/cli_repo.rs"]
#[allow(dead_code)] // the CLI half serves the `once` bench
mod cli_repo;

use cubist::reconcile::{Config, Outcome, Reconciler, Timings};
use cubist::report::status_branch::Author;
use cubist::source::local::commit_directory;
use cubist::synth::{self, Shape};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const GOAL: Duration = Duration::from_millis(35);
/// The file each iteration of the project-local change edits.
const SERVICE: &str = "projects/team-0042/services/service-0.yaml";
/// The template the platform-wide change edits.
const TEMPLATE: &str = "templates/python.yaml";

fn main() {
    let mut shape = Shape {
        projects: 500,
        ..Shape::default()
    };
    let mut runs = 7usize;
    let mut template = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--projects" => shape.projects = cubist::synth::flag_value(&mut args, "--projects"),
            "--runs" => runs = cubist::synth::flag_value(&mut args, "--runs"),
            "--once" => runs = 1,
            "--no-template" => template = false,
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let bench = Bench::new(tmp.path(), &shape);
    // The yardstick of issue #21's goals, measured in this run.
    let cold = cli_repo::cold_validate_render(&bench.src, 3);
    let ratio = |d: Duration| d.as_secs_f64() / cold.as_secs_f64();
    println!("cold validate + render       median {cold:>9.2?}");
    let mut rec = Reconciler::new(bench.cfg.clone()).expect("open the reconciler");
    let started = Instant::now();
    let first = rec.poll().expect("first reconcile").expect("a revision");
    let full = started.elapsed();
    assert!(first.projects_held.is_empty(), "{:#?}", first.diagnostics);
    println!(
        "synthetic repository: {} projects, {} manifests, {} rendered objects",
        shape.projects,
        shape.manifests(),
        objects(&first)
    );
    println!(
        "first full reconcile         {full:>9.2?}  {:>5.2}x cold (goal: <= 3x)",
        ratio(full)
    );
    print_stages("  ", &first.timings);

    // One untimed change once the first reconcile's files are a second old: the target
    // directory reads files younger than that again (their stamps are not trusted yet), and
    // its watch restarts trusting after the burst of events the first apply made.
    std::thread::sleep(Duration::from_millis(1100));
    let cpu = |n: usize| format!("autoscale: {{metric: cpu, target: {n}}}");
    bench.edit(SERVICE, &cpu(70), &cpu(71));
    bench.reconcile_new_head(&mut rec);

    let mut local = Vec::new();
    for i in 0..runs {
        bench.edit(SERVICE, &cpu(71 + i), &cpu(72 + i));
        let o = bench.reconcile_new_head(&mut rec);
        assert_eq!(
            (o.projects_rendered, o.projects_held.len()),
            (1, 0),
            "only team-0042 re-renders"
        );
        local.push(o.timings);
    }
    let m = median_of(&mut local);
    println!(
        "one-file change, 1 project   median {:>9.2?}  ({runs} runs; goal < {GOAL:?}: {})",
        m.total(),
        if m.total() < GOAL { "within" } else { "OVER" }
    );
    print_stages("  ", &m);

    let mut polls = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let o = rec.poll().expect("poll");
        polls.push(t0.elapsed());
        assert!(
            o.is_none(),
            "a poll without a new commit reconciles nothing"
        );
    }
    polls.sort();
    println!(
        "no-change poll (with fetch)  median {:>9.2?}  (renders nothing)",
        polls[polls.len() / 2]
    );

    let mut platform = Vec::new();
    let mut rendered = 0;
    for i in 0..runs.min(3) * usize::from(template) {
        bench.edit(
            TEMPLATE,
            "PYTHONUNBUFFERED: \"",
            &format!("PYTHONUNBUFFERED: \"{i}"),
        );
        let o = bench.reconcile_new_head(&mut rec);
        rendered = o.projects_rendered;
        platform.push(o.timings);
    }
    if platform.is_empty() {
        return;
    }
    let m = median_of(&mut platform);
    println!(
        "template change              median {:>9.2?}  {:>5.2}x cold (goal: <= 2x; {rendered} projects re-rendered)",
        m.total(),
        ratio(m.total())
    );
    print_stages("  ", &m);
}

/// The working directory the synthetic repository is written to and the loop's configuration.
struct Bench {
    src: PathBuf,
    cfg: Config,
}

impl Bench {
    fn new(root: &Path, shape: &Shape) -> Bench {
        let src = root.join("src");
        synth::write(shape, &src).expect("write the synthetic repository");
        let cache = root.join("cache");
        let repo = commit_directory(&src, &cache, "main").expect("commit the repository");
        Bench {
            src,
            cfg: Config {
                repo: repo.display().to_string(),
                branch: "main".into(),
                status_branch: "cubist/status".into(),
                cache_dir: cache,
                target_root: root.join("root"),
                author: Author::default(),
                push_status: false,
                metrics: None,
            },
        }
    }

    /// Replaces the first `from` in a file of the working directory.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.src.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }

    /// Commits the working directory, fetches it, and reconciles the new head (timed inside).
    fn reconcile_new_head(&self, rec: &mut Reconciler) -> Outcome {
        commit_directory(&self.src, &self.cfg.cache_dir, "main").expect("commit");
        rec.mirror().fetch(&["main"]).expect("fetch");
        let head = rec.mirror().head("main").expect("main exists");
        timed_reconcile(rec, head)
    }
}

/// The measured call, by name for `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect='*timed_reconcile*'`.
#[inline(never)]
fn timed_reconcile(rec: &mut Reconciler, head: git2::Oid) -> Outcome {
    rec.reconcile(head).expect("reconcile")
}

fn objects(o: &Outcome) -> usize {
    o.clusters.values().map(|c| c.desired.len()).sum()
}

/// The run with the median total.
fn median_of(runs: &mut [Timings]) -> Timings {
    runs.sort_by_key(Timings::total);
    runs[runs.len() / 2]
}

fn print_stages(indent: &str, t: &Timings) {
    for (stage, d) in t.stages() {
        println!("{indent}{stage:<10} {d:>9.2?}");
    }
}
