//! Snapshot → documents → schema validation → typed manifests placed by directory.

use super::assemble::Typed;
use super::check_cache::CheckCache;
use super::parts::{Parts, Touched};
use super::schema::{self, API_VERSION};
use super::yaml;
use super::{Document, Manifest, Meta, Model};
use crate::diag::{self, Diagnostic, Location, codes};
use crate::source::{FileBody, MAX_MANIFEST_BYTES, Snapshot};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Reads and validates a snapshot. Returns the model of everything that is valid, and every
/// diagnostic (sorted by file and line). Schema-invalid documents are left out of the model;
/// semantic checks then run on what remains.
pub fn load(snapshot: &Snapshot) -> (Model, Vec<Diagnostic>) {
    finish(snapshot, &Parts::read(snapshot, &Parts::default()), None)
}

/// Loads revision after revision, reusing what the previous load read (see `parts`): a
/// project directory with the same git tree id is taken over whole, and in a changed part only
/// the files whose blob ids changed are read again. Semantic checks run again on the projects
/// whose directories changed, or on every project when a file outside them changed (see
/// `check_cache`).
#[derive(Default)]
pub struct Loader {
    parts: Parts,
    /// The revision of the snapshot `parts` holds, when it was read from git.
    revision: Option<String>,
    checks: CheckCache,
}

impl Loader {
    /// Like [`load`], reusing what the previous call read.
    pub fn load(&mut self, snapshot: &Snapshot) -> (Model, Vec<Diagnostic>) {
        self.load_since(snapshot, None)
    }

    /// Like [`Loader::load`], told which paths changed since the snapshot of `revision` (see
    /// `source::git::Changed`): when that is what the previous call read, only the project
    /// directories holding them are looked at, and only their projects checked again (unless
    /// a path outside the project directories changed).
    pub fn load_since(
        &mut self,
        snapshot: &Snapshot,
        since: Option<(&str, &[String])>,
    ) -> (Model, Vec<Diagnostic>) {
        let touched = match since {
            Some((revision, changed)) if self.revision.as_deref() == Some(revision) => {
                Touched::of(changed)
            }
            _ => Touched::All,
        };
        // Forgotten while updated: a load that panics leaves no revision to build on.
        self.revision = None;
        self.parts.update(snapshot, &touched);
        let loaded = finish(
            snapshot,
            &self.parts,
            Some((&mut self.checks, touched.projects())),
        );
        self.revision = snapshot.revision.clone();
        loaded
    }
}

/// What one file yields: its typed manifests, the names of the documents it failed to define
/// (see `checks::Rejected`) and its diagnostics.
#[derive(Default, Clone)]
pub(super) struct FileRead {
    pub(super) typed: Typed,
    pub(super) rejected_names: Vec<(Option<String>, Option<String>, String)>,
    pub(super) rejected_file: bool,
    pub(super) diags: Vec<Diagnostic>,
}

/// The model of every part and every diagnostic, the semantic checks' included.
fn finish(
    snapshot: &Snapshot,
    parts: &Parts,
    checks: Option<(&mut CheckCache, Option<&BTreeSet<String>>)>,
) -> (Model, Vec<Diagnostic>) {
    let mut model = parts.model();
    model.revision = snapshot.revision.clone();
    let rejected = parts.rejected();
    let mut diags = parts.diags();
    diags.extend(match checks {
        Some((cache, fresh)) => cache.run(snapshot, &model, &rejected, fresh),
        None => super::checks::run_with(&model, &rejected),
    });
    diag::sort_and_dedup(&mut diags);
    (model, diags)
}

/// Parses, schema-checks and types the documents of one file.
pub(super) fn read_file(path: &str, body: &FileBody) -> FileRead {
    let mut read = FileRead::default();
    let Some(docs) = parse_file(path, body, &mut read.diags) else {
        read.rejected_file = true;
        return read;
    };
    for (doc, json) in docs {
        classify(doc, json, &mut read);
    }
    read
}

