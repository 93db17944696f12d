//! Documents, YAML, tree access, cron words, next runs, DAG layout and formatting.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use cubist_status_ui::cron::{describe_cron, next_run};
use cubist_status_ui::dag::{layout, svg};
use cubist_status_ui::doc::*;
use cubist_status_ui::format::{relative, usage};
use cubist_status_ui::tree::{CORRUPT_STATUS_FILE, paths};
use cubist_status_ui::yaml::{from_yaml, to_yaml};
use cubist_status_ui::{PageOptions, StatusTree, render_page};

#[test]
fn fixture_documents_decode_with_the_contract_fields() {
    let tree = common::fixture();
    let s = tree.summary().unwrap().unwrap();
    assert_eq!(s.clusters.len(), 2);
    assert_eq!(s.clusters[0].counts.synced, 40);
    assert_eq!(s.clusters[0].health.progressing, 2);
    assert_eq!(s.clusters[0].changes.skipped, 30);
    assert_eq!(s.clusters[1].state, SyncState::Failed);
    assert_eq!(
        s.repo_url.as_deref(),
        Some("https://github.com/acme/platform")
    );
    let vision = &s.projects[1];
    assert_eq!(vision.state, ProjectState::Failed);
    assert_eq!(
        vision.errors[0],
        ErrorEntry {
            file: "projects/vision/pipelines/train.yaml".into(),
            line: 14,
            column: 11,
            code: "E0402".into(),
            message: "task cycle: train -> evaluate -> train".into(),
        }
    );

    let nlp = tree.project("nlp").unwrap().unwrap();
    assert_eq!(
        nlp.members[1],
        Member {
            user: "bob".into(),
            role: Role::Developer
        }
    );
    assert_eq!(nlp.quota[1].used, 103079215104.0);
    let daily = &nlp.pipelines[0];
    assert_eq!(daily.tasks.len(), 4);
    assert_eq!(daily.runs[1].phase, RunPhase::Succeeded);
    assert_eq!(
        daily
            .schedule
            .as_ref()
            .unwrap()
            .next_run
            .unwrap()
            .to_rfc3339(),
        "2026-11-23T02:00:00+08:00"
    );
    assert_eq!(nlp.services[0].health["prod-bj"], Health::Progressing);
    assert_eq!(nlp.services[0].versions[1].traffic, 10.0);

    let history = tree.history(10);
    assert_eq!(history.len(), 3);
    let newest = history[0].as_ref().unwrap();
    assert_eq!(newest.clusters[1].changes.skipped, 3);
    assert_eq!(newest.projects_skipped, 2);

    let objects = tree.cluster_objects("local");
    assert_eq!(objects.len(), 2, "inventory.yaml is not an object");
    assert_eq!(tree.inventory("local").unwrap().unwrap().objects.len(), 2);
    assert_eq!(tree.project_names(), ["nlp", "vision", "web"]);

    // The writer's paths are the ones the reader lists.
    let at = newest.reconciled_at.unwrap();
    let path = paths::history(at, &newest.revision);
    assert_eq!(path, "status/history/2026-11-22/100000-3f2a9c4.yaml");
    assert!(tree.get(&path).is_some());
    assert!(
        tree.get(&paths::object(
            "local",
            Some("nlp"),
            "CronWorkflow",
            "daily-ranker"
        ))
        .is_some()
    );
    assert!(
        tree.get(&paths::object("local", None, "Namespace", "nlp"))
            .is_some()
    );
}

#[test]
fn every_document_round_trips_through_yaml() {
    let tree = common::fixture();
    fn round<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        v: T,
    ) {
        let text = to_yaml(&v).expect("serialise");
        let back: T = from_yaml(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, v, "{text}");
        assert_eq!(to_yaml(&back).unwrap(), text, "deterministic output");
    }
    round(tree.summary().unwrap().unwrap());
    for p in tree.project_names() {
        round(tree.project(&p).unwrap().unwrap());
    }
    for h in tree.history(10) {
        round(h.unwrap());
    }
    for o in tree.cluster_objects("prod-bj") {
        round(o.unwrap());
    }
    round(tree.inventory("local").unwrap().unwrap());
}

