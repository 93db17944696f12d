//! A project on a cluster: Namespace, the `pipeline-runner` ServiceAccount, the member Roles
//! and a RoleBinding per member, ResourceQuota and LimitRange from its quota.

use super::{Out, RenderError, rbac};
use crate::model::kinds::ClusterSpec;
use crate::model::quantity::{Limit, fmt_cpu, fmt_memory};
use crate::model::{Manifest, Model, Project};
use serde_json::{Map, Value, json};

pub(super) fn render(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    out: &mut Out,
) -> Result<(), RenderError> {
    let ns = project.name();
    let source = project.manifest.file().to_string();
    out.emit("namespace", &source, json!({"namespace": ns}))?;
    out.emit(
        "serviceaccount",
        &source,
        json!({"name": "pipeline-runner", "namespace": ns, "automount": true}),
    )?;
    rbac::render_member_roles(&cluster.spec.capabilities, &source, out)?;
    for m in &project.manifest.spec.members {
        let (kind, user) = match m.user.strip_prefix('@') {
            Some(team) => ("Group", team.to_string()),
            None => ("User", m.user.clone()),
        };
        out.emit(
            "rolebinding",
            &source,
            json!({"namespace": ns, "name": format!("member-{}", dns_name(&m.user)), "role": rbac::member_role(&m.role),
                "subject": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": user}}),
        )?;
    }
    let Some(q) = model.quota_for(project, cluster.name()) else {
        return Ok(());
    };
    let qsource = q.file().to_string();
    let parse =
        |l: &Option<crate::model::kinds::Limits>| l.as_ref().and_then(|l| Limit::parse(l).ok());
    let mut hard = Map::new();
    if let Some(l) = parse(&q.spec.project) {
        if let Some(c) = l.cpu {
            hard.insert("requests.cpu".into(), json!(fmt_cpu(c)));
        }
        if let Some(m) = l.memory {
            hard.insert("requests.memory".into(), json!(fmt_memory(m)));
        }
        if l.gpu_limited {
            hard.insert(
                "requests.nvidia.com/gpu".into(),
                json!(l.gpu.values().sum::<u64>().to_string()),
            );
        }
    }
    if let Some(c) = &q.spec.counts {
        if let Some(n) = c.concurrent_runs {
            hard.insert("count/workflows.argoproj.io".into(), json!(n.to_string()));
        }
    }
    if !hard.is_empty() {
        out.emit(
            "resourcequota",
            &qsource,
            json!({"namespace": ns, "hard": hard}),
        )?;
    }
    if let Some(l) = parse(&q.spec.per_task) {
        let mut max = Map::new();
        if let Some(c) = l.cpu {
            max.insert("cpu".into(), json!(fmt_cpu(c)));
        }
        if let Some(m) = l.memory {
            max.insert("memory".into(), json!(fmt_memory(m)));
        }
        if l.gpu_limited {
            max.insert(
                "nvidia.com/gpu".into(),
                json!(l.gpu.values().max().copied().unwrap_or(0).to_string()),
            );
        }
        if !max.is_empty() {
            out.emit(
                "limitrange",
                &qsource,
                json!({"namespace": ns, "max": Value::Object(max)}),
            )?;
        }
    }
    Ok(())
}

use crate::model::checks::services::dns_name;
