//! References between manifests: clusters, resource groups, members, templates, pipelines,
//! reserved namespaces and cluster capabilities.

use super::{Rejected, capability_for_engine};
use crate::diag::{Diagnostic, codes};
use crate::model::{Model, Project};

const RESERVED: &[&str] = &["default", "cubist-system"];

pub(super) fn check(model: &Model, rejected: &Rejected, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        check_project(model, project, rejected, diags);
    }
}

fn check_project(
    model: &Model,
    project: &Project,
    rejected: &Rejected,
    diags: &mut Vec<Diagnostic>,
) {
    let name = project.name();
    // Unknown, and not one that was left out of the model because of its own error.
    let unknown_cluster_ref =
        |c: &str| !model.clusters.contains_key(c) && !rejected.may_define("Cluster", Some(name), c);
    let m = &project.manifest;
    if RESERVED.contains(&name) || name.starts_with("kube-") {
        diags.push(
            Diagnostic::error(codes::RESERVED_NAMESPACE, &m.at("metadata/name"), format!("project name `{name}` is a reserved namespace"))
                .help("`default`, `cubist-system` and `kube-*` are reserved; rename the project and its directory"),
        );
    }
    let placement = &m.spec.placement;
    for (i, c) in placement.clusters.iter().enumerate() {
        if unknown_cluster_ref(c) {
            diags.push(unknown_cluster(
                model,
                c,
                m.at(&format!("spec/placement/clusters/{i}")),
            ));
        }
    }
    let clusters = model.project_clusters(project);
    if clusters.is_empty()
        && placement
            .clusters
            .iter()
            .all(|c| model.clusters.contains_key(c))
    {
        diags.push(
            Diagnostic::warning(
                codes::NO_CLUSTER,
                &m.doc.at_key("spec", "placement"),
                format!("project `{name}` is placed on no cluster"),
            )
            .help("list clusters under `placement.clusters` or fix the `selector` labels"),
        );
    }
    if let Some(group) = &placement.resource_group {
        for c in &clusters {
            if !c.spec.resource_groups.iter().any(|g| &g.name == group) {
                let have: Vec<&str> = c
                    .spec
                    .resource_groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect();
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_RESOURCE_GROUP,
                        &m.at("spec/placement/resourceGroup"),
                        format!("cluster `{}` has no resource group `{group}`", c.name()),
                    )
                    .help(format!(
                        "{}use one of: {}",
                        did_you_mean(group, &have),
                        list(&have)
                    )),
                );
            }
        }
    }
    let members: Vec<&str> = m.spec.members.iter().map(|m| m.user.as_str()).collect();
    let member_check = |user: &str, at: crate::diag::Location, what: &str| -> Option<Diagnostic> {
        (!members.contains(&user)).then(|| {
            Diagnostic::error(
                codes::UNKNOWN_MEMBER,
                &at,
                format!("{what} `{user}` is not a member of project `{name}`"),
            )
            .help(format!(
                "add `{user}` to spec.members in projects/{name}/project.yaml, or use one of: {}",
                list(&members)
            ))
        })
    };
    for q in &project.quotas {
        if let Some(c) = &q.spec.cluster
            && unknown_cluster_ref(c)
        {
            diags.push(unknown_cluster(model, c, q.at("spec/cluster")));
        }
    }
    for p in project.pipelines.values() {
        diags.extend(member_check(&p.spec.owner, p.at("spec/owner"), "owner"));
        if let Some(alerts) = &p.spec.alerts {
            for (i, u) in alerts.notify.iter().enumerate() {
                diags.extend(member_check(
                    u,
                    p.at(&format!("spec/alerts/notify/{i}")),
                    "alert recipient",
                ));
            }
        }
        for (i, task) in p.spec.tasks.iter().enumerate() {
            match model.template(project, &task.template) {
                None if rejected.may_define("Template", Some(name), &task.template) => {}
                None => {
                    let mut known: Vec<String> = project
                        .templates
                        .keys()
                        .chain(model.templates.keys())
                        .cloned()
                        .collect();
                    known.sort();
                    let hint = crate::model::schema::closest(&task.template, &known)
                        .map(|k| format!("did you mean `{k}`? "))
                        .unwrap_or_default();
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_TEMPLATE,
                            &p.at(&format!("spec/tasks/{i}/template")),
                            format!(
                                "task `{}` uses unknown template `{}`",
                                task.name, task.template
                            ),
                        )
                        .help(format!(
                            "{hint}add templates/{}.yaml or use an existing template",
                            task.template
                        )),
                    );
                }
                Some(t) => {
                    let need = capability_for_engine(&t.spec.engine);
                    for c in &clusters {
                        for cap in [need, "argo-workflows"] {
                            if !c.spec.capabilities.iter().any(|x| x == cap) {
                                diags.push(
                                    Diagnostic::error(
                                        codes::CAPABILITY,
                                        &p.at(&format!("spec/tasks/{i}/template")),
                                        format!("task `{}` (engine {}) needs capability `{cap}`, which cluster `{}` lacks", task.name, t.spec.engine, c.name()),
                                    )
                                    .help(format!("add `{cap}` to the capabilities of cluster `{}` (and install it there), or place project `{name}` elsewhere", c.name())),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    for s in project.services.values() {
        diags.extend(member_check(&s.spec.owner, s.at("spec/owner"), "owner"));
        if let Some(pl) = &s.spec.placement {
            for (i, c) in pl.clusters.iter().enumerate() {
                let at = s.at(&format!("spec/placement/clusters/{i}"));
                if !model.clusters.contains_key(c) {
                    if unknown_cluster_ref(c) {
                        diags.push(unknown_cluster(model, c, at));
                    }
                } else if !clusters.iter().any(|pc| pc.name() == c) {
                    let on: Vec<&str> = clusters.iter().map(|c| c.name()).collect();
                    diags.push(
                        Diagnostic::error(
                            codes::PLACEMENT,
                            &at,
                            format!(
                                "service `{}` is placed on `{c}`, but project `{name}` is not",
                                s.name()
                            ),
                        )
                        .help(format!(
                            "use a subset of the project's clusters: {}",
                            list(&on)
                        )),
                    );
                }
            }
        }
    }
    for r in project.runs.values() {
        if !project.pipelines.contains_key(&r.spec.pipeline)
            && !rejected.may_define("Pipeline", Some(name), &r.spec.pipeline)
        {
            let known: Vec<&str> = project.pipelines.keys().map(String::as_str).collect();
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_PIPELINE,
                    &r.at("spec/pipeline"),
                    format!(
                        "run `{}` names unknown pipeline `{}`",
                        r.name(),
                        r.spec.pipeline
                    ),
                )
                .help(format!(
                    "{}use a pipeline of project `{name}`: {}",
                    did_you_mean(&r.spec.pipeline, &known),
                    list(&known)
                )),
            );
        }
    }
}

fn unknown_cluster(model: &Model, name: &str, at: crate::diag::Location) -> Diagnostic {
    let known: Vec<&str> = model.clusters.keys().map(String::as_str).collect();
    Diagnostic::error(
        codes::UNKNOWN_CLUSTER,
        &at,
        format!("unknown cluster `{name}`"),
    )
    .help(format!(
        "{}add clusters/{name}.yaml or use one of: {}",
        did_you_mean(name, &known),
        list(&known)
    ))
}

pub(super) fn did_you_mean(name: &str, known: &[&str]) -> String {
    let known: Vec<String> = known.iter().map(|k| k.to_string()).collect();
    crate::model::schema::closest(name, &known)
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default()
}

pub(super) fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}
