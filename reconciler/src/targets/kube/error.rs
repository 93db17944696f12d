//! Errors of the Kubernetes target, and reading the API server's answers.

use ::kube::core::Status;
use std::collections::BTreeMap;

/// What went wrong talking to a cluster as a whole (per-object failures go into plans and reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// The API server cannot be reached (connection refused, TLS failure, timeout): back off and retry.
    #[error("cluster {cluster} is unreachable: {message}")]
    Unreachable {
        /// Cluster name.
        cluster: String,
        /// The underlying error.
        message: String,
    },
    /// No usable client configuration (kubeconfig missing or invalid, unknown context).
    #[error("cluster {cluster}: {message}")]
    Config {
        /// Cluster or context name.
        cluster: String,
        /// What is wrong.
        message: String,
    },
    /// The credentials to reach the cluster are absent (no kubeconfig directory, no such file,
    /// no default kubeconfig): a neutral state, with what the operator should set.
    #[error("cluster {cluster} is not configured: {message}")]
    NotConfigured {
        /// Cluster name.
        cluster: String,
        /// What is missing and what to set.
        message: String,
    },
    /// The cluster does not serve this kind.
    #[error("{message}")]
    NotServed {
        /// Cluster name.
        cluster: String,
        /// apiVersion asked for.
        api_version: String,
        /// Kind asked for.
        kind: String,
        /// The full sentence, with the fix.
        message: String,
    },
    /// The API server refused a request.
    #[error("cluster {cluster}: {message} (HTTP {code})")]
    Api {
        /// Cluster name.
        cluster: String,
        /// HTTP status code (0 when there was none).
        code: u16,
        /// The server's message.
        message: String,
    },
}

impl KubeError {
    /// True when the cluster's credentials are absent (see [`KubeError::NotConfigured`]).
    pub fn is_not_configured(&self) -> bool {
        matches!(self, KubeError::NotConfigured { .. })
    }

    /// True when the cluster could not be reached at all (the caller should back off).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, KubeError::Unreachable { .. })
    }

    /// The `KubeError` inside an `anyhow::Error`, if that is what it is.
    pub fn find(err: &anyhow::Error) -> Option<&KubeError> {
        err.chain().find_map(|e| e.downcast_ref::<KubeError>())
    }
}

/// The error of a request, as the target needs to tell them apart.
pub fn classify(cluster: &str, e: ::kube::Error) -> KubeError {
    match e {
        ::kube::Error::Api(s) => KubeError::Api {
            cluster: cluster.to_string(),
            code: s.code,
            message: s.message.clone(),
        },
        e @ (::kube::Error::HyperError(_) | ::kube::Error::Service(_)) => KubeError::Unreachable {
            cluster: cluster.to_string(),
            message: chain(&e),
        },
        e @ (::kube::Error::Auth(_)
        | ::kube::Error::InferConfig(_)
        | ::kube::Error::InferKubeconfig(_)
        | ::kube::Error::RustlsTls(_)) => KubeError::Config {
            cluster: cluster.to_string(),
            message: chain(&e),
        },
        e => KubeError::Api {
            cluster: cluster.to_string(),
            code: 0,
            message: chain(&e),
        },
    }
}

/// An error and its sources, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// One field manager that owns fields cubist tried to set to other values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other field manager.
    pub manager: String,
    /// Field paths (`.spec.schedule`).
    pub fields: Vec<String>,
}

impl std::fmt::Display for FieldConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "field manager \"{}\" owns {}",
            self.manager,
            self.fields.join(", ")
        )
    }
}

/// The conflicts of a 409 answer to a server-side apply: from the status causes, else the message.
pub fn parse_conflicts(status: &Status) -> Vec<FieldConflict> {
    let mut by_manager: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cause in status.details.iter().flat_map(|d| &d.causes) {
        if let Some(manager) = quoted_after(&cause.message, "with \"") {
            by_manager
                .entry(manager)
                .or_default()
                .push(cause.field.clone());
        }
    }
    if by_manager.is_empty() {
        // `Apply failed with 2 conflicts: conflicts with "m" using v1:\n- .spec.a\n- .spec.b`
        // or `conflict with "m" using v1: .spec.a`.
        let mut current: Option<String> = None;
        for line in status.message.lines() {
            let mut rest = line;
            while let Some(i) = rest.find("with \"") {
                let m = quoted_after(&rest[i..], "with \"").unwrap_or_default();
                rest = &rest[i + 6 + m.len()..];
                let fields = rest
                    .split_once(':')
                    .map(|(_, f)| f.trim())
                    .unwrap_or_default();
                let entry = by_manager.entry(m.clone()).or_default();
                if fields.starts_with('.') {
                    entry.extend(
                        fields
                            .split(',')
                            .map(|f| f.trim().to_string())
                            .filter(|f| !f.is_empty()),
                    );
                }
                current = Some(m);
            }
            if let (Some(m), Some(field)) = (&current, line.trim().strip_prefix("- ")) {
                by_manager
                    .entry(m.clone())
                    .or_default()
                    .push(field.trim().to_string());
            }
        }
    }
    by_manager
        .into_iter()
        .map(|(manager, mut fields)| {
            fields.sort();
            fields.dedup();
            FieldConflict { manager, fields }
        })
        .collect()
}

fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::kube::core::response::{StatusCause, StatusDetails};

    #[test]
    fn conflicts_from_causes() {
        let status = Status::failure("Apply failed with 2 conflicts", "Conflict")
            .with_code(409)
            .with_details(StatusDetails {
                name: "x".into(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: vec![
                    StatusCause {
                        reason: "FieldManagerConflict".into(),
                        message: "conflict with \"other-tool\" using argoproj.io/v1alpha1".into(),
                        field: ".spec.schedule".into(),
                    },
                    StatusCause {
                        reason: "FieldManagerConflict".into(),
                        message: "conflict with \"other-tool\" using argoproj.io/v1alpha1".into(),
                        field: ".spec.suspend".into(),
                    },
                ],
                retry_after_seconds: 0,
            });
        assert_eq!(
            parse_conflicts(&status),
            vec![FieldConflict {
                manager: "other-tool".into(),
                fields: vec![".spec.schedule".into(), ".spec.suspend".into()]
            }]
        );
    }

    #[test]
    fn conflicts_from_message() {
        let one = Status::failure(
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .spec.x",
            "Conflict",
        );
        assert_eq!(
            parse_conflicts(&one),
            vec![FieldConflict {
                manager: "kubectl-edit".into(),
                fields: vec![".spec.x".into()]
            }]
        );
        let many = Status::failure(
            "Apply failed with 3 conflicts: conflicts with \"a\" using v1:\n- .spec.x\n- .spec.y\nconflict with \"b\": .spec.z",
            "Conflict",
        );
        assert_eq!(
            parse_conflicts(&many),
            vec![
                FieldConflict {
                    manager: "a".into(),
                    fields: vec![".spec.x".into(), ".spec.y".into()]
                },
                FieldConflict {
                    manager: "b".into(),
                    fields: vec![".spec.z".into()]
                },
            ]
        );
    }
}
