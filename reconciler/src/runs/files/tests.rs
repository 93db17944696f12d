use super::*;
use crate::runs::naming::Origin;
use chrono::DateTime;

/// Creates run file `name` (pipeline and day from it) of project `project`, with no cache.
fn made(root: &std::path::Path, project: &str, name: &str, day: u32) -> Result<bool> {
    let pipeline = name.split('-').next().unwrap();
    create(root, project, name, &body(pipeline, day), &Cache::default())
}

fn body(pipeline: &str, day: u32) -> Value {
    let at = DateTime::parse_from_rfc3339(&format!("2026-12-{day:02}T02:00:00+08:00")).unwrap();
    let name = format!("{pipeline}-202612{day:02}");
    crate::runs::workflow::body("p", pipeline, &name, at, &Origin::Schedule, 1, None)
}

#[test]
fn a_run_file_is_written_once_and_read_back_by_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(made(root, "p", "daily-20261201", 1).unwrap());
    assert!(
        !made(root, "p", "daily-20261201", 1).unwrap(),
        "never twice"
    );
    let got = list(root, "p", &Cache::default()).unwrap();
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
    made(&root, "p", "daily-20261201", 1).unwrap();
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
    let got = list(&root, "p", &Cache::default()).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!runs.join(format!("{TEMP_PREFIX}abc")).exists());
    // A runs directory that is a link is neither read nor written.
    std::os::unix::fs::symlink(&outside, root.join("q")).unwrap();
    assert!(list(&root, "q", &Cache::default()).is_err());
    assert!(made(&root, "q", "daily-20261202", 2).is_err());
    std::fs::create_dir(root.join("r")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("r/runs")).unwrap();
    assert!(list(&root, "r", &Cache::default()).is_err());
    assert!(made(&root, "r", "daily-20261202", 2).is_err());
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written outside"
    );
    assert!(list(&root, "..", &Cache::default()).is_err());
}

#[test]
fn prune_deletes_only_the_files_of_pipelines_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    made(root, "p", "daily-20261201", 1).unwrap();
    made(root, "p", "gone-20261201", 1).unwrap();
    std::fs::write(runs_dir(root, "p").join("notes.yaml"), "hello: world").unwrap();
    assert_eq!(
        prune(root, "p", |p| p == "daily", &Cache::default()).unwrap(),
        1
    );
    assert!(run_file(root, "p", "daily-20261201").exists());
    assert!(!run_file(root, "p", "gone-20261201").exists());
    assert!(runs_dir(root, "p").join("notes.yaml").exists());
    assert_eq!(prune(root, "p", |_| false, &Cache::default()).unwrap(), 1);
    assert!(runs_dir(root, "p").join("notes.yaml").exists());
}

#[test]
fn an_unchanged_file_is_not_parsed_again_and_an_edit_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    made(root, "p", "daily-20261201", 1).unwrap();
    let cache = Cache::default();
    let first = list(root, "p", &cache).unwrap();
    assert_eq!(cache.0.lock().unwrap().len(), 1);
    assert_eq!(list(root, "p", &cache).unwrap(), first);
    // An edit (another size) is read again: the status written into the file is seen.
    let path = run_file(root, "p", "daily-20261201");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("status: {phase: Failed}\n");
    std::fs::write(&path, text).unwrap();
    let again = list(root, "p", &cache).unwrap();
    assert_eq!(again[0]["status"]["phase"], "Failed");
}

/// A file the controller wrote is known to the cache as it was written, and that is what
/// reading the file would give: a pass that lists or prunes after creating parses nothing.
#[test]
fn a_created_file_is_kept_as_reading_it_would_give() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cache = Cache::default();
    let mut asked = body("daily", 1);
    // A `Run`'s spec may carry any arguments: numbers, quoted look-alikes, nesting.
    asked["spec"]["arguments"] = serde_json::json!({"parameters": [
        {"name": "lr", "value": 0.001}, {"name": "n", "value": "007"},
        {"name": "on", "value": "yes"}, {"name": "deep", "value": {"a": [1, [], {}]}}]});
    assert!(create(root, "p", "daily-20261201", &asked, &cache).unwrap());
    assert_eq!(cache.0.lock().unwrap().len(), 1);
    let kept = list(root, "p", &cache).unwrap();
    let fresh = list(root, "p", &Cache::default()).unwrap();
    assert_eq!(kept, fresh);
    assert_eq!(kept, [asked]);
}

/// A stamp a file had less than a second after it was written does not show an edit made
/// within the same timestamp tick with the same size: such a file is read again and its bytes
/// decide, even once the file is older (the cache believed the stamp alone before). A stamp
/// taken when the file was settled is believed alone.
#[test]
fn a_recent_stamp_is_checked_against_the_bytes_and_a_settled_one_is_believed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    made(root, "p", "daily-20261201", 1).unwrap();
    let path = run_file(root, "p", "daily-20261201");
    let on_disk = list(root, "p", &Cache::default()).unwrap();
    // What an edit within the tick leaves: the stamp kept, other bytes and object remembered.
    let stale = |settled: bool| {
        let cache = Cache::default();
        let mut old = on_disk[0].clone();
        old["status"] = serde_json::json!({"phase": "Running"});
        let known = Known {
            stamp: Stamp::of(&path.symlink_metadata().unwrap()),
            settled,
            bytes: Some(bytes_digest(b"the bytes before the edit")),
            body: Some(Arc::new(old.clone())),
        };
        cache.put(&path, known);
        (cache, old)
    };
    let (cache, _) = stale(false);
    assert_eq!(
        list(root, "p", &cache).unwrap(),
        on_disk,
        "the file as it is"
    );
    // An hour later (by its modification time) the stamp is settled, but it was not when
    // kept: the bytes still decide.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    assert!(Stamp::of(&path.symlink_metadata().unwrap()).settled());
    let (cache, _) = stale(false);
    assert_eq!(
        list(root, "p", &cache).unwrap(),
        on_disk,
        "the file as it is"
    );
    // Kept with a settled stamp: believed without a read.
    let (cache, old) = stale(true);
    assert_eq!(list(root, "p", &cache).unwrap(), [old]);
}
