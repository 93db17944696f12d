//! `cubist validate` as a process: exit codes, `--format json`, and the corpus cases'
//! locations in both output formats.

mod common;
#[path = "../../tests/support/corpus.rs"]
mod corpus;

use common::cubist;
use serde_json::Value;
use std::path::Path;

fn validate_json(repo: &Path) -> (i32, Vec<Value>) {
    let out = cubist(&["validate", "--format", "json"], repo);
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--format json is not JSON ({e}):\n{stdout}"));
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("--format json is not an array:\n{stdout}"))
        .clone();
    for item in &items {
        assert!(item["file"].is_string(), "{item}");
        assert!(item["line"].is_u64() && item["column"].is_u64(), "{item}");
        assert!(
            matches!(item["severity"].as_str(), Some("error" | "warning")),
            "{item}"
        );
        assert!(
            item["code"].as_str().is_some_and(|c| c.len() == 5),
            "{item}"
        );
        assert!(
            item["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{item}"
        );
    }
    (out.status.code().expect("exit code"), items)
}

#[test]
fn clean_repositories_exit_0() {
    let base = corpus::base();
    for repo in [base.path(), &corpus::examples_repo()] {
        let out = cubist(&["validate"], repo);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        let (code, items) = validate_json(repo);
        assert_eq!((code, items.len()), (0, 0), "{}: {items:?}", repo.display());
    }
}

#[test]
fn missing_directory_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-repo");
    let out = cubist(&["validate"], &missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-repo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cubist(&["validate", "--format", "json"], &missing);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_corpus_case_through_the_binary() {
    let mut failures = Vec::new();
    for case in corpus::cases() {
        let e = corpus::expect(&case);
        let repo = corpus::materialize(&case);
        let (code, items) = validate_json(repo.path());
        let expected_exit = if e.severity == "error" { 1 } else { 0 };
        let errors = items.iter().filter(|i| i["severity"] == "error").count();
        let hit = items.iter().any(|i| {
            i["code"] == e.code.as_str()
                && i["file"] == e.file.as_str()
                && i["line"] == e.line
                && i["column"] == e.column
                && i["help"].is_string()
        });
        if code != expected_exit || errors != usize::from(e.severity == "error") || !hit {
            failures.push(format!("  {case}: exit {code} (want {expected_exit}), {errors} error(s), expected {} at {}:{}:{}: {items:?}", e.code, e.file, e.line, e.column));
        }
        // The text report shows the same location.
        let out = cubist(&["validate"], repo.path());
        let text = String::from_utf8_lossy(&out.stdout);
        let loc = if e.line == 0 {
            e.file.clone()
        } else {
            format!("{}:{}:{}", e.file, e.line, e.column)
        };
        if out.status.code() != Some(expected_exit)
            || !text.contains(&format!("[{}]", e.code))
            || !text.contains(&loc)
        {
            failures.push(format!(
                "  {case}: text report lacks [{}] at {loc}:\n{text}",
                e.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn empty_file_is_an_error_and_exits_1() {
    let repo = corpus::materialize("empty-file");
    let (code, items) = validate_json(repo.path());
    assert_eq!(code, 1, "{items:?}");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (items[0]["severity"].as_str(), items[0]["code"].as_str()),
        (Some("error"), Some("E0009"))
    );
}
