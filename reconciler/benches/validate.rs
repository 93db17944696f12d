//! `cubist validate` on a synthetic repository of ~10,000 manifests: time to snapshot the
//! directory and load the model (median of 5), and peak RSS. Goal: under 1 s in release mode.
//!
//! `cargo bench -p cubist --bench validate` (release). Options after `--`:
//! `--projects N` (default 1000), `--runs N` (timed runs, default 5), `--dir DIR` (write the
//! repository there and keep it, e.g. to profile; default: a temporary directory).

use cubist::synth::{self, Shape};
use std::time::{Duration, Instant};

const GOAL: Duration = Duration::from_secs(1);

fn main() {
    let mut shape = Shape::default();
    let mut runs = 5usize;
    let mut keep: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--projects" => shape.projects = cubist::synth::flag_value(&mut args, "--projects"),
            "--runs" => runs = cubist::synth::flag_value(&mut args, "--runs"),
            "--dir" => keep = Some(args.next().expect("--dir DIR").into()),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let runs = runs.max(1);

    let temp = tempfile::tempdir().expect("tempdir");
    let root = keep.unwrap_or_else(|| temp.path().to_path_buf());
    let started = Instant::now();
    let files = synth::write(&shape, &root).expect("write synthetic repository");
    println!(
        "synthetic repository: {} files, {} manifests, written in {:.2?}",
        files,
        shape.manifests(),
        started.elapsed()
    );

    let mut snapshot_times = Vec::new();
    let mut load_times = Vec::new();
    let mut totals = Vec::new();
    let mut cpu = Vec::new();
    for i in 0..runs {
        let c0 = cpu_time();
        let t0 = Instant::now();
        let snapshot = cubist::source::snapshot_dir(&root).expect("snapshot");
        let t1 = Instant::now();
        let (model, diags) = cubist::model::load(&snapshot);
        let t2 = Instant::now();
        let c2 = cpu_time();
        if i == 0 {
            let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).take(5).collect();
            assert!(
                diags.is_empty(),
                "the synthetic repository must validate clean; first diagnostics: {errors:#?}"
            );
            assert_eq!(model.projects.len(), shape.projects);
        }
        drop((model, snapshot));
        snapshot_times.push(t1 - t0);
        load_times.push(t2 - t1);
        totals.push(t2 - t0);
        cpu.push(c2.saturating_sub(c0));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let total = median(&mut totals);
    println!(
        "snapshot_dir         median {:>9.2?}",
        median(&mut snapshot_times)
    );
    println!(
        "model::load          median {:>9.2?}",
        median(&mut load_times)
    );
    println!(
        "snapshot + load      median {:>9.2?}  (min {:.2?}, max {:.2?}, {runs} runs)",
        total,
        totals[0],
        totals[totals.len() - 1]
    );
    println!(
        "CPU time (user+sys)  median {:>9.2?}  ({} threads available; wall time suffers when other processes compete)",
        median(&mut cpu),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "per manifest                {:>9.2?}",
        total / shape.manifests() as u32
    );
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS (VmHWM)          {:>7.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS (VmHWM)          unavailable (no /proc/self/status)"),
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let verdict = if total < GOAL { "within" } else { "OVER" };
    println!("goal: < {GOAL:?} in release; this {profile} build is {verdict} it");
}

/// CPU time of the process so far, user + system (10 ms resolution).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (in parentheses, may hold spaces) start with `state`; utime
    // and stime are the 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// Peak resident set size in KiB (`VmHWM` of /proc/self/status).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
