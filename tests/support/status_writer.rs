//! A status-branch writer, as a reconciler is one: run as threads by `tests/status_cas.rs` and
//! as processes through the `status-cas-writer` binary, which reports its writes on stdout.

use cubist::report::status_branch::{Author, StatusFile, StatusFiles, Written, write_status};
use git2::{Oid, Repository};

/// The status branch the writers share.
pub const BRANCH: &str = "cubist/status";

/// One writer's successful writes: the commit and the round it wrote.
pub type Writes = Vec<(Oid, usize)>;

/// Writer `w`: `rounds` status commits through `url`, each setting `writers/<w>.txt` to its
/// round, from a mirror of its own (as a reconciler has). Returns what was reported written,
/// and the errors.
pub fn writer(url: &str, w: usize, rounds: usize) -> (Writes, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mirror = Repository::init_bare(dir.path()).unwrap();
    let mut written = Written::default();
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut files = StatusFiles::default();
        files.insert(
            &format!("writers/{w}.txt"),
            StatusFile::new(format!("round {round}\n").into_bytes()),
        );
        let message = format!("status: writer {w} round {round}\n");
        match write_status(
            &mirror,
            Some(url),
            BRANCH,
            &Author::default(),
            &message,
            &files,
            &mut written,
        ) {
            Ok(id) => ok.push((id, round)),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (ok, errors)
}

/// The report a writer process prints: `written <id> <round>` and `error <message>` lines.
pub fn report(ok: &Writes, errors: &[String]) -> String {
    let mut text = String::new();
    for (id, round) in ok {
        text.push_str(&format!("written {id} {round}\n"));
    }
    for e in errors {
        text.push_str(&format!("error {}\n", e.replace('\n', " ")));
    }
    text
}

/// Reads a writer process's [`report`] back.
pub fn parse_report(text: &str) -> (Writes, Vec<String>) {
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("written ") {
            let (id, round) = rest.split_once(' ').expect("`written <id> <round>`");
            ok.push((Oid::from_str(id).unwrap(), round.parse().unwrap()));
        } else if let Some(e) = line.strip_prefix("error ") {
            errors.push(e.to_string());
        }
    }
    (ok, errors)
}