/// The documents of a file with their values; `None` when the file has an error and none can
/// be read.
fn parse_file(
    path: &str,
    body: &FileBody,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(Document, serde_json::Value)>> {
    let bytes = match body {
        FileBody::TooLarge(size) => {
            diags.push(
                Diagnostic::error(
                    codes::TOO_LARGE,
                    &Location::file(path),
                    format!("file is {:.1} MiB; manifests are limited to {} MiB", *size as f64 / 1048576.0, MAX_MANIFEST_BYTES / 1048576),
                )
                .help("split it into several files, or move generated data out of the platform repository"),
            );
            return None;
        }
        FileBody::Unreadable(why) => {
            diags.push(
                Diagnostic::error(
                    codes::READ,
                    &Location::file(path),
                    format!("cannot read the file: {why}"),
                )
                .help("make it a readable regular file (not a link), or delete it; cubist reads every .yaml/.yml file outside hidden directories"),
            );
            return None;
        }
        FileBody::Bytes(b) => b,
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            diags.push(
                Diagnostic::error(
                    codes::NOT_UTF8,
                    &Location {
                        file: path.into(),
                        line,
                        column,
                    },
                    format!("invalid UTF-8 byte 0x{:02x}", bytes[e.valid_up_to()]),
                )
                .help("save the file as UTF-8"),
            );
            return None;
        }
    };
    let parsed = match yaml::parse_documents(path, text) {
        Ok(parsed) => parsed,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let docs: Vec<(Document, serde_json::Value)> = parsed
        .into_iter()
        .enumerate()
        .filter(|(_, p)| !p.json.is_null())
        .map(|(index, p)| {
            let doc = Document {
                file: path.to_string(),
                index,
                positions: p.positions,
            };
            (doc, p.json)
        })
        .collect();
    if docs.is_empty() {
        diags.push(empty_file(path));
    }
    Some(docs)
}

/// An empty or comment-only file is an error, never a silent removal: what it held would be
/// pruned. In a project's directory the error holds the project at its last good state.
fn empty_file(path: &str) -> Diagnostic {
    let at = Location {
        file: path.to_string(),
        line: 1,
        column: 1,
    };
    let Some(project) = diag::project_of_path(path) else {
        return Diagnostic::error(
            codes::EMPTY_FILE,
            &at,
            "file holds no manifest (it is empty or only comments)",
        )
        .help("write the manifest into it (or restore the one it held), or delete the file");
    };
    let message = format!(
        "file holds no manifest (it is empty or only comments); project `{project}` is held at its last good state"
    );
    let help = if ["project.yaml", "project.yml"]
        .iter()
        .any(|name| path == format!("projects/{project}/{name}"))
    {
        format!(
            "restore the Project manifest, or delete the whole directory projects/{project}/ to remove the project (in a commit with the trailer `Cubist-Allow-Prune: project/{project}`)"
        )
    } else {
        "restore the manifest it held, or delete the file to remove what it defined".to_string()
    };
    Diagnostic::error(codes::EMPTY_FILE, &at, message).help(help)
}

/// Where each kind may live: `(kind, allowed)` given the path split on `/`.
fn placed_right(kind: &str, parts: &[&str]) -> bool {
    let file = parts.last().copied().unwrap_or("");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    match (kind, parts) {
        ("Platform", [_]) => stem == "cubist",
        ("Cluster", ["clusters", _, ..]) | ("Template", ["templates", _, ..]) => true,
        ("Project", ["projects", _, _]) => stem == "project",
        ("Quota", ["projects", _, _]) => stem == "quota",
        ("Template", ["projects", _, "templates", _, ..])
        | ("Pipeline", ["projects", _, "pipelines", _, ..])
        | ("Service", ["projects", _, "services", _, ..])
        | ("Run", ["projects", _, "runs", _, ..]) => true,
        _ => false,
    }
}

/// Where a misplaced manifest should go: concrete when the file is inside a project directory.
fn suggested_place(kind: &str, file: &str) -> String {
    let general = expected_place(kind);
    let Some(project) = diag::project_of_path(file) else {
        return general.to_string();
    };
    let name = file.rsplit('/').next().unwrap_or(file);
    match kind {
        "Project" | "Quota" => format!("projects/{project}/{}.yaml", kind.to_lowercase()),
        "Template" | "Pipeline" | "Service" | "Run" => {
            format!("projects/{project}/{}s/{name}", kind.to_lowercase())
        }
        _ => general.to_string(),
    }
}

fn expected_place(kind: &str) -> &'static str {
    match kind {
        "Platform" => "cubist.yaml at the repository root",
        "Cluster" => "clusters/<name>.yaml",
        "Project" => "projects/<name>/project.yaml",
        "Quota" => "projects/<project>/quota.yaml",
        "Template" => "templates/<name>.yaml or projects/<project>/templates/<name>.yaml",
        "Pipeline" => "projects/<project>/pipelines/<name>.yaml",
        "Service" => "projects/<project>/services/<name>.yaml",
        _ => "projects/<project>/runs/<name>.yaml",
    }
}

