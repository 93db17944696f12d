//! The summary's file at thousands of projects. The summary lists every project (5,000
//! projects: 600 KB), and a new one is written by every reconcile; each project's lines are
//! kept from the last summary while its entry stays the same, so a reconcile serialises the
//! header and the changed entries only. The entry of a project without errors is not even
//! made while it follows from the same project, last good state and hold (the same `Arc`s). The bytes are those of serialising the whole summary
//! (tested); whenever the fast YAML writer does not know how to write a part, the whole summary
//! is serialised instead.

use super::status_dir::StatusFile;
use super::status_doc::pair_up;
use crate::model::Project;
use crate::reconcile::Good;
use cubist_status_ui::doc::{ProjectState, ProjectStatus, Summary};
use cubist_status_ui::yaml_emit;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The lines of each project's entry in the last summary, by project, with the entry and
/// what it was made from when that alone decided it.
#[derive(Default)]
pub(crate) struct ProjectLines(BTreeMap<String, Kept>);

/// One project's entry in the last summary.
struct Kept {
    entry: ProjectStatus,
    lines: String,
    from: Option<From>,
}

/// What the entry of a project without errors follows from: the project as loaded, its last
/// good state and whether it is held. The same ones (the same `Arc`s) make the same entry.
struct From {
    project: Arc<Project>,
    good: Option<Arc<Good>>,
    held: bool,
}

/// One project's entry of a summary in the making.
pub(crate) enum Entry<'a> {
    /// A project of the model without errors: its entry follows from these, and is made only
    /// when they are not the ones its kept entry was made from.
    Plain {
        name: &'a String,
        project: &'a Arc<Project>,
        good: Option<&'a Arc<Good>>,
        held: bool,
    },
    /// Any other project's entry, made.
    Made(ProjectStatus),
}

