use super::*;
use crate::runs::naming::Origin;
use chrono::DateTime;

fn body(pipeline: &str, day: u32) -> Value {
    let at = DateTime::parse_from_rfc3339(&format!("2026-12-{day:02}T02:00:00+08:00")).unwrap();
    let name = format!("{pipeline}-202612{day:02}");
    crate::runs::workflow::body("p", pipeline, &name, at, &Origin::Schedule, 1, None)
}

#[test]
fn a_run_file_is_written_once_and_read_back_by_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(create(root, "p", "daily-20261201", &body("daily", 1)).unwrap());
    assert!(
        !create(root, "p", "daily-20261201", &body("daily", 1)).unwrap(),
        "never twice"
    );
    let got = list(root, "p", &mut Cache::default()).unwrap();
    assert_eq!(got.len(), 1);
    let id = crate::runs::naming::identity(&got[0]).unwrap();
    assert_eq!((id.project.as_str(), id.pipeline.as_str()), ("p", "daily"));
    assert!(
        std::fs::read_to_string(run_file(root, "p", "daily-20261201"))
            .unwrap()
            .starts_with("# A run cubist admitted.")
    );
}

#[test]
fn hostile_files_are_skipped_links_refused_and_leftovers_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    create(&root, "p", "daily-20261201", &body("daily", 1)).unwrap();
    let runs = runs_dir(&root, "p");
    std::fs::write(runs.join("broken.yaml"), "a: [unclosed").unwrap();
    std::fs::write(
        runs.join("huge.yaml"),
        "x".repeat(MAX_FILE_BYTES as usize + 1),
    )
    .unwrap();
    std::fs::write(runs.join(format!("{TEMP_PREFIX}abc")), "half").unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.yaml"), "kind: Workflow").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), runs.join("link.yaml")).unwrap();
    let got = list(&root, "p", &mut Cache::default()).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!runs.join(format!("{TEMP_PREFIX}abc")).exists());
    // A runs directory that is a link is neither read nor written.
    std::os::unix::fs::symlink(&outside, root.join("q")).unwrap();
    assert!(list(&root, "q", &mut Cache::default()).is_err());
    assert!(create(&root, "q", "daily-20261202", &body("daily", 2)).is_err());
    std::fs::create_dir(root.join("r")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("r/runs")).unwrap();
    assert!(list(&root, "r", &mut Cache::default()).is_err());
    assert!(create(&root, "r", "daily-20261202", &body("daily", 2)).is_err());
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written outside"
    );
    assert!(list(&root, "..", &mut Cache::default()).is_err());
}

#[test]
fn prune_deletes_only_the_files_of_pipelines_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    create(root, "p", "daily-20261201", &body("daily", 1)).unwrap();
    create(root, "p", "gone-20261201", &body("gone", 1)).unwrap();
    std::fs::write(runs_dir(root, "p").join("notes.yaml"), "hello: world").unwrap();
    assert_eq!(
        prune(root, "p", |p| p == "daily", &mut Cache::default()).unwrap(),
        1
    );
    assert!(run_file(root, "p", "daily-20261201").exists());
    assert!(!run_file(root, "p", "gone-20261201").exists());
    assert!(runs_dir(root, "p").join("notes.yaml").exists());
    assert_eq!(
        prune(root, "p", |_| false, &mut Cache::default()).unwrap(),
        1
    );
    assert!(runs_dir(root, "p").join("notes.yaml").exists());
}

#[test]
fn an_unchanged_file_is_not_parsed_again_and_an_edit_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    create(root, "p", "daily-20261201", &body("daily", 1)).unwrap();
    let mut cache = Cache::default();
    let first = list(root, "p", &mut cache).unwrap();
    assert_eq!(cache.0.len(), 1);
    assert_eq!(list(root, "p", &mut cache).unwrap(), first);
    // An edit (another size) is read again: the status written into the file is seen.
    let path = run_file(root, "p", "daily-20261201");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("status: {phase: Failed}\n");
    std::fs::write(&path, text).unwrap();
    let again = list(root, "p", &mut cache).unwrap();
    assert_eq!(again[0]["status"]["phase"], "Failed");
}
