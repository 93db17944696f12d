//! Validate + render of a synthetic repository of 500 projects (project, quota, 4 pipelines,
//! 4 services each; clusters without KServe, so a service is 2 Deployments + 2 HPAs + a Service):
//! 18,000 rendered objects. Prints wall time (median of 3) per stage, peak RSS and the object
//! count; then compares with `kubectl kustomize` building the same objects from a base (one
//! project's rendered objects) and one overlay per project (namespace, name prefix, labels).
//! Goals in release: validate + render under 1 s and RSS under 300 MB; ≥ 5× faster than kustomize.
//!
//! `cargo bench -p cubist --bench render`. Options after `--`:
//! `--projects N` (default 500), `--runs N` (default 3), `--kustomize-projects N` (default 50:
//! kustomize's time grows with the square of the overlays — 16 s for 50, 66 s for 100 on the
//! 2-core dev machine — so the comparison runs at that size, against cubist on a repository of
//! the same size), `--no-kustomize`, `--write-repo DIR` (only write the synthetic repository),
//! `--repo DIR` (measure a repository written by `--write-repo` instead of writing one: for
//! profilers, which then see only the measured work).

use cubist::render::{Blueprints, render};
use cubist::synth::{self, Shape};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const GOAL: Duration = Duration::from_secs(1);
const RSS_GOAL_MIB: f64 = 300.0;

