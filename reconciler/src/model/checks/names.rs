//! Generated object names fit their kind: cubist derives the names of Argo, KServe and
//! training-operator objects from manifest names, and an engine rejects (or fails to
//! reconcile) a name longer than it allows. Reported at the manifest name that makes it long.

use crate::diag::{Diagnostic, codes};
use crate::model::checks::services::{serving_versions, version_name};
use crate::model::{Manifest, Model, Project};

/// The longest name of each generated object that depends on more than one manifest name, and
/// why. Every other object is named after one DNS-1123 label (at most 63 characters).
pub const NAME_LIMITS: &[(&str, usize, &str)] = &[
    (
        "Workflow",
        63,
        "Argo puts the Workflow's name in a label of its pods",
    ),
    (
        "InferenceService",
        63,
        "KServe names the predictor's host `<service>-predictor-<project>`, one DNS label",
    ),
    ("Service", 63, "a Service name is one DNS-1035 label"),
    (
        "engine job",
        63,
        "Volcano, KubeRay and Katib put the job's name in label values of its pods and children",
    ),
    (
        "training job replica",
        63,
        "the training operator names each replica's pod and host `<job>-<role>-<index>`, one DNS label",
    ),
];

/// Characters the API server adds to a `generateName`.
const GENERATED_SUFFIX: usize = 5;

/// The limit and reason of a row of [`NAME_LIMITS`].
fn limit(kind: &str) -> (usize, &'static str) {
    NAME_LIMITS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, n, why)| (*n, *why))
        .expect("a kind of NAME_LIMITS")
}

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        pipelines(model, project, diags);
        services(model, project, diags);
    }
}

/// Whether a schedule fires more than once a day (its Workflow names then carry the time); a
/// schedule that does not parse is reported by the schedule check.
fn sub_daily(schedule: Option<&crate::model::kinds::Schedule>) -> bool {
    schedule
        .and_then(|s| crate::runs::dates::Cadence::new(s).ok())
        .is_some_and(|c| c.sub_daily())
}

/// `example` (the longest generated name, `len` characters) is over the limit of `kind`:
/// reported at `path` of manifest `m`; the help says how short its name must be.
fn too_long<S>(m: &Manifest<S>, path: &str, kind: &str, example: &str, len: usize) -> Diagnostic {
    let (max, why) = limit(kind);
    let name = m.name();
    let shorter = name.chars().count().saturating_sub(len - max);
    Diagnostic::error(
        codes::NAME_TOO_LONG,
        &m.at(path),
        format!("the {kind} name `{example}` is {len} characters long; the limit is {max} ({why})"),
    )
    .help(format!("shorten `{name}` to at most {shorter} characters"))
}

fn pipelines(model: &Model, project: &Project, diags: &mut Vec<Diagnostic>) {
    for p in project.pipelines.values() {
        let name = p.name();
        // One Workflow per execution (see `crate::runs::naming`): `<pipeline>-<yyyymmdd>`,
        // `-<hhmm>` (and `b` on a fall-back's repeated hour) for sub-daily crons, `-r<6 hex>`
        // for a `Run`'s attempt.
        let has_runs = project.runs.values().any(|r| r.spec.pipeline == name);
        if p.spec.schedule.is_some() || has_runs {
            let runs = if has_runs { "-rxxxxxx" } else { "" };
            let longest = |time: &str| format!("{name}-yyyymmdd{time}{runs}");
            let over = |example: &String| example.chars().count() > limit("Workflow").0;
            // Whether the cron is sub-daily (its schedule parsed again) matters only when the
            // time part would take the name over the limit.
            let mut example = longest("-hhmmb");
            if over(&example) && !sub_daily(p.spec.schedule.as_ref()) {
                example = longest("");
            }
            if over(&example) {
                let n = example.chars().count();
                diags.push(too_long(p, "metadata/name", "Workflow", &example, n));
            }
        }
        for (i, task) in p.spec.tasks.iter().enumerate() {
            let Some(t) = model.template(project, &task.template) else {
                continue;
            };
            // The engine job a task creates is `<pipeline>-<task>-<5 random>`; a training
            // operator names each replica `<job>-<role>-<index>` after it.
            let job = format!("{name}-{}-{}", task.name, "x".repeat(GENERATED_SUFFIX));
            let (kind, example) = match t.spec.engine.as_str() {
                "container" => continue,
                engine @ ("pytorchjob" | "xgboostjob" | "tfjob" | "mpijob") => {
                    let one = match engine {
                        "tfjob" => "chief",
                        "mpijob" => "launcher",
                        _ => "master",
                    };
                    let last_worker = task.workers(&t.spec).saturating_sub(1);
                    let longest = [format!("{one}-0"), format!("worker-{last_worker}")]
                        .into_iter()
                        .max_by_key(String::len)
                        .unwrap_or_default();
                    ("training job replica", format!("{job}-{longest}"))
                }
                // Volcano Job, RayJob, Katib Experiment.
                _ => ("engine job", job),
            };
            let len = example.chars().count();
            let max = limit(kind).0;
            if len > max {
                let mut d = too_long(p, &format!("spec/tasks/{i}/name"), kind, &example, len);
                d.help = Some(format!(
                    "shorten the pipeline name `{name}` or the task name `{}` by {} characters in all",
                    task.name,
                    len - max
                ));
                diags.push(d);
            }
        }
    }
}

