//! Render time of the overview and a project page for a 500-project status tree (prints figures).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cubist_status_ui::doc::*;
use cubist_status_ui::tree::paths;
use cubist_status_ui::yaml::to_yaml;
use cubist_status_ui::{PageOptions, StatusTree, render_page};

const PROJECTS: usize = 500;
const RUNS: usize = 21;

fn tree() -> StatusTree {
    let sha = "3f2a9c4e5b6d7f8091a2b3c4d5e6f708192a3b4c".to_string();
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let mut files = BTreeMap::new();
    let clusters: Vec<ClusterStatus> = ["local", "prod-bj", "prod-sh"]
        .iter()
        .map(|c| ClusterStatus {
            name: c.to_string(),
            target: format!("kubernetes {c}"),
            state: SyncState::Synced,
            revision: sha.clone(),
            applied_at: Some(at),
            counts: StateCounts {
                synced: 4000,
                out_of_sync: 12,
                failed: 3,
                unreachable: 0,
                held: 0,
                not_configured: 0,
            },
            ..Default::default()
        })
        .collect();
    let mut projects = Vec::new();
    for i in 0..PROJECTS {
        let name = format!("project-{i:03}");
        let failed = i % 25 == 0;
        let errors = if failed {
            vec![ErrorEntry {
                file: format!("projects/{name}/pipelines/p0.yaml"),
                line: 14,
                column: 11,
                code: "E0402".into(),
                message: "task cycle".into(),
            }]
        } else {
            vec![]
        };
        projects.push(ProjectStatus {
            name: name.clone(),
            display_name: format!("Team {i}"),
            state: if failed {
                ProjectState::Failed
            } else {
                ProjectState::Ready
            },
            revision: sha.clone(),
            errors,
        });
        let digest = ProjectDigest {
            name: name.clone(),
            display_name: format!("Team {i}"),
            members: (0..8)
                .map(|m| Member {
                    user: format!("user{m}"),
                    role: Role::Developer,
                })
                .collect(),
            clusters: vec!["local".into(), "prod-bj".into()],
            quota: ["local", "prod-bj"]
                .iter()
                .flat_map(|c| {
                    [
                        ("cpu", "cores", 200.0),
                        ("memory", "bytes", 8e11),
                        ("gpu/a100", "gpus", 16.0),
                    ]
                    .map(|(r, u, l)| QuotaRow {
                        cluster: c.to_string(),
                        resource: r.into(),
                        used: l / 3.0,
                        limit: l,
                        unit: u.into(),
                    })
                })
                .collect(),
            pipelines: (0..10)
                .map(|p| PipelineDigest {
                    name: format!("p{p}"),
                    file: format!("projects/{name}/pipelines/p{p}.yaml"),
                    schedule: Some(Schedule {
                        cron: "0 2 * * *".into(),
                        timezone: "Asia/Shanghai".into(),
                        ..Default::default()
                    }),
                    tasks: (0..6)
                        .map(|t| TaskDigest {
                            name: format!("t{t}"),
                            template: "container".into(),
                            after: if t == 0 {
                                vec![]
                            } else {
                                vec![format!("t{}", t / 2)]
                            },
                        })
                        .collect(),
                    runs: (0..5)
                        .map(|r| RunDigest {
                            name: format!("run{r}"),
                            cluster: "local".into(),
                            date: None,
                            phase: RunPhase::Succeeded,
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            services: (0..5)
                .map(|s| ServiceDigest {
                    name: format!("svc{s}"),
                    versions: vec![
                        ServiceVersion {
                            name: "v1".into(),
                            model: "s3://m/1".into(),
                            traffic: 80.0,
                        },
                        ServiceVersion {
                            name: "v2".into(),
                            model: "s3://m/2".into(),
                            traffic: 20.0,
                        },
                    ],
                    replicas: Some(Replicas { min: 1, max: 4 }),
                    health: [("local".to_string(), Health::Healthy)].into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        files.insert(
            paths::project(&name),
            to_yaml(&digest).unwrap().into_bytes(),
        );
    }
    let summary = Summary {
        revision: sha.clone(),
        reconciled_at: Some(at),
        duration_ms: 4120,
        author: "alice <alice@example.com>".into(),
        message: "bench".into(),
        repo_url: Some("https://github.com/acme/platform".into()),
        clusters,
        projects,
        errors: vec![],
        next_run_due: None,
    };
    files.insert(
        paths::SUMMARY.into(),
        to_yaml(&summary).unwrap().into_bytes(),
    );
    StatusTree::new(files)
}

fn median(path: &str, tree: &StatusTree) -> (Duration, usize) {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 3, 0).unwrap();
    let opts = PageOptions::default();
    let mut times = Vec::with_capacity(RUNS);
    let mut size = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let page = render_page(tree, path, now, &opts).expect("page");
        times.push(start.elapsed());
        size = page.html.len();
    }
    times.sort();
    (times[RUNS / 2], size)
}

fn main() {
    let tree = tree();
    let bytes: usize = tree.files().values().map(Vec::len).sum();
    println!(
        "status tree: {PROJECTS} projects, {} files, {} KiB",
        tree.files().len(),
        bytes / 1024
    );
    for path in [
        "/",
        "/projects",
        "/projects/project-250",
        "/projects/project-250/pipelines/p3",
    ] {
        let (t, size) = median(path, &tree);
        println!(
            "{path:<40} median {:>8.2} ms over {RUNS} runs ({} KiB html)",
            t.as_secs_f64() * 1000.0,
            size / 1024
        );
    }
}
