//! Which alerts are due: pure transition logic over a pipeline's run records, before and after
//! the run controller merged what it saw. Each (run, phase, channel) is delivered once: what
//! was delivered is kept in the run's `alerted` on the status branch.

use chrono::{DateTime, Duration, Utc};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{Alerted, PipelineRuns, RunRecord};

/// How long after a run ended an alert not delivered yet is still sent (retried on each pass,
/// and after a restart). Older runs without a delivered alert, e.g. the history a pipeline had
/// before it got `alerts`, are never announced, unless this pass saw them end.
pub const RETRY_WINDOW: Duration = Duration::hours(24);

/// The phases a run ends in that alerts can report; the only values of `alerts.on`.
pub const ALERT_PHASES: [RunPhase; 3] = [RunPhase::Succeeded, RunPhase::Failed, RunPhase::Error];

/// A channel as the due logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Channel name.
    pub channel: String,
    /// True for a channel that keeps an issue open while the pipeline fails: a success closes
    /// it even when `Succeeded` is not in `on`.
    pub resolves: bool,
}

/// What a due alert does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Tell the recipients (the phase is in `on`).
    Notify,
    /// Only close what earlier failures opened, without telling anyone (`Succeeded` is not in
    /// `on`, on a channel that [`Route::resolves`]).
    Resolve,
}

/// One alert to deliver: a run (by cluster and index in `current`), the phase it reports and
/// the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Cluster name.
    pub cluster: String,
    /// Index of the run in the cluster's `runs`.
    pub index: usize,
    /// The phase reported.
    pub phase: RunPhase,
    /// Channel name.
    pub channel: String,
    /// Notify or only resolve.
    pub action: Action,
}

