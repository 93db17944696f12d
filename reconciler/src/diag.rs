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
            message: message.into(),
            help: None,
            project: project_of_path(&at.file),
        }
    }

    /// Adds the fix to suggest.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
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

/// The project that owns a repository path: `projects/<p>/…` → `<p>`.
pub fn project_of_path(path: &str) -> Option<String> {
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("projects"), Some(p), Some(_)) if !p.is_empty() => Some(p.to_string()),
        _ => None,
    }
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
            EMPTY_FILE,
            "the file holds no manifest (empty or only comments)",
        ),
        (NO_CLUSTER, "a project is placed on no cluster"),
    ];
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
    /// Rendering a valid project failed (reported by the reconcile loop, not by validate).
    pub const RENDER: &str = "E0999";
    /// Project placed on no cluster (warning).
    pub const NO_CLUSTER: &str = "W0002";
}
