//! Quota impact of a pull request: per project and cluster, the peak usage the validator
//! computes (see `model::checks::quota`) before and after, against the quota's limits.

use crate::model::Model;
use crate::model::quantity::{fmt_cpu, fmt_memory};
use crate::report::digest::project_digest;
use std::collections::{BTreeMap, BTreeSet};

/// One resource of one project on one cluster whose usage or limit changes.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaImpact {
    /// Project name.
    pub project: String,
    /// Cluster name.
    pub cluster: String,
    /// `cpu`, `memory` or `gpu/<type>`.
    pub resource: String,
    /// `cores`, `bytes` or `gpus`.
    pub unit: String,
    /// Peak usage on the base (`None`: no quota row there).
    pub before: Option<f64>,
    /// Peak usage on the head (`None`: no quota row there).
    pub after: Option<f64>,
    /// The quota's limit on the base.
    pub limit_before: Option<f64>,
    /// The quota's limit on the head.
    pub limit_after: Option<f64>,
}

impl QuotaImpact {
    /// A value in this row's unit for people: `4`, `500m`, `16Gi`, `2`.
    pub fn show(&self, value: Option<f64>) -> String {
        match value {
            None => "—".to_string(),
            Some(v) => match self.unit.as_str() {
                "cores" => fmt_cpu((v * 1000.0).round() as u64),
                "bytes" => fmt_memory(v.round() as u64),
                _ => format!("{}", v.round() as u64),
            },
        }
    }

    /// True when the head's usage exceeds the head's limit.
    pub fn over(&self) -> bool {
        matches!((self.after, self.limit_after), (Some(a), Some(l)) if a > l)
    }
}

type Rows = BTreeMap<(String, String, String), (f64, f64, String)>;

/// `(project, cluster, resource) → (used, limit, unit)` of every project with a quota.
fn rows(model: &Model) -> Rows {
    let mut out = Rows::new();
    for project in model.projects.values() {
        for r in project_digest(model, project).quota {
            out.insert(
                (project.name().to_string(), r.cluster, r.resource),
                (r.used, r.limit, r.unit),
            );
        }
    }
    out
}

/// The rows whose usage or limit differs between `base` and `head`, sorted by project,
/// cluster and resource.
pub fn quota_impact(base: &Model, head: &Model) -> Vec<QuotaImpact> {
    let (before, after) = (rows(base), rows(head));
    let keys: BTreeSet<&(String, String, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (b, a) = (before.get(key), after.get(key));
            if b.map(|(u, l, _)| (u, l)) == a.map(|(u, l, _)| (u, l)) {
                return None;
            }
            let unit = a.or(b).map(|r| r.2.clone()).unwrap_or_default();
            Some(QuotaImpact {
                project: key.0.clone(),
                cluster: key.1.clone(),
                resource: key.2.clone(),
                unit,
                before: b.map(|r| r.0),
                after: a.map(|r| r.0),
                limit_before: b.map(|r| r.1),
                limit_after: a.map(|r| r.1),
            })
        })
        .collect()
}