/// The alerts due in `current`, oldest run end first. First copies into `current` what
/// `previous` says was delivered (a record the controller rebuilt keeps its history). A run's
/// alert is due for each route when its phase is in `on` (or it succeeded, for a route that
/// resolves), that (phase, channel) is not in its `alerted`, and either this pass saw it end
/// (`previous` had it in another phase, or not at all) or it ended within [`RETRY_WINDOW`]
/// of `now`.
pub fn due(
    on: &[RunPhase],
    routes: &[Route],
    previous: Option<&PipelineRuns>,
    current: &mut PipelineRuns,
    now: DateTime<Utc>,
) -> Vec<Due> {
    if let Some(previous) = previous {
        carry_alerted(previous, current);
    }
    let mut out: Vec<(DateTime<Utc>, Due)> = Vec::new();
    for (cluster, runs) in &current.clusters {
        for (index, run) in runs.runs.iter().enumerate() {
            if !ALERT_PHASES.contains(&run.phase) {
                continue;
            }
            let seen_end = previous.is_some_and(|p| {
                find(p, cluster, run).is_none_or(|before| before.phase != run.phase)
            });
            let ended = ended_at(run);
            if !seen_end && ended.is_none_or(|t| now - t > RETRY_WINDOW) {
                continue;
            }
            for route in routes {
                let action = if on.contains(&run.phase) {
                    Action::Notify
                } else if route.resolves && run.phase == RunPhase::Succeeded {
                    Action::Resolve
                } else {
                    continue;
                };
                if delivered(run, run.phase, &route.channel) {
                    continue;
                }
                out.push((
                    ended.unwrap_or(now),
                    Due {
                        cluster: cluster.clone(),
                        index,
                        phase: run.phase,
                        channel: route.channel.clone(),
                        action,
                    },
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, d)| d).collect()
}

/// Records in `current` that `due` was delivered at `at`.
pub fn record(current: &mut PipelineRuns, due: &Due, at: DateTime<Utc>) {
    if let Some(run) = current
        .clusters
        .get_mut(&due.cluster)
        .and_then(|c| c.runs.get_mut(due.index))
        && !delivered(run, due.phase, &due.channel)
    {
        run.alerted.push(Alerted {
            phase: due.phase,
            channel: due.channel.clone(),
            at: Some(at),
        });
    }
}

/// When the run ended: finished, else started, else its execution time.
pub fn ended_at(run: &RunRecord) -> Option<DateTime<Utc>> {
    run.finished
        .or(run.started)
        .or(run.execution.map(|e| e.with_timezone(&Utc)))
}

fn delivered(run: &RunRecord, phase: RunPhase, channel: &str) -> bool {
    run.alerted
        .iter()
        .any(|a| a.phase == phase && a.channel == channel)
}

/// The same run (workflow and attempt) on the same cluster.
fn find<'a>(runs: &'a PipelineRuns, cluster: &str, run: &RunRecord) -> Option<&'a RunRecord> {
    runs.clusters
        .get(cluster)?
        .runs
        .iter()
        .find(|r| r.workflow == run.workflow && r.attempt == run.attempt)
}

fn carry_alerted(previous: &PipelineRuns, current: &mut PipelineRuns) {
    for (cluster, runs) in current.clusters.iter_mut() {
        for run in runs.runs.iter_mut() {
            let Some(before) = find(previous, cluster, run) else {
                continue;
            };
            for a in &before.alerted {
                if !delivered(run, a.phase, &a.channel) {
                    run.alerted.push(a.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cubist_status_ui::runs::ClusterRuns;

    fn t(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
    }

    fn run(workflow: &str, phase: RunPhase, finished: Option<DateTime<Utc>>) -> RunRecord {
        RunRecord {
            workflow: workflow.into(),
            attempt: 1,
            phase,
            finished,
            ..RunRecord::default()
        }
    }

    fn runs(list: Vec<RunRecord>) -> PipelineRuns {
        let mut p = PipelineRuns {
            project: "p".into(),
            pipeline: "daily".into(),
            ..PipelineRuns::default()
        };
        p.clusters.insert(
            "local".into(),
            ClusterRuns {
                runs: list,
                ..ClusterRuns::default()
            },
        );
        p
    }

    fn routes() -> Vec<Route> {
        vec![
            Route {
                channel: "hook".into(),
                resolves: false,
            },
            Route {
                channel: "issues".into(),
                resolves: true,
            },
        ]
    }

    fn summary(due: &[Due]) -> Vec<(usize, RunPhase, &str, Action)> {
        due.iter()
            .map(|d| (d.index, d.phase, d.channel.as_str(), d.action))
            .collect()
    }

    #[test]
    fn a_failure_is_due_once_per_channel_and_not_after_it_was_recorded() {
        let before = runs(vec![run("w1", RunPhase::Running, None)]);
        let mut now = runs(vec![run("w1", RunPhase::Failed, Some(t(3)))]);
        let due = due(
            &[RunPhase::Failed],
            &routes(),
            Some(&before),
            &mut now,
            t(4),
        );
        assert_eq!(
            summary(&due),
            [
                (0, RunPhase::Failed, "hook", Action::Notify),
                (0, RunPhase::Failed, "issues", Action::Notify)
            ]
        );
        for d in &due {
            record(&mut now, d, t(4));
        }
        record(&mut now, &due[0], t(5));
        assert_eq!(
            now.clusters["local"].runs[0].alerted.len(),
            2,
            "recorded once each"
        );
        let again = super::due(
            &[RunPhase::Failed],
            &routes(),
            Some(&before),
            &mut now,
            t(5),
        );
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_record_rebuilt_without_alerted_keeps_what_previous_says_was_sent() {
        let mut before = runs(vec![run("w1", RunPhase::Failed, Some(t(3)))]);
        before.clusters.get_mut("local").unwrap().runs[0].alerted = vec![Alerted {
            phase: RunPhase::Failed,
            channel: "hook".into(),
            at: Some(t(3)),
        }];
        let mut now = runs(vec![run("w1", RunPhase::Failed, Some(t(3)))]);
        let due = due(
            &[RunPhase::Failed],
            &routes(),
            Some(&before),
            &mut now,
            t(4),
        );
        assert_eq!(
            summary(&due),
            [(0, RunPhase::Failed, "issues", Action::Notify)]
        );
        assert_eq!(
            now.clusters["local"].runs[0].alerted.len(),
            1,
            "carried over"
        );
    }

    #[test]
    fn every_value_of_on_has_an_effect_and_success_only_resolves_issues_unless_on() {
        for phase in ALERT_PHASES {
            let mut now = runs(vec![run("w1", phase, Some(t(3)))]);
            let due = due(&[phase], &routes(), None, &mut now, t(4));
            assert_eq!(due.len(), 2, "{phase:?}");
            assert!(due.iter().all(|d| d.action == Action::Notify));
        }
        let mut now = runs(vec![run("w1", RunPhase::Succeeded, Some(t(3)))]);
        let due = due(&[RunPhase::Failed], &routes(), None, &mut now, t(4));
        assert_eq!(
            summary(&due),
            [(0, RunPhase::Succeeded, "issues", Action::Resolve)]
        );
        for phase in [
            RunPhase::Running,
            RunPhase::Skipped,
            RunPhase::Blocked,
            RunPhase::Waiting,
        ] {
            let mut now = runs(vec![run("w1", phase, Some(t(3)))]);
            assert!(super::due(&ALERT_PHASES, &routes(), None, &mut now, t(4)).is_empty());
        }
    }

    #[test]
    fn old_history_is_not_announced_but_an_end_seen_now_is() {
        let old = Some(t(3) - Duration::days(3));
        let mut now = runs(vec![run("w0", RunPhase::Failed, old)]);
        let before = now.clone();
        assert!(due(&[RunPhase::Failed], &routes(), None, &mut now, t(4)).is_empty());
        assert!(
            due(
                &[RunPhase::Failed],
                &routes(),
                Some(&before),
                &mut now,
                t(4)
            )
            .is_empty()
        );
        let running = runs(vec![run("w0", RunPhase::Running, None)]);
        let seen = due(
            &[RunPhase::Failed],
            &routes(),
            Some(&running),
            &mut now,
            t(4),
        );
        assert_eq!(seen.len(), 2, "ended while cubist was down, seen now");
    }

    #[test]
    fn due_alerts_come_oldest_end_first() {
        let mut now = runs(vec![
            run("w2", RunPhase::Succeeded, Some(t(5))),
            run("w1", RunPhase::Failed, Some(t(2))),
        ]);
        let due = due(&ALERT_PHASES, &routes()[1..], None, &mut now, t(6));
        assert_eq!(
            summary(&due),
            [
                (1, RunPhase::Failed, "issues", Action::Notify),
                (0, RunPhase::Succeeded, "issues", Action::Notify)
            ]
        );
    }
}
