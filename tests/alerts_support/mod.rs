//! Support of tests/alerts.rs: a fake GitHub issues API, a local webhook receiver, and run
//! records to deliver.

pub mod fake_issues;
pub mod receiver;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cubist::alerts::{Channels, PipelineAlerts, Settings, webhook::WebhookPolicy};
use cubist::model::kinds::{AlertChannel, AlertSettings, GitHubChannel, WebhookChannel};
use cubist_github::RetryPolicy;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns, RunRecord, TaskRecord};
use std::collections::HashMap;

/// The GitHub token of the test channel (never to be seen in any output).
pub const TOKEN: &str = "ghp_alerts_test_token";
/// A secret part of the webhook URL (never to be seen in any output).
pub const HOOK_SECRET: &str = "T0SECRET/B0SECRET/XyzzySecret";

/// The time the tests run "now".
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

/// Channels `issues` (GitHub `acme/alerts` at `github_api`) and `hook` (POST to `hook_url`),
/// with secrets from `env`, fast retries.
pub fn channels(github_api: &str, env: &HashMap<&str, String>) -> Channels {
    let settings = AlertSettings {
        channels: vec![
            AlertChannel {
                name: "issues".into(),
                github: Some(GitHubChannel {
                    repo: "acme/alerts".into(),
                    token_env: "ALERT_GH_TOKEN".into(),
                }),
                webhook: None,
            },
            AlertChannel {
                name: "hook".into(),
                github: None,
                webhook: Some(WebhookChannel {
                    url_env: "ALERT_HOOK_URL".into(),
                }),
            },
        ],
    };
    let settings_env = Settings {
        github_api: github_api.to_string(),
        github_login: None,
        github_retry: RetryPolicy {
            max_attempts: 2,
            base_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(50),
        },
        webhook: WebhookPolicy {
            attempts: 3,
            base_delay: std::time::Duration::from_millis(5),
            timeout: std::time::Duration::from_secs(5),
        },
    };
    Channels::resolve(Some(&settings), &settings_env, |k| env.get(k).cloned())
}

/// `alerts: {on, notify: [alice → github alice-gh], channels}`.
pub fn alerts(on: &[RunPhase], channels: &[&str]) -> PipelineAlerts {
    PipelineAlerts {
        on: on.to_vec(),
        notify: vec!["alice-gh".into()],
        channels: channels.iter().map(|c| c.to_string()).collect(),
        file_link: Some(
            "https://github.com/acme/platform/blob/main/projects/p/pipelines/daily.yaml".into(),
        ),
    }
}

/// A finished run `w` (attempt 1) an hour before [`now`], with a failed task when it failed.
pub fn run(w: &str, phase: RunPhase) -> RunRecord {
    let finished = now() - Duration::hours(1);
    RunRecord {
        workflow: w.into(),
        attempt: 1,
        date: Some(finished.date_naive()),
        phase,
        started: Some(finished - Duration::minutes(10)),
        finished: Some(finished),
        duration_seconds: Some(600),
        message: if phase == RunPhase::Succeeded {
            String::new()
        } else {
            "child 'train' failed".into()
        },
        tasks: vec![TaskRecord {
            name: "train".into(),
            phase,
            retries: 1,
            message: if phase == RunPhase::Succeeded {
                String::new()
            } else {
                "OOMKilled (exit code 137)".into()
            },
            ..TaskRecord::default()
        }],
        ..RunRecord::default()
    }
}

/// The records of pipeline `p/daily` on cluster `local`, newest first.
pub fn records(runs: Vec<RunRecord>) -> PipelineRuns {
    let mut p = PipelineRuns {
        project: "p".into(),
        pipeline: "daily".into(),
        file: "projects/p/pipelines/daily.yaml".into(),
        ..PipelineRuns::default()
    };
    p.clusters.insert(
        "local".into(),
        ClusterRuns {
            runs,
            ..ClusterRuns::default()
        },
    );
    p
}

/// `(phase, channel)` of every alert recorded on run `index` of `local`.
pub fn alerted(p: &PipelineRuns, index: usize) -> Vec<(RunPhase, String)> {
    p.clusters["local"].runs[index]
        .alerted
        .iter()
        .map(|a| (a.phase, a.channel.clone()))
        .collect()
}