impl Entry<'_> {
    /// The project's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Entry::Plain { name, .. } => name,
            Entry::Made(p) => &p.name,
        }
    }

    /// The entry.
    pub(crate) fn status(&self) -> ProjectStatus {
        match self {
            Entry::Plain {
                name,
                project,
                good,
                held,
            } => ProjectStatus {
                name: name.to_string(),
                display_name: project
                    .manifest
                    .spec
                    .display_name
                    .clone()
                    .unwrap_or_default(),
                state: if *held {
                    ProjectState::Failed
                } else {
                    ProjectState::Ready
                },
                revision: good.map(|g| g.revision.clone()).unwrap_or_default(),
                errors: Vec::new(),
            },
            Entry::Made(p) => p.clone(),
        }
    }

    /// What it follows from, if that alone decides it.
    fn from(&self) -> Option<From> {
        match self {
            Entry::Plain {
                project,
                good,
                held,
                ..
            } => Some(From {
                project: Arc::clone(project),
                good: good.cloned(),
                held: *held,
            }),
            Entry::Made(_) => None,
        }
    }

    /// True when it follows from what `from` says (the same `Arc`s).
    fn made_from(&self, from: Option<&From>) -> bool {
        match (self, from) {
            (
                Entry::Plain {
                    project,
                    good,
                    held,
                    ..
                },
                Some(f),
            ) => {
                Arc::ptr_eq(project, &f.project)
                    && *held == f.held
                    && match (good, &f.good) {
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        (None, None) => true,
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}

/// The `projects` field of a summary whose list is empty, as the writer writes it.
const EMPTY: &str = "\nprojects: []\n";

impl ProjectLines {
    /// The file of `summary` (without projects) listing `entries` (sorted by name, each name
    /// once).
    pub(crate) fn file(&mut self, mut summary: Summary, entries: Vec<Entry>) -> StatusFile {
        let text = self.spliced(&summary, entries).unwrap_or_else(|entries| {
            summary.projects = entries.iter().map(Entry::status).collect();
            cubist_status_ui::yaml::to_yaml(&summary).expect("status documents serialise")
        });
        StatusFile::new(text.into_bytes())
    }

    /// The YAML of `header` (a summary without projects) with the lines of each of `entries`
    /// (kept or new) in its empty list; the entries back when the fast writer does not know
    /// how to write a part.
    fn spliced<'a>(
        &mut self,
        header: &Summary,
        entries: Vec<Entry<'a>>,
    ) -> Result<String, Vec<Entry<'a>>> {
        let header = yaml_emit::to_yaml(header).and_then(|h| {
            let at = h.find(EMPTY)?;
            Some((h, at))
        });
        let Some((header, at)) = header else {
            return Err(entries);
        };
        let (work, gone) = pair_up(entries, &self.0, |e, k, _| e.name().cmp(k));
        let mut text = String::with_capacity(header.len() + 128 * work.len());
        text.push_str(&header[..at]);
        text.push_str(if work.is_empty() {
            EMPTY
        } else {
            "\nprojects:\n"
        });
        let mut changed = Vec::new();
        for (e, last) in &work {
            if let Some(last) = last.filter(|l| e.made_from(l.from.as_ref())) {
                text.push_str(&last.lines);
                continue;
            }
            let entry = e.status();
            let lines = match last.filter(|l| l.entry == entry) {
                Some(last) => last.lines.clone(),
                None => match yaml_emit::to_yaml(std::slice::from_ref(&entry)) {
                    Some(lines) => lines,
                    None => return Err(work.into_iter().map(|(e, _)| e).collect()),
                },
            };
            text.push_str(&lines);
            let from = e.from();
            changed.push((entry.name.clone(), Kept { entry, lines, from }));
        }
        text.push_str(&header[at + EMPTY.len()..]);
        for name in gone {
            self.0.remove(&name);
        }
        self.0.extend(changed);
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::doc::{ClusterStatus, ErrorEntry, ProjectState};

    fn project(name: &str, display: &str, errors: usize) -> ProjectStatus {
        ProjectStatus {
            name: name.into(),
            display_name: display.into(),
            state: if errors > 0 {
                ProjectState::Failed
            } else {
                ProjectState::Ready
            },
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            errors: (0..errors)
                .map(|i| ErrorEntry {
                    code: "E0103".into(),
                    message: format!("error {i}: `a: b` # not a comment\n- not a list"),
                    file: format!("projects/{name}/s.yaml"),
                    line: i + 1,
                    column: 3,
                })
                .collect(),
        }
    }

    fn summary(projects: Vec<ProjectStatus>, message: &str) -> Summary {
        Summary {
            revision: "r".into(),
            reconciled_at: Some(chrono::Utc::now()),
            duration_ms: 7,
            author: "a <a@example.com>".into(),
            message: message.into(),
            clusters: vec![ClusterStatus {
                name: "c".into(),
                ..Default::default()
            }],
            projects,
            errors: vec![ErrorEntry {
                code: "E0001".into(),
                message: "projects: []".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_summary_made_of_kept_lines_is_the_serialised_summary() {
        let mut lines = ProjectLines::default();
        let steps = [
            vec![],
            vec![project("a", "A", 0), project("b", "", 2)],
            vec![project("a", "A", 0), project("b", "", 2)],
            vec![project("a", "A: team", 1), project("c", "C\nD", 0)],
            vec![project("b", "'quoted'", 0), project("c", "C\nD", 0)],
            vec![],
        ];
        for (i, projects) in steps.into_iter().enumerate() {
            let mut s = summary(projects, "line\nprojects: []\nmore");
            let whole = cubist_status_ui::yaml::to_yaml(&s).unwrap();
            let entries = std::mem::take(&mut s.projects)
                .into_iter()
                .map(Entry::Made)
                .collect();
            assert_eq!(
                lines.file(s, entries).bytes.as_deref(),
                Some(whole.as_bytes()),
                "step {i}"
            );
            assert!(lines.0.len() <= 2);
        }
        assert!(lines.0.is_empty(), "the lines of projects gone are dropped");
    }

    /// The entry of a project without errors, kept while it follows from the same project,
    /// last good state and hold, is made again once any of them is another.
    #[test]
    fn a_plain_entry_is_made_again_when_what_it_follows_from_changes() {
        let (model, _) = crate::model::load(&crate::synth::snapshot(&crate::synth::Shape::small()));
        let (name, loaded) = model.projects.iter().next().unwrap();
        let mut renamed = (**loaded).clone();
        Arc::make_mut(&mut renamed.manifest.spec).display_name = Some("Renamed: team".into());
        let renamed = Arc::new(renamed);
        let good = |project: &Arc<Project>, revision: &str| {
            Arc::new(Good::empty(project.clone(), revision))
        };
        let (first, second) = (good(loaded, "1111"), good(loaded, "2222"));
        let mut lines = ProjectLines::default();
        type Step<'a> = (&'a Arc<Project>, Option<&'a Arc<Good>>, bool);
        let steps: [Step; 6] = [
            (loaded, None, false),
            (loaded, Some(&first), false),
            (loaded, Some(&first), false),
            (loaded, Some(&second), false),
            (loaded, Some(&second), true),
            (&renamed, Some(&second), true),
        ];
        for (i, (project, good, held)) in steps.into_iter().enumerate() {
            let entry = || Entry::Plain {
                name,
                project,
                good,
                held,
            };
            let mut whole = summary(vec![entry().status()], "m");
            let text = cubist_status_ui::yaml::to_yaml(&whole).unwrap();
            whole.projects.clear();
            assert_eq!(
                lines.file(whole, vec![entry()]).bytes.as_deref(),
                Some(text.as_bytes()),
                "step {i}"
            );
        }
        let kept = &lines.0[name.as_str()].entry;
        assert_eq!(
            (kept.display_name.as_str(), kept.state),
            ("Renamed: team", ProjectState::Failed)
        );
    }
}
