//! Run-records files parsed by an earlier process, kept in the cache directory by blob id (a
//! named optimisation). Each process reads every run-records file of the status branch when it
//! starts (2,000 files, 17 MB of YAML for 500 projects); parsing them took 85 ms of the wall
//! time of a `reconcile --once` after a template change, on two cores. Parsing is a function of
//! the file's bytes, and the blob id is their SHA-1: a file whose id was parsed before is read
//! from what that parse gave, kept as JSON, which reads about three times faster.
//!
//! Only records parsed from a file's bytes are kept, never records as written (whatever
//! their YAML reads back as is what counts). The kept file names the configuration digest of
//! the process that wrote it (the executable's bytes among them, see `stamp`), so another
//! version of cubist, whose reader may read the same bytes otherwise, never uses it. A kept
//! file that is missing, of another digest or damaged is not used (a debug log says why), and
//! a line that does not read is parsed from the YAML: it costs time, never correctness.

use cubist_status_ui::runs::PipelineRuns;
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The first line of the kept file.
#[derive(Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Header {
    /// Layout version.
    version: u32,
    /// The configuration digest of the process that wrote it.
    config: String,
}

/// What a version of cubist writes and reads.
const VERSION: u32 = 1;

/// The kept file under the cache directory `dir`.
fn file_in(dir: &Path) -> PathBuf {
    dir.join("run-records.jsonl")
}

/// The records kept by an earlier process: one line per blob, its id in hex, a space and the
/// records as JSON (which has no raw line break).
#[derive(Default)]
pub(super) struct Kept {
    text: String,
    lines: HashMap<Oid, Range<usize>>,
}

impl Kept {
    /// What was kept in the cache directory `dir` by a process of configuration digest
    /// `config`; nothing when there is no such file, or it is of another version or digest.
    pub(super) fn load(dir: &Path, config: &str) -> Kept {
        let file = file_in(dir);
        let Ok(text) = std::fs::read_to_string(&file) else {
            return Kept::default();
        };
        match Kept::parse(text, config) {
            Ok(kept) => kept,
            Err(why) => {
                tracing::debug!(file = %file.display(), why, "the kept run records are not used");
                Kept::default()
            }
        }
    }

    /// The lines of `text`, if its header is of this version and digest `config`.
    fn parse(text: String, config: &str) -> Result<Kept, String> {
        let (first, _) = text.split_once('\n').ok_or("no header line")?;
        let header: Header = serde_json::from_str(first).map_err(|e| format!("header: {e}"))?;
        let expected = Header {
            version: VERSION,
            config: config.to_string(),
        };
        if header != expected {
            return Err("another version or configuration wrote it".into());
        }
        let mut lines = HashMap::new();
        let mut at = first.len() + 1;
        for line in text[at..].split_inclusive('\n') {
            let body = line
                .strip_suffix('\n')
                .ok_or("the last line is cut short")?;
            let id = body
                .get(..40)
                .and_then(|hex| Oid::from_str(hex).ok())
                .filter(|_| body.as_bytes().get(40) == Some(&b' '))
                .ok_or("a line without a blob id")?;
            lines.insert(id, at + 41..at + body.len());
            at += line.len();
        }
        Ok(Kept { text, lines })
    }

    /// The records parsed from blob `id`, if kept and still readable.
    pub(super) fn get(&self, id: Oid) -> Option<PipelineRuns> {
        serde_json::from_str(self.json(id)?).ok()
    }

    /// The kept line of blob `id`, as JSON.
    fn json(&self, id: Oid) -> Option<&str> {
        Some(&self.text[self.lines.get(&id)?.clone()])
    }

    /// Number of blobs kept.
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }
}

/// One file's records as this process read them: from `kept`, or parsed from its YAML.
pub(super) enum Read {
    /// Taken from the kept line.
    Kept(PipelineRuns),
    /// Parsed from the file's bytes, with its JSON line to keep (`None`: could not be
    /// written, then not kept).
    Parsed(PipelineRuns, Option<String>),
    /// The file does not read as records.
    Unreadable(String),
}

impl Read {
    /// Reads blob `id` from `kept`; `None` when it does not hold the blob (or its line does
    /// not read): its bytes are then parsed ([`Read::parsed`]).
    pub(super) fn kept(kept: &Kept, id: Oid) -> Option<Read> {
        kept.get(id).map(Read::Kept)
    }

    /// Parses a file's `bytes` with `parse`.
    pub(super) fn parsed(
        bytes: &[u8],
        parse: impl Fn(&[u8]) -> Result<PipelineRuns, String>,
    ) -> Read {
        match parse(bytes) {
            Ok(records) => {
                let json = serde_json::to_string(&records).ok();
                Read::Parsed(records, json)
            }
            Err(e) => Read::Unreadable(e),
        }
    }

    /// The records, or why the file does not read.
    pub(super) fn into_records(self) -> Result<PipelineRuns, String> {
        match self {
            Read::Kept(r) | Read::Parsed(r, _) => Ok(r),
            Read::Unreadable(e) => Err(e),
        }
    }
}

