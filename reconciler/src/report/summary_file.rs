//! The summary's file at thousands of projects. The summary lists every project (5,000
//! projects: 600 KB), and a new one is written by every reconcile; each project's lines are
//! kept from the last summary while its entry stays the same, so a reconcile serialises the
//! header and the changed entries only. The bytes are those of serialising the whole summary
//! (tested); whenever the fast YAML writer does not know how to write a part, the whole summary
//! is serialised instead.

use super::status_dir::StatusFile;
use super::status_doc::pair_up;
use cubist_status_ui::doc::{ProjectStatus, Summary};
use cubist_status_ui::yaml_emit;
use std::collections::BTreeMap;

/// The lines of each project's entry in the last summary, by project.
#[derive(Default)]
pub(crate) struct ProjectLines(BTreeMap<String, (ProjectStatus, String)>);

/// The `projects` field of a summary whose list is empty, as the writer writes it.
const EMPTY: &str = "\nprojects: []\n";

impl ProjectLines {
    /// The file of `summary` (its projects sorted by name, each name once).
    pub(crate) fn file(&mut self, mut summary: Summary) -> StatusFile {
        let projects = std::mem::take(&mut summary.projects);
        let text = self.spliced(&summary, &projects).unwrap_or_else(|| {
            summary.projects = projects;
            cubist_status_ui::yaml::to_yaml(&summary).expect("status documents serialise")
        });
        StatusFile::new(text.into_bytes())
    }

    /// The YAML of `header` (a summary without projects) with the lines of each of `projects`
    /// (kept or new) in its empty list; `None` when the fast writer does not know how to write
    /// a part.
    fn spliced(&mut self, header: &Summary, projects: &[ProjectStatus]) -> Option<String> {
        let header = yaml_emit::to_yaml(header)?;
        let at = header.find(EMPTY)?;
        let (work, gone) = pair_up(projects.iter().collect(), &self.0, |p, k, _| {
            p.name.as_str().cmp(k)
        });
        let mut text = String::with_capacity(header.len() + 128 * work.len());
        text.push_str(&header[..at]);
        text.push_str(if work.is_empty() {
            EMPTY
        } else {
            "\nprojects:\n"
        });
        let mut changed = Vec::new();
        for (p, last) in work {
            match last.filter(|(entry, _)| entry == p) {
                Some((_, lines)) => text.push_str(lines),
                None => {
                    let lines = yaml_emit::to_yaml(std::slice::from_ref(p))?;
                    text.push_str(&lines);
                    changed.push((p.name.clone(), (p.clone(), lines)));
                }
            }
        }
        text.push_str(&header[at + EMPTY.len()..]);
        for name in gone {
            self.0.remove(&name);
        }
        self.0.extend(changed);
        Some(text)
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
            let s = summary(projects, "line\nprojects: []\nmore");
            let whole = cubist_status_ui::yaml::to_yaml(&s).unwrap();
            assert_eq!(
                lines.file(s).bytes.as_deref(),
                Some(whole.as_bytes()),
                "step {i}"
            );
            assert!(lines.0.len() <= 2);
        }
        assert!(lines.0.is_empty(), "the lines of projects gone are dropped");
    }
}
