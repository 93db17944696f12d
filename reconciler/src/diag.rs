//! Diagnostics: what is wrong, where (file:line:col), and what to do about it.

use serde::Serialize;

/// How bad a diagnostic is. Warnings never fail a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The repository is invalid; nothing of the affected scope is applied.
    Error,
    /// Worth fixing, but valid.
    Warning,
}

/// One finding about the repository, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Repository-relative path with `/` separators.
    pub file: String,
    /// 1-based line (0 when the finding concerns the whole file).
    pub line: usize,
    /// 1-based column (0 when the finding concerns the whole file).
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `E0402`; see [`crate::diag::codes`].
    pub code: &'static str,
    /// What is wrong, with the values involved.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The project the file belongs to (`projects/<p>/…`), if any; drives per-project blast radius.
    #[serde(skip)]
    pub project: Option<String>,
}

impl Diagnostic {
    /// An error at a position.
    pub fn error(code: &'static str, at: &Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, at, message)
    }

    /// A warning at a position.
    pub fn warning(code: &'static str, at: &Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, at, message)
    }

    fn new(
        severity: Severity,
        code: &'static str,
        at: &Location,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: at.file.clone(),
            line: at.line,
            column: at.column,
            severity,
            code,
            message: bounded(&message.into(), MAX_MESSAGE_CHARS),
            help: None,
            project: project_of_path(&at.file),
        }
    }

    /// Adds the fix to suggest.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(bounded(&help.into(), MAX_MESSAGE_CHARS));
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file, line, column, code.
    pub fn sort_key(&self) -> (&str, usize, usize, &str) {
        (&self.file, self.line, self.column, self.code)
    }
}

/// A position in a repository file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Repository-relative path with `/` separators.
    pub file: String,
    /// 1-based line, 0 for the whole file.
    pub line: usize,
    /// 1-based column, 0 for the whole file.
    pub column: usize,
}

impl Location {
    /// The whole file.
    pub fn file(file: &str) -> Self {
        Location {
            file: file.to_string(),
            line: 0,
            column: 0,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

/// Longest message or help kept: a longer one (a huge value quoted from a file) is cut with `…`.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// Widest part of a source line a snippet shows, around the reported column.
pub const SNIPPET_CHARS: usize = 120;

/// `text` without terminal control characters (each written as its `\u{…}` escape; a newline
/// stays) and cut to `max` characters with `…`.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The part of a source line to show for a diagnostic at 1-based character `column`: at most
/// [`SNIPPET_CHARS`] characters around it, `…` where the line is cut, a tab or any other
/// control character shown as one character (space or `�`) so that the caret stays aligned.
/// Returns the text and the caret's 0-based character offset in it.
pub fn snippet(line: &str, column: usize) -> (String, usize) {
    let len = line.chars().count();
    let at = column.saturating_sub(1).min(len);
    let start = if len <= SNIPPET_CHARS {
        0
    } else {
        at.saturating_sub(SNIPPET_CHARS / 2)
            .min(len - SNIPPET_CHARS)
    };
    let end = (start + SNIPPET_CHARS).min(len);
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(start).take(end - start).map(|c| match c {
        '\t' => ' ',
        c if c.is_control() => '\u{fffd}',
        c => c,
    }));
    if end < len {
        shown.push('…');
    }
    (shown, at - start + usize::from(start > 0))
}

/// The project that owns a repository path: `projects/<p>/…` → `<p>`.
pub fn project_of_path(path: &str) -> Option<String> {
    project_dir(path).map(str::to_string)
}

/// [`project_of_path`], borrowed from `path`.
pub fn project_dir(path: &str) -> Option<&str> {
    let (dir, _) = path.strip_prefix("projects/")?.split_once('/')?;
    (!dir.is_empty()).then_some(dir)
}

/// Sorts diagnostics by file, line and column and drops exact duplicates.
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| a.message.cmp(&b.message))
    });
    diags.dedup_by(|a, b| a.sort_key() == b.sort_key() && a.message == b.message);
}