/// Places one document, remembering the name of a rejected one so that references to it are
/// not reported again as unknown.
fn classify(doc: Document, json: serde_json::Value, read: &mut FileRead) {
    let kind = json
        .get("kind")
        .and_then(|k| k.as_str())
        .filter(|k| schema::is_known_kind(k))
        .map(str::to_string);
    let name = metadata_str(&json, "name").map(str::to_string);
    let file = doc.file.clone();
    if !place(doc, json, &mut read.typed, &mut read.diags) {
        match name {
            Some(name) => read
                .rejected_names
                .push((kind, diag::project_of_path(&file), name)),
            None => read.rejected_file = true,
        }
    }
}

/// A string field of the document's `metadata` (like `json.pointer`, which allocates every
/// segment of the path).
fn metadata_str<'a>(json: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    json.get("metadata")?.get(field)?.as_str()
}

/// Validates and places one document; false if it was rejected (with its diagnostics).
fn place(
    doc: Document,
    json: serde_json::Value,
    typed: &mut Typed,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let (Some(api), Some(kind)) = (json.get("apiVersion"), json.get("kind")) else {
        diags.push(
            Diagnostic::error(codes::NOT_A_MANIFEST, &doc.at(""), "document has no `apiVersion` and `kind`")
                .help(format!("start the document with `apiVersion: {API_VERSION}` and a `kind`; cubist reads every .yaml file outside hidden directories")),
        );
        return false;
    };
    if api.as_str() != Some(API_VERSION) {
        diags.push(
            Diagnostic::error(
                codes::API_VERSION,
                &doc.at("apiVersion"),
                format!("unknown apiVersion {api}"),
            )
            .help(format!("use `apiVersion: {API_VERSION}`")),
        );
        return false;
    }
    let kind = kind.as_str().unwrap_or_default().to_string();
    if !schema::is_known_kind(&kind) {
        let known: Vec<String> = schema::KINDS.iter().map(|(k, _)| k.to_string()).collect();
        let hint = schema::closest(&kind, &known)
            .map(|k| format!("did you mean `{k}`? "))
            .unwrap_or_default();
        diags.push(
            Diagnostic::error(
                codes::UNKNOWN_KIND,
                &doc.at("kind"),
                format!("unknown kind `{kind}`"),
            )
            .help(format!("{hint}kinds are: {}", known.join(", "))),
        );
        return false;
    }
    let errors = schema::validate(&kind, &doc.file, &doc.positions, &json);
    if !errors.is_empty() {
        diags.extend(errors);
        return false;
    }
    let parts: Vec<&str> = doc.file.split('/').collect();
    if !placed_right(&kind, &parts) {
        diags.push(
            Diagnostic::error(
                codes::WRONG_DIRECTORY,
                &doc.at("kind"),
                format!("a {kind} does not belong in `{}`", doc.file),
            )
            .help(format!("move it to {}", suggested_place(&kind, &doc.file))),
        );
        return false;
    }
    let dir_project = diag::project_of_path(&doc.file);
    let named = metadata_str(&json, "project").map(str::to_string);
    let name = metadata_str(&json, "name").unwrap_or_default().to_string();
    match (&dir_project, &named) {
        (None, Some(p)) => {
            diags.push(
                Diagnostic::error(
                    codes::OTHER_PROJECT,
                    &doc.at("metadata/project"),
                    format!("a platform-wide {kind} names project `{p}`"),
                )
                .help("remove `metadata.project`, or move the file under projects/<project>/"),
            );
            return false;
        }
        (Some(dir), Some(p)) if dir != p => {
            diags.push(
                Diagnostic::error(
                    codes::OTHER_PROJECT,
                    &doc.at("metadata/project"),
                    format!("manifest in projects/{dir}/ names project `{p}`"),
                )
                .help(format!("move it to projects/{p}/ or set `project: {dir}`")),
            );
            return false;
        }
        _ => {}
    }
    if kind == "Project" && dir_project.as_deref() != Some(name.as_str()) {
        let dir = dir_project.unwrap_or_default();
        diags.push(
            Diagnostic::error(codes::OTHER_PROJECT, &doc.at("metadata/name"), format!("project `{name}` is defined in projects/{dir}/"))
                .help(format!("a project's name is its directory: rename it to `{dir}` or move the directory to projects/{name}/")),
        );
        return false;
    }
    let doc = Arc::new(doc);
    let project = dir_project.unwrap_or_default();
    match kind.as_str() {
        "Platform" => push(&doc, json, diags, |m| typed.platform.push(m)),
        "Cluster" => push(&doc, json, diags, |m| typed.clusters.push(m)),
        "Template" => {
            let scope = (!project.is_empty()).then(|| project.clone());
            push(&doc, json, diags, |m| typed.templates.push((scope, m)))
        }
        "Project" => push(&doc, json, diags, |m| typed.projects.push(m)),
        "Quota" => push(&doc, json, diags, |m| typed.quotas.push((project, m))),
        "Pipeline" => push(&doc, json, diags, |m| typed.pipelines.push((project, m))),
        "Service" => push(&doc, json, diags, |m| typed.services.push((project, m))),
        _ => push(&doc, json, diags, |m| typed.runs.push((project, m))),
    }
}

