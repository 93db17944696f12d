//! The broken-repo corpus: every case plants one error in a copy of `tests/corpus/_base` and must
//! produce exactly that diagnostic — once, at the right file:line:col, with a help that names the
//! fix. See `tests/support/corpus.rs` for the layout of a case.

use cubist::diag::{Diagnostic, Severity, codes};
use cubist_tests::corpus::{self, Expect};
use std::collections::BTreeSet;
use std::path::Path;

fn validate(repo: &Path) -> Vec<Diagnostic> {
    let snapshot = cubist::source::snapshot_dir(repo)
        .unwrap_or_else(|e| panic!("snapshot {}: {e:#}", repo.display()));
    cubist::model::load(&snapshot).1
}

fn show(diags: &[&Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| {
            format!(
                "\n      {} {}:{}:{} {}",
                d.code, d.file, d.line, d.column, d.message
            )
        })
        .collect()
}

/// Checks one case; returns what is wrong with it.
fn check(e: &Expect, diags: &[Diagnostic]) -> Result<(), String> {
    let severity = if e.severity == "warning" {
        Severity::Warning
    } else {
        Severity::Error
    };
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    let found: Vec<&Diagnostic> = diags.iter().filter(|d| d.severity == severity).collect();
    match severity {
        Severity::Error if errors.len() != 1 => {
            return Err(format!(
                "expected exactly 1 error ({}), got {}:{}",
                e.code,
                errors.len(),
                show(&errors)
            ));
        }
        Severity::Warning if !errors.is_empty() => {
            return Err(format!("expected no error, got:{}", show(&errors)));
        }
        Severity::Warning if found.iter().filter(|d| d.code == e.code).count() != 1 => {
            return Err(format!(
                "expected warning {} once, got:{}",
                e.code,
                show(&found)
            ));
        }
        _ => {}
    }
    let d = found
        .iter()
        .find(|d| d.code == e.code)
        .ok_or_else(|| format!("expected {}, got:{}", e.code, show(&found)))?;
    let mut problems = Vec::new();
    if (d.file.as_str(), d.line, d.column) != (e.file.as_str(), e.line, e.column) {
        problems.push(format!(
            "at {}:{}:{}, expected {}:{}:{}",
            d.file, d.line, d.column, e.file, e.line, e.column
        ));
    }
    for m in &e.message_contains {
        if !d.message.contains(m.as_str()) {
            problems.push(format!("message {:?} lacks {m:?}", d.message));
        }
    }
    match &d.help {
        None => problems.push("no help".into()),
        Some(h) if h.trim().is_empty() => problems.push("empty help".into()),
        Some(h) => {
            for m in &e.help_contains {
                if !h.contains(m.as_str()) {
                    problems.push(format!("help {h:?} lacks {m:?}"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", d.code, problems.join("; ")))
    }
}

#[test]
fn base_repo_is_clean() {
    let base = corpus::base();
    let diags = validate(base.path());
    assert!(
        diags.is_empty(),
        "tests/corpus/_base must validate without any diagnostic:{}",
        show(&diags.iter().collect::<Vec<_>>())
    );
}

#[test]
fn examples_repo_is_clean() {
    let diags = validate(&corpus::examples_repo());
    assert!(
        diags.is_empty(),
        "examples-repo must validate without any diagnostic:{}",
        show(&diags.iter().collect::<Vec<_>>())
    );
}

#[test]
fn every_case_reports_its_error_once_at_the_right_place() {
    let cases = corpus::cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let e = corpus::expect(case);
        let repo = corpus::materialize(case);
        if let Err(why) = check(&e, &validate(repo.path())) {
            failures.push(format!("  {case} ({}): {why}", e.covers));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn json_report_of_every_case_is_a_valid_array() {
    for case in corpus::cases() {
        let repo = corpus::materialize(&case);
        let diags = validate(repo.path());
        let text = cubist::report::diagnostics::render_json(&diags);
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{case}: JSON report does not parse: {e}\n{text}"));
        let items = v
            .as_array()
            .unwrap_or_else(|| panic!("{case}: JSON report is not an array"));
        assert_eq!(items.len(), diags.len(), "{case}");
        for item in items {
            for field in [
                "file", "line", "column", "severity", "code", "message", "help",
            ] {
                assert!(
                    item.get(field).is_some(),
                    "{case}: `{field}` missing in {item}"
                );
            }
        }
    }
}

#[test]
fn every_code_is_covered_by_a_case() {
    let known: BTreeSet<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    let mut covered = BTreeSet::new();
    for case in corpus::cases() {
        let e = corpus::expect(&case);
        assert!(
            known.contains(e.code.as_str()),
            "{case}: `{}` is not a diagnostic code",
            e.code
        );
        covered.insert(e.code);
    }
    // Reported by the reconcile loop when cubist itself fails, never by validation.
    let loop_only = [codes::INTERNAL];
    let missing: Vec<&str> = known
        .iter()
        .copied()
        .filter(|c| !covered.contains(*c) && !loop_only.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a corpus case: {missing:?}"
    );
}

#[test]
fn alias_bomb_is_rejected_with_e0007() {
    let repo = corpus::materialize("alias-bomb");
    let started = std::time::Instant::now();
    let diags = validate(repo.path());
    eprintln!("alias bomb rejected in {:?}", started.elapsed());
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    assert_eq!(errors[0].code, codes::ALIAS_LIMIT);
}

#[test]
fn oversized_file_is_rejected_without_being_parsed() {
    let repo = corpus::materialize("too-large");
    let e = corpus::expect("too-large");
    let (path, bytes) = e.generate.clone().expect("too-large generates its file");
    let size = std::fs::metadata(repo.path().join(&path))
        .expect("generated file")
        .len();
    assert!(size >= bytes, "generated {size} bytes, wanted {bytes}");
    let diags = validate(repo.path());
    assert!(
        diags
            .iter()
            .any(|d| d.code == codes::TOO_LARGE && d.file == path),
        "{}",
        show(&diags.iter().collect::<Vec<_>>())
    );
}
