//! `cubist apply` as a process, twice on a copy of examples-repo: the first run writes the local
//! cluster's directory target, the second finds nothing to do.

mod common;
#[path = "../../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;
use common::cubist;
use std::path::Path;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn apply_twice_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    corpus::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
        &repo,
    );
    // The local cluster's target (`../rendered/local`) resolves to <tmp>/rendered/local.
    let out = dir.path().join("rendered/local");

    let first = cubist(&["apply", "--cluster", "local"], &repo);
    let text = stdout(&first);
    assert!(
        first.status.success(),
        "first apply failed: {}\n{text}\n{}",
        first.status,
        String::from_utf8_lossy(&first.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("cluster local:"))
        .unwrap_or_else(|| panic!("no counts line:\n{text}"));
    let created: usize = line
        .split("created ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect(line);
    assert!(created > 40, "{line}");
    assert!(line.contains("changed 0, deleted 0, unchanged 0"), "{line}");
    assert!(
        out.join("cubist-inventory.yaml").is_file(),
        "no inventory in {}",
        out.display()
    );
    assert!(
        out.join("recsys/argoproj.io_WorkflowTemplate_daily-ranker.yaml")
            .is_file()
    );

    let second = cubist(&["apply", "--cluster", "local"], &repo);
    let text = stdout(&second);
    assert!(
        second.status.success(),
        "second apply failed: {}\n{text}\n{}",
        second.status,
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        text.contains("created 0, changed 0, deleted 0"),
        "second apply is not a no-op:\n{text}"
    );
    assert!(text.contains(&format!("unchanged {created}")), "{text}");

    // `plan` agrees, and says so in JSON too.
    let plan = cubist(&["plan", "--cluster", "local", "--format", "json"], &repo);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&plan)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&plan)));
    assert_eq!(v["clusters"][0]["created"], 0, "{v}");
    assert_eq!(v["clusters"][0]["changed"], 0, "{v}");
    assert_eq!(v["clusters"][0]["deleted"], 0, "{v}");
    assert_eq!(v["clusters"][0]["unchanged"], created, "{v}");
}
