//! Typed manifests placed into a model: per kind, per project, duplicates reported.

use super::kinds::*;
use super::{Manifest, Model, Project};
use crate::diag::{Diagnostic, Location, codes};
use crate::source::Snapshot;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The typed manifests of some files by kind; project-scoped ones with their project directory.
#[derive(Default, Clone)]
pub(super) struct Typed {
    pub(super) platform: Vec<Manifest<PlatformSpec>>,
    pub(super) clusters: Vec<Manifest<ClusterSpec>>,
    pub(super) templates: Vec<(Option<String>, Manifest<TemplateSpec>)>,
    pub(super) projects: Vec<Manifest<ProjectSpec>>,
    pub(super) quotas: Vec<(String, Manifest<QuotaSpec>)>,
    pub(super) pipelines: Vec<(String, Manifest<PipelineSpec>)>,
    pub(super) services: Vec<(String, Manifest<ServiceSpec>)>,
    pub(super) runs: Vec<(String, Manifest<RunSpec>)>,
}

impl Typed {
    /// Appends the manifests of files that come after this one's.
    pub(super) fn append(&mut self, mut other: Typed) {
        self.platform.append(&mut other.platform);
        self.clusters.append(&mut other.clusters);
        self.templates.append(&mut other.templates);
        self.projects.append(&mut other.projects);
        self.quotas.append(&mut other.quotas);
        self.pipelines.append(&mut other.pipelines);
        self.services.append(&mut other.services);
        self.runs.append(&mut other.runs);
    }
}

/// Places typed manifests into the model, reporting duplicate names per kind and project.
pub(super) fn assemble(t: Typed, snapshot: &Snapshot, diags: &mut Vec<Diagnostic>) -> Model {
    let mut model = Model::default();
    for p in t.platform {
        if let Some(first) = &model.platform {
            diags.push(duplicate("Platform", &p, first));
        } else {
            model.platform = Some(p);
        }
    }
    insert_unique("Cluster", &mut model.clusters, t.clusters, diags);
    let (platform_templates, project_templates): (Vec<_>, Vec<_>) = t
        .templates
        .into_iter()
        .partition(|(scope, _)| scope.is_none());
    insert_unique(
        "Template",
        &mut model.templates,
        platform_templates.into_iter().map(|(_, m)| m).collect(),
        diags,
    );
    let mut projects: BTreeMap<String, Project> = BTreeMap::new();
    for manifest in t.projects {
        if let Some(first) = projects.get(manifest.name()) {
            // Two Project documents in one directory: the first by path is the project.
            diags.push(duplicate("Project", &manifest, &first.manifest));
            continue;
        }
        let name = manifest.name().to_string();
        projects.insert(
            name,
            Project {
                manifest,
                quotas: Vec::new(),
                templates: BTreeMap::new(),
                pipelines: BTreeMap::new(),
                services: BTreeMap::new(),
                runs: BTreeMap::new(),
            },
        );
    }
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    let mut by_project = |project: &str, file: &str| -> Option<String> {
        if projects.contains_key(project) {
            Some(project.to_string())
        } else {
            missing
                .entry(project.to_string())
                .or_insert_with(|| file.to_string());
            None
        }
    };
    let mut quotas: BTreeMap<String, Vec<Manifest<QuotaSpec>>> = BTreeMap::new();
    let mut templates: BTreeMap<String, Vec<Manifest<TemplateSpec>>> = BTreeMap::new();
    let mut pipelines: BTreeMap<String, Vec<Manifest<PipelineSpec>>> = BTreeMap::new();
    let mut services: BTreeMap<String, Vec<Manifest<ServiceSpec>>> = BTreeMap::new();
    let mut runs: BTreeMap<String, Vec<Manifest<RunSpec>>> = BTreeMap::new();
    for (p, m) in t.quotas {
        if let Some(p) = by_project(&p, m.file()) {
            quotas.entry(p).or_default().push(m)
        }
    }
    for (p, m) in project_templates {
        if let Some(p) = p.and_then(|p| by_project(&p, m.file())) {
            templates.entry(p).or_default().push(m)
        }
    }
    for (p, m) in t.pipelines {
        if let Some(p) = by_project(&p, m.file()) {
            pipelines.entry(p).or_default().push(m)
        }
    }
    for (p, m) in t.services {
        if let Some(p) = by_project(&p, m.file()) {
            services.entry(p).or_default().push(m)
        }
    }
    for (p, m) in t.runs {
        if let Some(p) = by_project(&p, m.file()) {
            runs.entry(p).or_default().push(m)
        }
    }
    for (project, file) in missing {
        // A project.yaml with an error has been reported already: its files are not orphans.
        if ["yaml", "yml"].iter().any(|ext| {
            snapshot
                .files
                .contains_key(&format!("projects/{project}/project.{ext}"))
        }) {
            continue;
        }
        diags.push(
            Diagnostic::error(
                codes::MISSING_PROJECT,
                &Location::file(&file),
                format!("projects/{project}/ has no project.yaml"),
            )
            .help(format!(
                "add projects/{project}/project.yaml with `kind: Project` and `name: {project}`"
            )),
        );
    }
    for (name, project) in projects.iter_mut() {
        let mut qs = quotas.remove(name).unwrap_or_default();
        qs.sort_by(|a, b| a.spec.cluster.cmp(&b.spec.cluster));
        for pair in qs.windows(2) {
            if pair[0].spec.cluster == pair[1].spec.cluster {
                diags.push(duplicate("Quota", &pair[1], &pair[0]));
            }
        }
        qs.dedup_by(|a, b| a.spec.cluster == b.spec.cluster);
        project.quotas = qs;
        insert_unique(
            "Template",
            &mut project.templates,
            templates.remove(name).unwrap_or_default(),
            diags,
        );
        insert_unique(
            "Pipeline",
            &mut project.pipelines,
            pipelines.remove(name).unwrap_or_default(),
            diags,
        );
        insert_unique(
            "Service",
            &mut project.services,
            services.remove(name).unwrap_or_default(),
            diags,
        );
        insert_unique(
            "Run",
            &mut project.runs,
            runs.remove(name).unwrap_or_default(),
            diags,
        );
    }
    model.projects = projects
        .into_iter()
        .map(|(name, project)| (name, Arc::new(project)))
        .collect();
    model
}

fn insert_unique<S>(
    kind: &str,
    map: &mut BTreeMap<String, Manifest<S>>,
    items: Vec<Manifest<S>>,
    diags: &mut Vec<Diagnostic>,
) {
    for m in items {
        if let Some(first) = map.get(m.name()) {
            diags.push(duplicate(kind, &m, first));
        } else {
            map.insert(m.name().to_string(), m);
        }
    }
}

fn duplicate<S>(kind: &str, again: &Manifest<S>, first: &Manifest<S>) -> Diagnostic {
    Diagnostic::error(
        codes::DUPLICATE_NAME,
        &again.at("metadata/name"),
        format!(
            "{kind} `{}` is already defined at {}",
            again.name(),
            first.at("metadata/name")
        ),
    )
    .help(format!("rename one of the two {kind}s"))
}