#[test]
fn written_yaml_uses_contract_keys() {
    let s = Summary {
        revision: "abc".into(),
        reconciled_at: Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()),
        clusters: vec![ClusterStatus {
            name: "local".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let text = to_yaml(&s).unwrap();
    for key in [
        "reconciledAt:",
        "durationMs:",
        "counts:",
        "Synced:",
        "OutOfSync:",
        "Unreachable:",
        "Healthy:",
    ] {
        assert!(text.contains(key), "{key} missing in\n{text}");
    }
    assert!(text.contains("2026-11-22T10:00:00Z"), "{text}");
    assert!(!text.contains("repoUrl"), "None is omitted: {text}");
    let h = HistoryRecord {
        clusters: vec![HistoryCluster::default()],
        ..Default::default()
    };
    let text = to_yaml(&h).unwrap();
    assert!(
        text.contains("created: 0") && !text.contains("changes:"),
        "flattened: {text}"
    );
}

#[test]
fn missing_fields_default_and_unknown_phases_read_as_unknown() {
    let r: RunDigest = from_yaml(b"name: x\nphase: Omitted\nextra: 1\n").unwrap();
    assert_eq!(r.phase, RunPhase::Unknown);
    let s: Summary = from_yaml(b"revision: abc\n").unwrap();
    assert!(s.clusters.is_empty() && s.repo_url.is_none());
}

#[test]
fn corrupt_file_becomes_an_error_entry_and_the_page_still_renders() {
    let mut files = BTreeMap::new();
    files.insert(
        paths::SUMMARY.to_string(),
        b"clusters: [\n  {name: a,\n".to_vec(),
    );
    files.insert(paths::project("bad"), b"members: 12\n".to_vec());
    files.insert(
        "status/history/2026-11-22/100000-abc.yaml".into(),
        vec![0xff, 0xfe],
    );
    let tree = StatusTree::new(files);
    let e = tree.summary().unwrap().unwrap_err();
    assert_eq!(e.file, "status/summary.yaml");
    assert_eq!(e.code, CORRUPT_STATUS_FILE);
    assert_eq!((e.line, e.column), (2, 3), "{e:?}");
    assert_eq!(e.message, "unreadable status file: unclosed bracket '{'");
    let e = tree.project("bad").unwrap().unwrap_err();
    assert_eq!(e.file, "status/projects/bad.yaml");
    assert!(tree.history(5)[0].is_err());

    let now = common::now();
    for path in ["/", "/projects", "/projects/bad", "/history"] {
        let page = render_page(&tree, path, now, &PageOptions::default()).unwrap();
        assert_eq!(page.status, 200, "{path}");
        assert!(page.html.contains(CORRUPT_STATUS_FILE), "{path}");
    }
    let page = render_page(&tree, "/projects/bad", now, &PageOptions::default()).unwrap();
    assert!(page.html.contains("status/projects/bad.yaml"));
}

#[test]
fn cron_in_words() {
    let cases = [
        ("0 2 * * *", "at 02:00 every day"),
        ("*/15 * * * *", "every 15 minutes"),
        ("30 3 * * 1", "at 03:30 on Monday"),
        ("* * * * *", "every minute"),
        ("0 * * * *", "every hour"),
        ("5 */2 * * *", "every 2 hours at minute 5"),
        ("0 9 * * 1-5", "at 09:00 on weekdays"),
        (
            "0 9 * * MON,WED,FRI",
            "at 09:00 on Monday, Wednesday and Friday",
        ),
        ("0 0 1 * *", "at 00:00 on day 1 of every month"),
        ("0 6,18 * * *", "at 06:00 and 18:00 every day"),
        ("0 0 1 1 *", "at 00:00 on 1 January"),
        ("@daily", "at 00:00 every day"),
    ];
    for (cron, words) in cases {
        assert_eq!(describe_cron(cron).as_deref(), Some(words), "{cron}");
    }
    for raw in ["0-30/7 1-5 * * *", "0 2 * *", "5 4 L * *", "0 2 1 * 1"] {
        assert_eq!(describe_cron(raw), None, "{raw}");
    }
}

#[test]
fn next_run_in_the_schedule_timezone() {
    let now = common::now(); // Sunday 2026-11-22 10:03 UTC = 18:03 in Shanghai
    let t = next_run("0 2 * * *", "Asia/Shanghai", now).unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-23T02:00:00+08:00");
    let t = next_run("30 3 * * 1", "Europe/Berlin", now).unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-23T03:30:00+01:00");
    let t = next_run("*/15 * * * *", "", now).unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-22T10:15:00+00:00");
    assert!(next_run("0 2 * * *", "Mars/Olympus", now).is_none());
    assert!(next_run("not a cron", "UTC", now).is_none());
}

fn task(name: &str, after: &[&str]) -> TaskDigest {
    TaskDigest {
        name: name.into(),
        template: "container".into(),
        after: after.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn dag_layers_are_longest_paths() {
    // a → b → d, a → c, c → d, and e depends on the longest chain end d.
    let tasks = [
        task("a", &[]),
        task("b", &["a"]),
        task("c", &["a"]),
        task("d", &["b", "c"]),
        task("e", &["a", "d"]),
    ];
    let layers: Vec<usize> = layout(&tasks).iter().map(|p| p.0).collect();
    assert_eq!(layers, [0, 1, 1, 2, 3]);
    // Cycles and unknown dependencies do not hang or panic.
    let cyclic = [task("x", &["y"]), task("y", &["x"]), task("z", &["nope"])];
    assert_eq!(layout(&cyclic).len(), 3);
    let svg = svg(&cyclic).into_string();
    assert_eq!(svg.matches("<rect").count(), 3);
    assert_eq!(
        svg.matches("class=\"edge\"").count(),
        2,
        "unknown dependency draws no edge"
    );
}

#[test]
fn dag_svg_has_one_box_per_task_and_one_edge_per_dependency() {
    let tree = common::fixture();
    let nlp = tree.project("nlp").unwrap().unwrap();
    let tasks = &nlp.pipelines[0].tasks;
    let svg = svg(tasks).into_string();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("<rect").count(), tasks.len());
    let deps: usize = tasks.iter().map(|t| t.after.len()).sum();
    assert_eq!(deps, 4);
    assert_eq!(svg.matches("class=\"edge\"").count(), deps);
    for t in tasks {
        assert!(svg.contains(&format!(">{}</text>", t.name)));
    }
    // Layers 0, 1, 1, 2 → extract at x=8, clean/features at x=218, train at x=428.
    assert!(svg.contains("<rect x=\"8\" y=\"8\""));
    assert!(svg.contains("<rect x=\"218\" y=\"8\"") && svg.contains("<rect x=\"218\" y=\"70\""));
    assert!(svg.contains("<rect x=\"428\" y=\"8\""));
}

#[test]
fn formatting() {
    let now = common::now();
    assert_eq!(
        relative(now - chrono::Duration::minutes(3), now),
        "3 min ago"
    );
    assert_eq!(relative(now + chrono::Duration::hours(5), now), "in 5 h");
    assert_eq!(relative(now - chrono::Duration::days(3), now), "3 days ago");
    assert_eq!(relative(now, now), "just now");
    assert_eq!(
        usage(103079215104.0, 858993459200.0, "bytes"),
        "96 / 800 GiB"
    );
    assert_eq!(usage(0.5, 2.0, "cores"), "0.5 / 2 cores");
    assert_eq!(usage(4.0, 16.0, "gpus"), "4 / 16 gpus");
    assert_eq!(usage(3.0, 4.0, ""), "3 / 4");
}

/// The inventory the reconciler writes reads back whole on the page's side (one type): `source`
/// is kept, a cluster-level object has no project, and an entry naming no object makes the file
/// unreadable instead of being guessed at.
#[test]
fn inventory_entries_keep_source_and_absent_project() {
    let text = "objects:\n  - {apiVersion: v1, kind: Namespace, name: nlp, hash: \"sha256:aa\", source: projects/nlp/project.yaml}\n";
    let inventory: Inventory = from_yaml(text.as_bytes()).unwrap();
    let e = &inventory.objects[0];
    assert_eq!(
        (
            e.namespace.as_str(),
            e.project.as_deref(),
            e.source.as_str()
        ),
        ("", None, "projects/nlp/project.yaml")
    );
    assert_eq!(e.key_parts(), ["v1", "Namespace", "", "nlp"]);
    let back = to_yaml(&inventory).unwrap();
    assert!(!back.contains("project:"), "{back}");
    assert_eq!(from_yaml::<Inventory>(back.as_bytes()).unwrap(), inventory);
    assert!(from_yaml::<Inventory>(b"objects:\n  - {kind: Namespace, name: x}\n").is_err());
}
