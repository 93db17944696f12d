//! The broken-repo corpus (`tests/corpus/`).
//!
//! `_base/` is a minimal valid repository. Every other directory is a case: the files it
//! overrides or adds on top of `_base/`, and an `expect.json` naming the one diagnostic the case
//! must produce:
//!
//! ```json
//! {"covers": "what is planted", "code": "E0402", "file": "projects/p/pipelines/daily.yaml",
//!  "line": 15, "column": 15, "message_contains": ["extract → train"], "help_contains": ["…"],
//!  "severity": "warning", "delete": ["projects/p/quota.yaml"],
//!  "generate": {"path": "projects/p/pipelines/huge.yaml", "bytes": 52428800},
//!  "symlink": {"path": "projects/p/pipelines/moved.yaml", "target": "gone.yaml"}}
//! ```
//! `severity` defaults to `error`; `delete` removes base files; `generate` writes a large file
//! at run time (so that no large file is committed); `symlink` makes a symbolic link at run
//! time (unix only; git checkouts do not keep links everywhere).
//!
//! This file only uses std, serde_json and tempfile: `reconciler/tests/cli.rs` includes it with
//! `#[path]` (the binary's path is only known to tests of the `cubist` package).

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a case must produce.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Case directory name.
    pub case: String,
    /// What the case plants, for people.
    pub covers: String,
    /// Diagnostic code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: String,
    /// Repository-relative file.
    pub file: String,
    /// 1-based line (0 for the whole file).
    pub line: usize,
    /// 1-based column (0 for the whole file).
    pub column: usize,
    /// Substrings of the message.
    pub message_contains: Vec<String>,
    /// Substrings of the help.
    pub help_contains: Vec<String>,
    /// Base files the case removes.
    pub delete: Vec<String>,
    /// A file generated at run time: `(path, size in bytes)`.
    pub generate: Option<(String, u64)>,
    /// A symbolic link made at run time: `(path, target)`.
    pub symlink: Option<(String, String)>,
}

/// `tests/corpus/`, found from the package running the tests (`tests/` or `reconciler/`).
pub fn corpus_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [manifest.join("corpus"), manifest.join("../tests/corpus")]
        .into_iter()
        .find(|d| d.join("_base").is_dir())
        .expect("tests/corpus/_base not found")
}

/// `examples-repo/` at the workspace root.
pub fn examples_repo() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.join("../examples-repo")
}

/// The names of every case, sorted (directories not starting with `_` or `.`).
pub fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("list tests/corpus")
        .map(|e| e.expect("corpus entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Reads a case's `expect.json`; panics with the case name on any mistake in it.
pub fn expect(case: &str) -> Expect {
    let path = corpus_dir().join(case).join("expect.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{case}: cannot read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{case}: expect.json is not JSON: {e}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{case}: expect.json is not an object"));
    const KEYS: &[&str] = &[
        "covers",
        "code",
        "severity",
        "file",
        "line",
        "column",
        "message_contains",
        "help_contains",
        "delete",
        "generate",
        "symlink",
    ];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        panic!(
            "{case}: unknown key `{k}` in expect.json (keys: {})",
            KEYS.join(", ")
        );
    }
    let string = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let number = |k: &str| {
        obj.get(k)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{case}: expect.json needs a number `{k}`")) as usize
    };
    let strings = |k: &str| -> Vec<String> {
        obj.get(k)
            .map(|v| {
                v.as_array()
                    .unwrap_or_else(|| panic!("{case}: `{k}` must be a list"))
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .unwrap_or_else(|| panic!("{case}: `{k}` must hold strings"))
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let generate = obj.get("generate").map(|g| {
        let path = g
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{case}: generate.path"));
        let bytes = g
            .get("bytes")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{case}: generate.bytes"));
        (path.to_string(), bytes)
    });
    let pair = |k: &str, a: &str, b: &str| {
        obj.get(k).map(|v| {
            let field = |f: &str| {
                v.get(f)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{case}: {k}.{f}"))
                    .to_string()
            };
            (field(a), field(b))
        })
    };
    let severity = string("severity").unwrap_or_else(|| "error".into());
    assert!(
        severity == "error" || severity == "warning",
        "{case}: severity must be error or warning"
    );
    Expect {
        case: case.to_string(),
        covers: string("covers").unwrap_or_default(),
        code: string("code").unwrap_or_else(|| panic!("{case}: expect.json needs `code`")),
        severity,
        file: string("file").unwrap_or_else(|| panic!("{case}: expect.json needs `file`")),
        line: number("line"),
        column: number("column"),
        message_contains: strings("message_contains"),
        help_contains: strings("help_contains"),
        delete: strings("delete"),
        generate,
        symlink: pair("symlink", "path", "target"),
    }
}

/// Copies `from` into `to` recursively (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display()))
    {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// A temporary repository: `_base/`, with the case's files laid over it, its `delete`s removed
/// and its `generate`d file written. The directory is deleted when the value is dropped.
pub fn materialize(case: &str) -> tempfile::TempDir {
    let expect = expect(case);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&corpus_dir().join("_base"), dir.path());
    overlay(&corpus_dir().join(case), dir.path());
    for rel in &expect.delete {
        let path = dir.path().join(rel);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{case}: cannot delete {rel}: {e}"));
    }
    if let Some((rel, bytes)) = &expect.generate {
        write_large_manifest(&dir.path().join(rel), *bytes);
    }
    if let Some((rel, target)) = &expect.symlink {
        #[cfg(unix)]
        std::os::unix::fs::symlink(target, dir.path().join(rel))
            .unwrap_or_else(|e| panic!("{case}: cannot make the link {rel}: {e}"));
        #[cfg(not(unix))]
        panic!("{case}: links ({rel} → {target}) are made on unix only");
    }
    dir
}

/// The base repository alone, in a temporary directory.
pub fn base() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&corpus_dir().join("_base"), dir.path());
    dir
}

fn overlay(case_dir: &Path, to: &Path) {
    for entry in std::fs::read_dir(case_dir).expect("list case") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
            overlay(&entry.path(), &target);
        } else if kind.is_file() && entry.file_name() != "expect.json" {
            std::fs::copy(entry.path(), &target).expect("copy case file");
        }
    }
}

/// Writes a syntactically valid YAML file of at least `bytes` bytes (a manifest header and
/// comment lines), in 1 MiB chunks.
pub fn write_large_manifest(path: &Path, bytes: u64) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create large file"));
    out.write_all(b"apiVersion: cubist.dev/v1alpha1\nkind: Pipeline\n")
        .expect("write");
    let line = format!("# {}\n", "padding ".repeat(8));
    let chunk = line.repeat((1 << 20) / line.len());
    let mut written = 0u64;
    while written < bytes {
        out.write_all(chunk.as_bytes()).expect("write");
        written += chunk.len() as u64;
    }
    out.flush().expect("flush");
}