/// Keeps the records of the blobs `read` (id and how each was read) in the cache directory
/// `dir` for the next process, under digest `config`, unless `kept` already holds exactly
/// those blobs. A failure is logged: the kept file only saves time.
pub(super) fn keep(dir: &Path, config: &str, kept: &Kept, read: &[(Oid, &Read)]) {
    let mut ids: Vec<Oid> = read
        .iter()
        .filter(|(_, r)| !matches!(r, Read::Unreadable(_)))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // Every blob read from a kept line, and no other kept: the kept file is these blobs.
    let parsed = read.iter().any(|(_, r)| matches!(r, Read::Parsed(..)));
    if !parsed && ids.len() == kept.len() {
        return;
    }
    let header = Header {
        version: VERSION,
        config: config.to_string(),
    };
    let Ok(mut text) = serde_json::to_string(&header) else {
        return;
    };
    text.push('\n');
    let mut written = std::collections::HashSet::new();
    for (id, r) in read {
        let json = match r {
            Read::Kept(_) => kept.json(*id),
            Read::Parsed(_, json) => json.as_deref(),
            Read::Unreadable(_) => None,
        };
        if let Some(json) = json
            && written.insert(*id)
        {
            text.push_str(&id.to_string());
            text.push(' ');
            text.push_str(json);
            text.push('\n');
        }
    }
    // Replaced whole, as the target memories are: readers see the old file or the new one.
    let file = file_in(dir);
    if let Err(e) = crate::targets::directory::write_atomic(&file, &text) {
        tracing::debug!(file = %file.display(), error = %e, "cannot keep the run records");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::runs::{ClusterRuns, RunRecord};

    fn records(workflow: &str) -> PipelineRuns {
        let run = RunRecord {
            workflow: workflow.into(),
            message: "two\nlines \"quoted\"".into(),
            ..Default::default()
        };
        PipelineRuns {
            project: "p".into(),
            pipeline: "daily".into(),
            since: chrono::DateTime::from_timestamp(7, 123_456_789),
            clusters: [(
                "local".to_string(),
                ClusterRuns {
                    runs: vec![run],
                    ..ClusterRuns::default()
                },
            )]
            .into(),
            ..PipelineRuns::default()
        }
    }

    fn yaml(r: &PipelineRuns) -> Vec<u8> {
        cubist_status_ui::yaml::to_yaml(r).unwrap().into_bytes()
    }

    fn parse(bytes: &[u8]) -> Result<PipelineRuns, String> {
        super::super::records_parse::parse_records(bytes)
    }

    /// Blob `id` of `bytes` as a start reads it: from `kept`, else parsed.
    fn of(
        kept: &Kept,
        id: Oid,
        bytes: &[u8],
        parse: impl Fn(&[u8]) -> Result<PipelineRuns, String>,
    ) -> Read {
        Read::kept(kept, id).unwrap_or_else(|| Read::parsed(bytes, parse))
    }

    fn id(bytes: &[u8]) -> Oid {
        Oid::hash_object(git2::ObjectType::Blob, bytes).unwrap()
    }

    /// A blob parsed once is read from the kept file by the next process, equal to its parse;
    /// the file is written again only when the blobs differ.
    #[test]
    fn a_blob_parsed_once_is_read_from_the_kept_file_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (yaml(&records("wf-a")), yaml(&records("wf-b")));
        let none = Kept::load(dir.path(), "cfg");
        let read: Vec<_> = [&a, &b]
            .iter()
            .map(|bytes| (id(bytes), of(&none, id(bytes), bytes, parse)))
            .collect();
        assert!(read.iter().all(|(_, r)| matches!(r, Read::Parsed(..))));
        keep(
            dir.path(),
            "cfg",
            &none,
            &read.iter().map(|(i, r)| (*i, r)).collect::<Vec<_>>(),
        );
        let kept = Kept::load(dir.path(), "cfg");
        assert_eq!(kept.len(), 2);
        let never = |_: &[u8]| -> Result<PipelineRuns, String> { panic!("parsed again") };
        for bytes in [&a, &b] {
            match of(&kept, id(bytes), bytes, never) {
                Read::Kept(r) => assert_eq!(Ok(r), parse(bytes)),
                _ => panic!("not read from the kept file"),
            }
        }
        // The same blobs: the kept file is not written again.
        let file = file_in(dir.path());
        std::fs::write(
            &file,
            format!("{}extra", std::fs::read_to_string(&file).unwrap()),
        )
        .unwrap();
        let again: Vec<_> = [&a, &b]
            .iter()
            .map(|bytes| (id(bytes), of(&kept, id(bytes), bytes, parse)))
            .collect();
        keep(
            dir.path(),
            "cfg",
            &kept,
            &again.iter().map(|(i, r)| (*i, r)).collect::<Vec<_>>(),
        );
        assert!(std::fs::read_to_string(&file).unwrap().ends_with("extra"));
        // Another configuration (another executable) does not use it.
        assert_eq!(Kept::load(dir.path(), "other").len(), 0);
    }

    /// A damaged kept file is not used, and a kept line that does not read is parsed again.
    #[test]
    fn a_damaged_kept_file_costs_a_parse_never_a_wrong_record() {
        let dir = tempfile::tempdir().unwrap();
        let a = yaml(&records("wf-a"));
        let header = r#"{"version":1,"config":"cfg"}"#;
        let file = file_in(dir.path());
        let good = serde_json::to_string(&records("wf-a")).unwrap();
        for damaged in [
            format!("{header}\n{} {good}", id(&a)),
            format!("{header}\n{}{good}\n", id(&a)),
            format!("{header}\nnot-an-id {good}\n"),
            "{\"version\":1}\n".to_string(),
        ] {
            std::fs::write(&file, &damaged).unwrap();
            assert_eq!(Kept::load(dir.path(), "cfg").len(), 0, "{damaged}");
        }
        // A line cut inside its JSON is parsed from the YAML instead, and written again.
        std::fs::write(&file, format!("{header}\n{} {}\n", id(&a), &good[..20])).unwrap();
        let kept = Kept::load(dir.path(), "cfg");
        assert_eq!(kept.len(), 1);
        let read = of(&kept, id(&a), &a, parse);
        assert!(matches!(read, Read::Parsed(..)));
        keep(dir.path(), "cfg", &kept, &[(id(&a), &read)]);
        let mended = Kept::load(dir.path(), "cfg");
        assert_eq!(mended.get(id(&a)), parse(&a).ok());
    }
}