fn main() {
    let mut projects = 500;
    let mut runs = 3usize;
    let mut kustomize_projects = Some(50);
    let mut write_repo: Option<PathBuf> = None;
    let mut given_repo: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--projects" => projects = cubist::synth::flag_value(&mut args, "--projects"),
            "--runs" => runs = cubist::synth::flag_value(&mut args, "--runs"),
            "--kustomize-projects" => {
                kustomize_projects =
                    Some(cubist::synth::flag_value(&mut args, "--kustomize-projects"))
            }
            "--no-kustomize" => kustomize_projects = None,
            "--write-repo" => write_repo = Some(args.next().expect("--write-repo DIR").into()),
            "--repo" => given_repo = Some(args.next().expect("--repo DIR").into()),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let runs = runs.max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(r) = write_repo {
        write_synthetic(projects, &r);
        println!(
            "wrote the synthetic repository ({projects} projects) to {}",
            r.display()
        );
        return;
    }

    let repo = match given_repo {
        Some(repo) => {
            println!("repository: {}", repo.display());
            repo
        }
        None => {
            let repo = dir.path().join("repo");
            let shape = write_synthetic(projects, &repo);
            println!(
                "synthetic repository: {projects} projects, {} manifests",
                shape.manifests()
            );
            repo
        }
    };
    reset_peak_rss();
    let m = measure(&repo, runs);
    let rss = m.first_rss_kib.map(|k| k as f64 / 1024.0);
    let rss_all = peak_rss_kib().map(|k| k as f64 / 1024.0);
    println!(
        "rendered objects           {} ({:.1} MiB of YAML; kept as {:.1} MiB of JSON text)",
        m.objects,
        m.yaml_bytes as f64 / 1048576.0,
        m.text_bytes as f64 / 1048576.0
    );
    println!("snapshot_dir        median {:>9.2?}", m.snapshot);
    println!("model::load         median {:>9.2?}", m.load);
    println!("render::render      median {:>9.2?}", m.render);
    println!(
        "validate + render   median {:>9.2?}  (min {:.2?}, max {:.2?}, {runs} runs)",
        m.total, m.min, m.max
    );
    println!(
        "  first run                {:>9.2?}  (no skeletons cached yet, as in one CLI run)",
        m.first
    );
    if let Some(cpu) = m.cpu {
        println!(
            "  CPU time, all threads    median {cpu:>9.2?}  (wall on 2 idle cores is at least half of it)"
        );
    }
    println!("to_yaml (all)       median {:>9.2?}", m.yaml);
    match rss {
        Some(mib) => println!(
            "peak RSS (VmHWM)           {mib:.1} MiB (first run: validate + render + to_yaml); {:.1} MiB over all runs, which can hold a run's memory the allocator has not given back yet",
            rss_all.unwrap_or(f64::NAN)
        ),
        None => println!("peak RSS (VmHWM)           unavailable"),
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "goal: < {GOAL:?} and < {RSS_GOAL_MIB} MiB in release; this {profile} build is {} the time goal and {} the memory goal",
        if m.total < GOAL { "within" } else { "OVER" },
        match rss {
            Some(m) if m < RSS_GOAL_MIB => "within",
            Some(_) => "OVER",
            None => "unsure of",
        }
    );

    let Some(k_projects) = kustomize_projects else {
        return;
    };
    let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let Some(kubectl) = kubectl else {
        println!("kustomize comparison skipped: kubectl not found");
        return;
    };
    // cubist on a repository of the same size as the kustomize tree.
    let cubist = if k_projects == projects {
        m
    } else {
        let small = dir.path().join("repo-small");
        write_synthetic(k_projects, &small);
        measure(&small, runs)
    };
    let root = dir.path().join("kustomize");
    let expected = write_kustomize_tree(&root, &cubist.first_project, k_projects);
    let mut times = Vec::new();
    let mut k_objects = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = Command::new(kubectl)
            .arg("kustomize")
            .arg(&root)
            .output()
            .expect("run kubectl kustomize");
        times.push(t0.elapsed());
        if !out.status.success() {
            println!(
                "kustomize comparison skipped: kubectl kustomize failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        k_objects = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("kind: "))
            .count();
    }
    let k = median(&mut times);
    println!(
        "kubectl kustomize   median {k:>9.2?}  ({k_objects} objects, expected {expected}: base of {} objects × {k_projects} overlays)",
        cubist.first_project.len()
    );
    println!(
        "cubist, same size   median {:>9.2?}  ({} objects, validate + render)",
        cubist.total, cubist.objects
    );
    println!(
        "cubist is {:.0}x faster than kustomize at {} objects (goal ≥ 5x)",
        k.as_secs_f64() / cubist.total.as_secs_f64(),
        cubist.objects
    );
}

/// The synthetic repository with KServe taken off every cluster.
fn write_synthetic(projects: usize, dir: &Path) -> Shape {
    let shape = Shape {
        projects,
        pipelines_per_project: 4,
        services_per_project: 4,
        runs_per_project: 0,
        clusters: 4,
    };
    for (path, text) in synth::files(&shape) {
        let text = if path.starts_with("clusters/") {
            text.replace("kserve, ", "")
        } else {
            text
        };
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    shape
}

struct Measured {
    objects: usize,
    yaml_bytes: usize,
    /// Bytes of the bodies' JSON text, as the render keeps them.
    text_bytes: usize,
    snapshot: Duration,
    load: Duration,
    render: Duration,
    yaml: Duration,
    total: Duration,
    /// Validate + render of the first run: a process that renders once (the CLI) sees this,
    /// with no skeleton cached yet.
    first: Duration,
    /// Peak RSS in KiB at the end of the first run, if /proc tells it.
    first_rss_kib: Option<u64>,
    /// CPU time (user + system, all threads) of validate + render, if /proc tells it.
    cpu: Option<Duration>,
    min: Duration,
    max: Duration,
    /// The first project's objects as YAML (the kustomize base).
    first_project: Vec<String>,
}

/// Snapshot + load (validate) + render, `runs` times; medians.
fn measure(repo: &Path, runs: usize) -> Measured {
    let blueprints = Blueprints::embedded().expect("blueprints");
    let (mut snap_t, mut load_t, mut render_t, mut yaml_t, mut totals, mut cpus) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut objects, mut yaml_bytes, mut text_bytes, mut first_project) = (0, 0, 0, Vec::new());
    let mut first_rss_kib = None;
    for i in 0..runs {
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let snapshot = cubist::source::snapshot_dir(repo).expect("snapshot");
        let t1 = Instant::now();
        let (model, diags) = cubist::model::load(&snapshot);
        let t2 = Instant::now();
        assert!(
            !diags.iter().any(|d| d.is_error()),
            "synthetic repository does not validate: {:#?}",
            diags.iter().take(5).collect::<Vec<_>>()
        );
        let sets = render(&model, &blueprints).expect("render");
        let t3 = Instant::now();
        if let (Some(a), Some(b)) = (cpu0, cpu_time()) {
            cpus.push(b - a);
        }
        // Each object's YAML, as a target writes them: one at a time.
        let bytes: usize = sets
            .values()
            .flat_map(|s| &s.objects)
            .map(|o| o.body.to_yaml().len())
            .sum();
        let t4 = Instant::now();
        if i == 0 {
            first_rss_kib = peak_rss_kib();
            objects = sets.values().map(|s| s.objects.len()).sum();
            yaml_bytes = bytes;
            text_bytes = sets
                .values()
                .flat_map(|s| &s.objects)
                .map(|o| o.body.text().len())
                .sum();
            let p = model.projects.keys().next().expect("a project").clone();
            first_project = sets
                .values()
                .flat_map(|s| &s.objects)
                .filter(|o| o.project.as_deref() == Some(&p))
                .map(|o| o.body.to_yaml())
                .collect();
        }
        drop((sets, model, snapshot));
        snap_t.push(t1 - t0);
        load_t.push(t2 - t1);
        render_t.push(t3 - t2);
        yaml_t.push(t4 - t3);
        totals.push(t3 - t0);
    }
    let first = totals[0];
    let total = median(&mut totals);
    Measured {
        first,
        first_rss_kib,
        objects,
        yaml_bytes,
        text_bytes,
        snapshot: median(&mut snap_t),
        load: median(&mut load_t),
        render: median(&mut render_t),
        yaml: median(&mut yaml_t),
        total,
        cpu: (cpus.len() == runs).then(|| median(&mut cpus)),
        min: totals[0],
        max: totals[totals.len() - 1],
        first_project,
    }
}

/// base/ holds one project's rendered objects; overlays/<p>/ sets namespace, name prefix and
/// labels for each project; the root kustomization lists every overlay. Returns the object count.
fn write_kustomize_tree(root: &Path, base_objects: &[String], projects: usize) -> usize {
    let base = root.join("base");
    std::fs::create_dir_all(&base).expect("mkdir base");
    let mut resources = String::from("resources:\n");
    for (i, text) in base_objects.iter().enumerate() {
        let name = format!("object-{i:03}.yaml");
        std::fs::write(base.join(&name), text).expect("write base object");
        resources += &format!("- {name}\n");
    }
    std::fs::write(base.join("kustomization.yaml"), resources).expect("write base kustomization");
    let mut top = String::from("resources:\n");
    for p in 0..projects {
        let name = format!("team-{p:04}");
        let overlay = root.join("overlays").join(&name);
        std::fs::create_dir_all(&overlay).expect("mkdir overlay");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            format!(
                "resources:\n- ../../base\nnamespace: {name}\nnamePrefix: p{p:04}-\nlabels:\n- pairs:\n    cubist.dev/project: {name}\n    cubist.dev/overlay: {name}\n  includeSelectors: false\n  includeTemplates: true\ncommonAnnotations:\n  cubist.dev/revision: synthetic\n"
            ),
        )
        .expect("write overlay");
        top += &format!("- overlays/{name}\n");
    }
    std::fs::write(root.join("kustomization.yaml"), top).expect("write root kustomization");
    base_objects.len() * projects
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak measures validate + render only.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of the process so far, all threads (utime + stime of /proc/self/stat, in the
/// kernel's fixed 100 ticks per second).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3: utime is 14.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Peak resident set size in KiB (`VmHWM` of /proc/self/status).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
