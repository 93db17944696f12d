//! Status documents from a reconcile: the per-project digest the page shows (members, quota
//! usage, pipelines, services) and conversions of diagnostics.

use crate::diag::Diagnostic;
use crate::model::checks::{peak, workloads};
use crate::model::quantity::Limit;
use crate::model::{Model, Project};
use cubist_status_ui::doc::{self, ErrorEntry, ProjectDigest};

/// A diagnostic as a status error entry.
pub fn error_entry(d: &Diagnostic) -> ErrorEntry {
    ErrorEntry {
        file: d.file.clone(),
        line: d.line,
        column: d.column,
        code: d.code.to_string(),
        message: d.message.clone(),
    }
}

/// An error with no file (e.g. an unreachable cluster).
pub fn plain_error(code: &str, message: impl Into<String>) -> ErrorEntry {
    ErrorEntry {
        file: String::new(),
        line: 0,
        column: 0,
        code: code.to_string(),
        message: message.into(),
    }
}

/// The page's view of one project.
pub fn project_digest(model: &Model, project: &Project) -> ProjectDigest {
    let spec = &project.manifest.spec;
    let clusters = model.project_clusters(project);
    let mut quota = Vec::new();
    for c in &clusters {
        let (loads, _) = workloads(model, project, c);
        let (used, _) = peak(project, &loads);
        let Some(limit) = model
            .quota_for(project, c.name())
            .and_then(|q| q.spec.project.as_ref())
            .and_then(|l| Limit::parse(l).ok())
        else {
            continue;
        };
        let row = |resource: &str, used: f64, limit: f64, unit: &str| doc::QuotaRow {
            cluster: c.name().to_string(),
            resource: resource.into(),
            used,
            limit,
            unit: unit.into(),
        };
        if let Some(l) = limit.cpu {
            quota.push(row(
                "cpu",
                used.cpu as f64 / 1000.0,
                l as f64 / 1000.0,
                "cores",
            ));
        }
        if let Some(l) = limit.memory {
            quota.push(row("memory", used.memory as f64, l as f64, "bytes"));
        }
        for (t, l) in &limit.gpu {
            quota.push(row(
                &format!("gpu/{t}"),
                used.gpu.get(t).copied().unwrap_or(0) as f64,
                *l as f64,
                "gpus",
            ));
        }
    }
    let role = |r: &str| match r {
        "admin" => doc::Role::Admin,
        "developer" => doc::Role::Developer,
        _ => doc::Role::Viewer,
    };
    ProjectDigest {
        name: project.name().to_string(),
        display_name: spec.display_name.clone().unwrap_or_default(),
        description: spec.description.clone().unwrap_or_default(),
        members: spec
            .members
            .iter()
            .map(|m| doc::Member {
                user: m.user.clone(),
                role: role(&m.role),
            })
            .collect(),
        clusters: clusters.iter().map(|c| c.name().to_string()).collect(),
        resource_group: spec.placement.resource_group.clone(),
        quota,
        pipelines: project
            .pipelines
            .values()
            .map(|p| doc::PipelineDigest {
                name: p.name().to_string(),
                file: p.file().to_string(),
                owner: p.spec.owner.clone(),
                schedule: p.spec.schedule.as_ref().map(|s| doc::Schedule {
                    cron: s.cron.clone(),
                    timezone: s.timezone.clone().unwrap_or_else(|| "UTC".into()),
                    description: None,
                    next_run: None,
                }),
                tasks: p
                    .spec
                    .tasks
                    .iter()
                    .map(|t| doc::TaskDigest {
                        name: t.name.clone(),
                        template: t.template.clone(),
                        after: t.after.clone(),
                    })
                    .collect(),
                runs: Vec::new(),
            })
            .collect(),
        services: project
            .services
            .values()
            .map(|s| doc::ServiceDigest {
                name: s.name().to_string(),
                file: s.file().to_string(),
                owner: s.spec.owner.clone(),
                framework: s.spec.framework.clone(),
                versions: s
                    .spec
                    .versions
                    .iter()
                    .map(|v| doc::ServiceVersion {
                        name: v.name.clone(),
                        model: v.model.clone(),
                        traffic: f64::from(v.traffic),
                    })
                    .collect(),
                replicas: s.spec.replicas.as_ref().map(|r| doc::Replicas {
                    min: r.min,
                    max: r.max,
                }),
                autoscale: s.spec.autoscale.as_ref().map(|a| doc::Autoscale {
                    metric: a.metric.clone(),
                    target: a.target,
                }),
                health: Default::default(),
            })
            .collect(),
    }
}
