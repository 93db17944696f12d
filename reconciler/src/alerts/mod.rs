//! Pipeline alerts: each run that ends in a phase of its pipeline's `alerts.on` reaches each
//! of the pipeline's channels (cubist.yaml `spec.alerts.channels`) once. What was delivered is
//! recorded in the run's `alerted` on the status branch, so it is not sent again after a
//! restart; a delivery that fails is not recorded, is reported, and is tried again on the next
//! pass. A crash after sending but before the status commit sends that alert once more (the
//! GitHub issue channel notices its own earlier comment and does not repeat it).
//!
//! The run controller calls [`deliver`] after it merged new records, before it writes them.

mod channels;
pub mod due;
mod issue;
pub mod message;
pub mod problems;
pub mod webhook;

pub use channels::{Channel, Channels, Settings};
pub use due::{Action, Due, RETRY_WINDOW, Route};
pub use issue::LABEL;
pub use message::Alert;

use crate::model::kinds::PipelineSpec;
use crate::model::{Manifest, Project};
use channels::Sink;
use chrono::{DateTime, Utc};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::PipelineRuns;

/// A pipeline's `alerts`, resolved against its project: what the delivery needs of the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineAlerts {
    /// Phases that alert.
    pub on: Vec<RunPhase>,
    /// GitHub logins to notify (a member's `github`, else its `user`).
    pub notify: Vec<String>,
    /// Channel names (empty: every channel).
    pub channels: Vec<String>,
    /// A web link to the pipeline's file, when the caller knows one.
    pub file_link: Option<String>,
}

impl PipelineAlerts {
    /// The `alerts` of `pipeline` in `project`; `None` without `alerts`.
    pub fn of(project: &Project, pipeline: &Manifest<PipelineSpec>) -> Option<PipelineAlerts> {
        let alerts = pipeline.spec.alerts.as_ref()?;
        let members = &project.manifest.spec.members;
        Some(PipelineAlerts {
            on: alerts.on.iter().filter_map(|p| phase_of(p)).collect(),
            notify: alerts
                .notify
                .iter()
                .map(|u| {
                    members
                        .iter()
                        .find(|m| &m.user == u)
                        .map_or(u.as_str(), |m| m.github_login())
                        .to_string()
                })
                .collect(),
            channels: alerts.channels.clone(),
            file_link: None,
        })
    }
}

/// The run phase an `alerts.on` value names (every value the schema allows has one).
pub fn phase_of(on: &str) -> Option<RunPhase> {
    due::ALERT_PHASES
        .into_iter()
        .find(|p| message::phase_word(*p) == on)
}

/// An alert that could not be delivered (and will be tried again on the next pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Channel name.
    pub channel: String,
    /// Cluster of the run.
    pub cluster: String,
    /// The run's Workflow.
    pub workflow: String,
    /// The phase it was to report.
    pub phase: RunPhase,
    /// What went wrong (never a secret).
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "alert channel `{}`: run {} ({}) on cluster {} not delivered: {}",
            self.channel,
            self.workflow,
            message::phase_word(self.phase),
            self.cluster,
            self.message
        )
    }
}

/// Delivers the alerts due in `current` (see [`due::due`]) to `channels`, records each one
/// delivered in its run's `alerted` (at `now`), and returns those that failed: not recorded,
/// so tried again on the next pass.
pub async fn deliver(
    channels: &Channels,
    alerts: &PipelineAlerts,
    previous: Option<&PipelineRuns>,
    current: &mut PipelineRuns,
    now: DateTime<Utc>,
) -> Vec<Problem> {
    let routes = channels.routes(&alerts.channels);
    let due = due::due(&alerts.on, &routes, previous, current, now);
    let mut problems = Vec::new();
    for d in due {
        let Some(channel) = channels.get(&d.channel) else {
            continue;
        };
        let Some(run) = current
            .clusters
            .get(&d.cluster)
            .and_then(|c| c.runs.get(d.index))
        else {
            continue;
        };
        let alert = Alert {
            project: &current.project,
            pipeline: &current.pipeline,
            file: &current.file,
            cluster: &d.cluster,
            run,
            phase: d.phase,
            alerts,
        };
        let sent = match &channel.sink {
            Sink::Unavailable(why) => Err(why.clone()),
            Sink::Webhook(hook) if d.action == Action::Notify => hook
                .post(&alert.webhook_payload())
                .await
                .map_err(|e| format!("the webhook {e}")),
            Sink::Webhook(_) => Ok(()),
            Sink::GitHub {
                client,
                owner,
                repo,
            } => issue::deliver(client, owner, repo, &alert, d.action)
                .await
                .map_err(|e| e.to_string()),
        };
        match sent {
            Ok(()) => due::record(current, &d, now),
            Err(message) => {
                let problem = Problem {
                    channel: d.channel.clone(),
                    cluster: d.cluster.clone(),
                    workflow: run.workflow.clone(),
                    phase: d.phase,
                    message,
                };
                tracing::warn!("{problem}");
                problems.push(problem);
            }
        }
    }
    problems
}
