//! Alert delivery problems as the status shows them: per pipeline and channel, the latest
//! error, since when deliveries fail, how many failed and which runs' alerts wait. A problem
//! lasts until a delivery to that channel succeeds; a channel the pipeline no longer sends
//! to, or a pipeline without `alerts`, has none.

use super::Problem;
use super::message::phase_word;
use chrono::{DateTime, Utc};
use cubist_status_ui::runs::{AlertProblem, MAX_ALERT_PROBLEMS, PipelineRuns};
use std::collections::BTreeSet;

/// Longest error kept (characters).
const MAX_ERROR: usize = 300;

/// The channels that accepted an alert in this pass: those with an `alerted` entry at `now`.
pub fn delivered_now(runs: &PipelineRuns, now: DateTime<Utc>) -> BTreeSet<String> {
    runs.clusters
        .values()
        .flat_map(|c| c.runs.iter())
        .flat_map(|r| r.alerted.iter())
        .filter(|a| a.at == Some(now))
        .map(|a| a.channel.clone())
        .collect()
}

/// The problems after a pass: `previous` carried on for the channels in `routed`, those that
/// delivered dropped, this pass's `failed` deliveries added (`since` kept from the first
/// failure, `attempts` counted on).
pub fn track(
    previous: &[AlertProblem],
    failed: &[Problem],
    delivered: &BTreeSet<String>,
    routed: &[String],
    now: DateTime<Utc>,
) -> Vec<AlertProblem> {
    let mut out: Vec<AlertProblem> = previous
        .iter()
        .filter(|p| routed.contains(&p.channel) && !delivered.contains(&p.channel))
        .cloned()
        .collect();
    for f in failed {
        let i = match out.iter().position(|p| p.channel == f.channel) {
            Some(i) => i,
            None => {
                out.push(AlertProblem {
                    channel: f.channel.clone(),
                    since: Some(now),
                    ..AlertProblem::default()
                });
                out.len() - 1
            }
        };
        let p = &mut out[i];
        if delivered.contains(&f.channel) {
            // Another alert got through this pass: the channel works; this one is retried.
            continue;
        }
        p.error = f.message.chars().take(MAX_ERROR).collect();
        p.attempts += 1;
        let run = format!("{}/{} {}", f.cluster, f.workflow, phase_word(f.phase));
        if !p.runs.contains(&run) && p.runs.len() < MAX_ALERT_PROBLEMS {
            p.runs.push(run);
        }
    }
    out.retain(|p| !delivered.contains(&p.channel));
    out.sort_by(|a, b| a.channel.cmp(&b.channel));
    out.truncate(MAX_ALERT_PROBLEMS);
    out
}

/// `runs` with the attempt counts of `alert_problems` left out: a failed attempt alone is no
/// change worth a status commit.
pub fn without_attempts(runs: &PipelineRuns) -> PipelineRuns {
    let mut r = runs.clone();
    for p in &mut r.alert_problems {
        p.attempts = 0;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cubist_status_ui::doc::RunPhase;

    fn failed(channel: &str, workflow: &str) -> Problem {
        Problem {
            channel: channel.into(),
            cluster: "local".into(),
            workflow: workflow.into(),
            phase: RunPhase::Failed,
            message: "the webhook cannot be reached (connection failed) (after 3 tries)".into(),
        }
    }

    #[test]
    fn a_problem_starts_counts_on_and_clears_when_a_delivery_succeeds() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let t1 = t0 + chrono::Duration::minutes(1);
        let routed = vec!["hook".to_string(), "issues".to_string()];
        let none = BTreeSet::new();
        let first = track(&[], &[failed("hook", "d-1")], &none, &routed, t0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].since, Some(t0));
        assert_eq!(first[0].attempts, 1);
        assert_eq!(first[0].runs, ["local/d-1 Failed"]);
        let second = track(
            &first,
            &[failed("hook", "d-1"), failed("hook", "d-2")],
            &none,
            &routed,
            t1,
        );
        assert_eq!(second[0].since, Some(t0), "since the first failure");
        assert_eq!(second[0].attempts, 3);
        assert_eq!(second[0].runs, ["local/d-1 Failed", "local/d-2 Failed"]);
        // Nothing tried this pass: the problem stays.
        assert_eq!(track(&second, &[], &none, &routed, t1), second);
        // A delivery to the channel succeeded: cleared.
        let ok: BTreeSet<String> = ["hook".to_string()].into();
        assert!(track(&second, &[], &ok, &routed, t1).is_empty());
        // The pipeline no longer sends to the channel: cleared.
        assert!(track(&second, &[], &none, &["issues".to_string()], t1).is_empty());
        // Attempts alone are no change.
        assert_eq!(
            without_attempts(&PipelineRuns {
                alert_problems: first.clone(),
                ..PipelineRuns::default()
            }),
            without_attempts(&PipelineRuns {
                alert_problems: vec![AlertProblem {
                    attempts: 7,
                    ..first[0].clone()
                }],
                ..PipelineRuns::default()
            })
        );
    }
}