/// Every diagnostic code cubist emits, with a one-line meaning (`cubist validate --explain`).
pub mod codes {
    /// (code, meaning) for every code.
    pub const ALL: &[(&str, &str)] = &[
        (READ, "the file could not be read"),
        (TOO_LARGE, "the file is larger than the manifest size limit"),
        (NOT_UTF8, "the file is not valid UTF-8"),
        (YAML_SYNTAX, "YAML syntax error"),
        (TAB_INDENT, "a tab character is used for indentation"),
        (DUPLICATE_KEY, "a mapping has the same key twice"),
        (ALIAS_LIMIT, "YAML aliases expand beyond the node limit"),
        (
            NOT_A_MANIFEST,
            "a YAML document is not a mapping with apiVersion and kind",
        ),
        (API_VERSION, "unknown apiVersion"),
        (UNKNOWN_KIND, "unknown kind"),
        (SCHEMA, "the manifest does not match its kind's JSON Schema"),
        (INVALID_NAME, "a name is not a DNS-1123 label"),
        (
            DUPLICATE_NAME,
            "two manifests of the same kind and project share a name",
        ),
        (
            WRONG_DIRECTORY,
            "a manifest is in a directory its kind does not belong in",
        ),
        (
            OTHER_PROJECT,
            "a manifest names a project other than the directory it is in",
        ),
        (RESERVED_NAMESPACE, "a project name is a reserved namespace"),
        (MISSING_PROJECT, "a project directory has no project.yaml"),
        (
            NAME_TOO_LONG,
            "a name makes a generated object's name longer than its kind allows",
        ),
        (
            UNKNOWN_CLUSTER,
            "reference to a cluster that does not exist",
        ),
        (
            UNKNOWN_TEMPLATE,
            "reference to a template that does not exist",
        ),
        (
            UNKNOWN_PIPELINE,
            "reference to a pipeline that does not exist",
        ),
        (
            UNKNOWN_RESOURCE_GROUP,
            "reference to a resource group that does not exist",
        ),
        (UNKNOWN_MEMBER, "a user who is not a member of the project"),
        (UNKNOWN_TASK, "`after` names a task that does not exist"),
        (
            CYCLE,
            "the pipeline's tasks depend on each other in a cycle",
        ),
        (DUPLICATE_TASK, "two tasks of a pipeline share a name"),
        (CRON, "invalid 5-field cron expression"),
        (TIMEZONE, "unknown IANA timezone"),
        (DATES, "invalid date or date range"),
        (ARGS, "task args do not satisfy the template's parameters"),
        (TRAFFIC, "service traffic does not add up to 100"),
        (DUPLICATE_VERSION, "two service versions share a name"),
        (
            PLACEMENT,
            "a service is placed on a cluster its project is not on",
        ),
        (
            PER_TASK,
            "a task or service asks for more than the quota's perTask",
        ),
        (PROJECT_QUOTA, "a project's workloads exceed its quota"),
        (
            CAPACITY,
            "project quotas on a resource group exceed its capacity",
        ),
        (GPU_TYPE, "a GPU type the resource group does not have"),
        (
            COUNTS,
            "more pipelines or services than the quota's counts allow",
        ),
        (
            CAPABILITY,
            "a cluster lacks the capability an engine or service needs",
        ),
        (
            PARAMETERS_SCHEMA,
            "a template's parameters are not a valid JSON Schema",
        ),
        (
            TARGET_PATH,
            "a directory target is absolute, leaves the target root or is inside the repository",
        ),
        (
            SHARED_TARGET,
            "two clusters' directory targets are the same or one is inside the other",
        ),
        (
            KUBECONFIG_PATH,
            "a kubeconfig is not a file name inside the kubeconfig directory",
        ),
        (
            EMPTY_FILE,
            "the file holds no manifest (empty or only comments)",
        ),
        (
            UNKNOWN_CHANNEL,
            "a pipeline's alerts name a channel cubist.yaml does not declare",
        ),
        (
            NO_ALERT_CHANNEL,
            "a pipeline has alerts but cubist.yaml declares no alert channel",
        ),
        (
            DUPLICATE_CHANNEL,
            "two alert channels of cubist.yaml share a name",
        ),
        (NO_CLUSTER, "a project is placed on no cluster"),
        (
            NODE_COUNT,
            "an argument states a node count other than the pods the engine starts",
        ),
        (
            INTERNAL,
            "cubist hit an internal error (a bug) on the revision: report it",
        ),
        (
            RENDER,
            "rendering a valid project failed: the project is held at its last good revision",
        ),
    ];
    /// Codes only the reconcile loop reports (no manifest makes `cubist validate` give them).
    pub const LOOP_ONLY: &[&str] = &[INTERNAL, RENDER];
    /// File could not be read.
    pub const READ: &str = "E0001";
    /// File over the size limit.
    pub const TOO_LARGE: &str = "E0002";
    /// Invalid UTF-8.
    pub const NOT_UTF8: &str = "E0003";
    /// YAML syntax error.
    pub const YAML_SYNTAX: &str = "E0004";
    /// Tab used for indentation.
    pub const TAB_INDENT: &str = "E0005";
    /// Duplicate mapping key.
    pub const DUPLICATE_KEY: &str = "E0006";
    /// Alias expansion over the limit.
    pub const ALIAS_LIMIT: &str = "E0007";
    /// Document is not a manifest mapping.
    pub const NOT_A_MANIFEST: &str = "E0008";
    /// A file without any manifest: an error, so that nothing it held is pruned.
    pub const EMPTY_FILE: &str = "E0009";
    /// Unknown apiVersion.
    pub const API_VERSION: &str = "E0101";
    /// Unknown kind.
    pub const UNKNOWN_KIND: &str = "E0102";
    /// JSON Schema violation.
    pub const SCHEMA: &str = "E0103";
    /// Invalid DNS-1123 name.
    pub const INVALID_NAME: &str = "E0201";
    /// Duplicate name.
    pub const DUPLICATE_NAME: &str = "E0202";
    /// Wrong directory for the kind.
    pub const WRONG_DIRECTORY: &str = "E0203";
    /// Names another project.
    pub const OTHER_PROJECT: &str = "E0204";
    /// Reserved namespace.
    pub const RESERVED_NAMESPACE: &str = "E0205";
    /// Project directory without project.yaml.
    pub const MISSING_PROJECT: &str = "E0206";
    /// A generated object name over its kind's limit.
    pub const NAME_TOO_LONG: &str = "E0207";
    /// Unknown cluster.
    pub const UNKNOWN_CLUSTER: &str = "E0301";
    /// Unknown template.
    pub const UNKNOWN_TEMPLATE: &str = "E0302";
    /// Unknown pipeline.
    pub const UNKNOWN_PIPELINE: &str = "E0303";
    /// Unknown resource group.
    pub const UNKNOWN_RESOURCE_GROUP: &str = "E0304";
    /// Not a project member.
    pub const UNKNOWN_MEMBER: &str = "E0305";
    /// Unknown `after` task.
    pub const UNKNOWN_TASK: &str = "E0401";
    /// Dependency cycle.
    pub const CYCLE: &str = "E0402";
    /// Duplicate task name.
    pub const DUPLICATE_TASK: &str = "E0403";
    /// Invalid cron.
    pub const CRON: &str = "E0501";
    /// Unknown timezone.
    pub const TIMEZONE: &str = "E0502";
    /// Invalid date or range.
    pub const DATES: &str = "E0503";
    /// Args violate template parameters.
    pub const ARGS: &str = "E0601";
    /// Invalid parameters schema in a template.
    pub const PARAMETERS_SCHEMA: &str = "E0602";
    /// Traffic does not sum to 100.
    pub const TRAFFIC: &str = "E0701";
    /// Duplicate version name.
    pub const DUPLICATE_VERSION: &str = "E0702";
    /// Service placement outside the project's clusters.
    pub const PLACEMENT: &str = "E0703";
    /// Over perTask.
    pub const PER_TASK: &str = "E0801";
    /// Over the project quota.
    pub const PROJECT_QUOTA: &str = "E0802";
    /// Over resource-group capacity.
    pub const CAPACITY: &str = "E0803";
    /// Unknown GPU type.
    pub const GPU_TYPE: &str = "E0804";
    /// Over the quota counts.
    pub const COUNTS: &str = "E0805";
    /// Missing cluster capability.
    pub const CAPABILITY: &str = "E0901";
    /// cubist panicked while reconciling a revision (a bug in cubist; reported by the loop).
    pub const INTERNAL: &str = "E0998";
    /// Rendering a valid project failed (reported by the reconcile loop, not by validate).
    pub const RENDER: &str = "E0999";
    /// Directory target outside its boundary.
    pub const TARGET_PATH: &str = "E1001";
    /// Directory target shared with, or nested in, another cluster's.
    pub const SHARED_TARGET: &str = "E1002";
    /// Kubeconfig outside the kubeconfig directory.
    pub const KUBECONFIG_PATH: &str = "E1003";
    /// Alerts naming a channel cubist.yaml does not declare.
    pub const UNKNOWN_CHANNEL: &str = "E1401";
    /// Alerts while cubist.yaml declares no channel.
    pub const NO_ALERT_CHANNEL: &str = "E1402";
    /// Two alert channels with one name.
    pub const DUPLICATE_CHANNEL: &str = "E1403";
    /// Project placed on no cluster (warning).
    pub const NO_CLUSTER: &str = "W0002";
    /// A node-count argument that differs from the replicas rendered (warning).
    pub const NODE_COUNT: &str = "W0003";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_of_a_huge_line_is_bounded_around_the_column() {
        let line = format!("key: {}x{}", "a".repeat(1_000_000), "b".repeat(1_000_000));
        let (shown, caret) = snippet(&line, 1_000_006);
        assert_eq!(shown.chars().count(), SNIPPET_CHARS + 2, "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().nth(caret), Some('x'));
        let (shown, caret) = snippet(&line, 1);
        assert!(shown.starts_with("key: aaa") && shown.ends_with('…'));
        assert_eq!(caret, 0);
        let (shown, caret) = snippet(&line, line.len() + 1);
        assert!(shown.starts_with('…') && shown.ends_with("bbb"));
        assert_eq!(caret, shown.chars().count());
    }

    #[test]
    fn a_snippet_is_utf8_safe_and_shows_no_control_characters() {
        let line = format!("名前: \u{1b}[31m{}é", "中".repeat(500));
        let (shown, caret) = snippet(&line, 300);
        assert_eq!(shown.chars().count(), SNIPPET_CHARS + 2);
        assert_eq!(shown.chars().nth(caret), Some('中'));
        let (shown, caret) = snippet(&line, 5);
        assert!(shown.starts_with("名前: \u{fffd}[31m中"), "{shown}");
        assert_eq!(shown.chars().nth(caret), Some('\u{fffd}'));
        assert_eq!(snippet("\ta: 1", 2), (" a: 1".to_string(), 1));
        assert_eq!(snippet("", 7), (String::new(), 0));
    }

    #[test]
    fn messages_are_bounded_and_escaped() {
        let d = Diagnostic::error(
            codes::INVALID_NAME,
            &Location::file("a.yaml"),
            format!("name `{}\u{1b}[2J` is bad", "n".repeat(1_000_000)),
        )
        .help("x".repeat(5000));
        assert_eq!(d.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(d.message.ends_with('…'));
        assert_eq!(
            d.help.as_deref().map(|h| h.chars().count()),
            Some(MAX_MESSAGE_CHARS + 1)
        );
        let d = Diagnostic::error(codes::SCHEMA, &Location::file("a.yaml"), "a\u{1b}[2Jb\nc");
        assert_eq!(d.message, "a\\u{1b}[2Jb\nc");
    }
}