/// Deserialises a schema-valid document into its typed manifest.
fn push<S: DeserializeOwned>(
    doc: &Arc<Document>,
    json: serde_json::Value,
    diags: &mut Vec<Diagnostic>,
    sink: impl FnOnce(Manifest<S>),
) -> bool {
    #[derive(serde::Deserialize)]
    struct Raw<S> {
        metadata: Meta,
        spec: S,
    }
    match serde_json::from_value::<Raw<S>>(json) {
        Ok(raw) => {
            sink(Manifest {
                meta: Arc::new(raw.metadata),
                spec: Arc::new(raw.spec),
                doc: doc.clone(),
            });
            true
        }
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    codes::SCHEMA,
                    &doc.at("spec"),
                    format!("cannot read manifest: {e}"),
                )
                .help("check the field types against the schema"),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, Shape};

    /// Enough files for parsing to use several threads (see `parts`).
    const MIN_FILES_PER_THREAD: usize = 64;

    #[test]
    fn parallel_parsing_keeps_path_order() {
        let mut snap = synth::snapshot(&Shape {
            projects: 100,
            ..Shape::small()
        });
        assert!(
            snap.files.len() >= 2 * MIN_FILES_PER_THREAD,
            "large enough to use several threads"
        );
        // The same template first and last by path: the later file is the duplicate.
        let python = snap.files["templates/python.yaml"].clone();
        snap.files
            .insert("templates/zz-python-copy.yaml".into(), python);
        let (model, diags) = load(&snap);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(
            (diags[0].code, diags[0].file.as_str()),
            (codes::DUPLICATE_NAME, "templates/zz-python-copy.yaml")
        );
        assert_eq!(model.templates["python"].file(), "templates/python.yaml");
        assert_eq!(model.projects.len(), 100);
    }
}
