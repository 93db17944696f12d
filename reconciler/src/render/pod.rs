//! The pieces every pod gets: container (image, command, env, resources, mounts) and pod
//! placement (project volumes, resource group nodeSelector and tolerations).

use super::obj;
use crate::model::kinds::{ClusterSpec, Gpu, Resources, SecretRef};
use crate::model::quantity::{cpu_millis, fmt_cpu, fmt_memory, memory_bytes};
use crate::model::{Model, Project};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What a container is made of, before it becomes blueprint context.
pub(super) struct ContainerSpec<'a> {
    pub image: &'a str,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Plain environment layers, later layers win.
    pub env: Vec<&'a BTreeMap<String, String>>,
    /// Secret-backed environment layers, later layers win.
    pub secret_env: Vec<&'a BTreeMap<String, SecretRef>>,
    pub resources: Resources,
    /// Whose workspace `subPathFromUser` mounts point at.
    pub owner: &'a str,
}

/// The cubist placeholders that become Argo workflow parameters: the run's execution date
/// (`YYYY-MM-DD`) and, for sub-daily schedules, its local time (`HH:MM`).
const RUN_PARAMETERS: [&str; 2] = ["execution_date", "execution_time"];

/// Rewrites cubist placeholders in a string for Argo: `{{execution_date}}` and
/// `{{execution_time}}` → the workflow parameters.
pub(super) fn argo_placeholders(s: &str) -> String {
    let mut out = s.to_string();
    for p in RUN_PARAMETERS {
        out = out.replace(
            &format!("{{{{{p}}}}}"),
            &format!("{{{{workflow.parameters.{p}}}}}"),
        );
    }
    out
}

/// Container context: `{image, command, args, env, resources, volumeMounts}`.
pub(super) fn container(project: &Project, spec: &ContainerSpec) -> Value {
    // Later layers win; secrets win over plain values.
    let mut env: BTreeMap<&str, Value> = BTreeMap::new();
    for layer in &spec.env {
        for (k, v) in *layer {
            env.insert(
                k,
                obj([
                    ("name", k.as_str().into()),
                    ("value", argo_placeholders(v).into()),
                ]),
            );
        }
    }
    for layer in &spec.secret_env {
        for (k, r) in *layer {
            let key_ref = obj([
                ("name", r.secret.as_str().into()),
                ("key", r.key.as_str().into()),
            ]);
            env.insert(
                k,
                obj([
                    ("name", k.as_str().into()),
                    ("valueFrom", obj([("secretKeyRef", key_ref)])),
                ]),
            );
        }
    }
    let mounts: Vec<Value> = project
        .manifest
        .spec
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut v = Map::new();
            v.insert("name".into(), format!("mount-{i}").into());
            v.insert("mountPath".into(), m.mount_path.as_str().into());
            if m.sub_path_from_user {
                v.insert("subPath".into(), spec.owner.into());
            }
            if m.read_only {
                v.insert("readOnly".into(), true.into());
            }
            Value::Object(v)
        })
        .collect();
    obj([
        ("image", Value::String(spec.image.to_string())),
        (
            "command",
            Value::Array(spec.command.iter().cloned().map(Value::String).collect()),
        ),
        (
            "args",
            Value::Array(spec.args.iter().cloned().map(Value::String).collect()),
        ),
        ("env", Value::Array(env.into_values().collect())),
        ("resources", resources(&spec.resources)),
        ("volumeMounts", Value::Array(mounts)),
    ])
}

/// Kubernetes `resources`: requests for cpu/memory/gpu, limits for memory and gpu.
pub(super) fn resources(r: &Resources) -> Value {
    let mut requests = Map::new();
    let mut limits = Map::new();
    if let Some(Ok(m)) = r.cpu.as_ref().map(cpu_millis) {
        let cpu = if m % 1000 == 0 {
            fmt_cpu(m)
        } else {
            format!("{m}m")
        };
        requests.insert("cpu".into(), cpu.into());
    }
    if let Some(Ok(b)) = r.memory.as_ref().map(memory_bytes) {
        let memory = fmt_memory(b);
        requests.insert("memory".into(), memory.clone().into());
        limits.insert("memory".into(), memory.into());
    }
    let gpus: u32 = match &r.gpu {
        Some(Gpu::Count(n)) => *n,
        Some(Gpu::ByType(m)) => m.values().sum(),
        None => 0,
    };
    if gpus > 0 {
        requests.insert("nvidia.com/gpu".into(), gpus.to_string().into());
        limits.insert("nvidia.com/gpu".into(), gpus.to_string().into());
    }
    obj([
        ("requests", Value::Object(requests)),
        ("limits", Value::Object(limits)),
    ])
}

/// Pod context: `{volumes, nodeSelector, tolerations}` of a project on a cluster.
pub(super) fn pod(model: &Model, project: &Project, cluster: &ClusterSpec) -> Value {
    let group = model.resource_group(project, cluster);
    let volumes: Vec<Value> = project
        .manifest
        .spec
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let claim = obj([("claimName", m.pvc.as_str().into())]);
            obj([
                ("name", format!("mount-{i}").into()),
                ("persistentVolumeClaim", claim),
            ])
        })
        .collect();
    obj([
        ("volumes", Value::Array(volumes)),
        (
            "nodeSelector",
            group.map_or_else(|| json!({}), |g| json!(g.node_selector)),
        ),
        (
            "tolerations",
            group.map_or_else(|| json!([]), |g| json!(g.tolerations)),
        ),
    ])
}

/// Substitutes `{{param}}` placeholders in template args with task args (and parameter
/// defaults); `{{execution_date}}` and `{{execution_time}}` become Argo's workflow parameters,
/// anything else stays.
pub(super) fn substitute(text: &str, args: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match args.get(name) {
            Some(Value::String(s)) => out.push_str(&argo_placeholders(s)),
            Some(v) => out.push_str(&v.to_string()),
            None if RUN_PARAMETERS.contains(&name) => {
                out.push_str(&format!("{{{{workflow.parameters.{name}}}}}"))
            }
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_args_and_execution_date() {
        let args: Map<String, Value> =
            serde_json::from_value(json!({"workers": 4, "script": "train.py"})).unwrap();
        assert_eq!(
            substitute("--nnodes={{workers}} {{ script }}", &args),
            "--nnodes=4 train.py"
        );
        assert_eq!(
            substitute("--date={{execution_date}} {{other}}", &args),
            "--date={{workflow.parameters.execution_date}} {{other}}"
        );
        assert_eq!(
            substitute("--at={{execution_time}}", &args),
            "--at={{workflow.parameters.execution_time}}"
        );
        assert_eq!(
            argo_placeholders("{{execution_date}}T{{execution_time}}"),
            "{{workflow.parameters.execution_date}}T{{workflow.parameters.execution_time}}"
        );
    }
}