fn services(model: &Model, project: &Project, diags: &mut Vec<Diagnostic>) {
    for s in project.services.values() {
        let name = s.name();
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_NAME,
                    &s.at("metadata/name"),
                    format!("service name `{name}` does not start with a letter: Kubernetes Services and KServe InferenceServices need a DNS-1035 label"),
                )
                .help("start the name with a lowercase letter"),
            );
        }
        let kserve = model
            .service_clusters(project, &s.spec)
            .iter()
            .any(|c| c.spec.capabilities.iter().any(|x| x == "kserve"));
        let serving = serving_versions(&s.spec);
        let split = serving.len() > 1;
        for v in serving {
            // One predictor per serving version when they are split (`<service>-<version>`,
            // an InferenceService or a Deployment and a Service), else the service's own name.
            let predictor = if split {
                version_name(name, &v.name)
            } else {
                name.to_string()
            };
            let (kind, example) = if kserve {
                (
                    "InferenceService",
                    format!("{predictor}-predictor-{}", project.name()),
                )
            } else {
                ("Service", predictor.clone())
            };
            let len = example.chars().count();
            if len <= limit(kind).0 {
                continue;
            }
            let index = s.spec.versions.iter().position(|x| std::ptr::eq(x, v));
            let path = match (split, index) {
                (true, Some(i)) => format!("spec/versions/{i}/name"),
                _ => "metadata/name".to_string(),
            };
            let mut d = too_long(s, &path, kind, &example, len);
            d.help = Some(format!(
                "shorten the service name `{name}`{} (or the project name) by {} character(s) in all",
                if split {
                    format!(" or the version name `{}`", v.name)
                } else {
                    String::new()
                },
                len - limit(kind).0
            ));
            diags.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::source::{FileBody, snapshot_dir};
    use std::path::Path;

    /// The E0207 messages on Workflow names of the examples repository with its `daily-ranker`
    /// pipeline (which `Run`s start) renamed to `name` and scheduled by `cron`.
    fn too_long_names(name: &str, cron: &str) -> Vec<String> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo");
        let mut snapshot = snapshot_dir(&repo).unwrap();
        for (path, body) in snapshot.files.iter_mut() {
            let FileBody::Bytes(bytes) = body else {
                continue;
            };
            let text = std::str::from_utf8(bytes).unwrap();
            if path.starts_with("projects/recsys/") && text.contains("daily-ranker") {
                let text = text
                    .replace("pipeline: daily-ranker", &format!("pipeline: {name}"))
                    .replace("name: daily-ranker", &format!("name: {name}"))
                    .replace("cron: \"0 2 * * *\"", &format!("cron: \"{cron}\""));
                *body = FileBody::Bytes(text.into_bytes().into());
            }
        }
        let (_, diags) = crate::model::load(&snapshot);
        diags
            .iter()
            .filter(|d| d.code == crate::diag::codes::NAME_TOO_LONG)
            .filter(|d| d.message.starts_with("the Workflow name"))
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn the_time_part_counts_only_for_a_sub_daily_cron() {
        // `<name>-yyyymmdd-rxxxxxx` is 63 characters: a Workflow name's limit.
        let name = "a".repeat(63 - "-yyyymmdd-rxxxxxx".len());
        assert_eq!(too_long_names(&name, "0 2 * * *"), Vec::<String>::new());
        let hourly = too_long_names(&name, "0 */6 * * *");
        assert_eq!(hourly.len(), 1, "{hourly:?}");
        assert!(
            hourly[0].contains(&format!("`{name}-yyyymmdd-hhmmb-rxxxxxx` is 69 characters")),
            "{}",
            hourly[0]
        );
        let longer = too_long_names(&format!("{name}a"), "0 2 * * *");
        assert_eq!(longer.len(), 1, "{longer:?}");
        assert!(longer[0].contains("-yyyymmdd-rxxxxxx` is 64 characters"));
    }
}
