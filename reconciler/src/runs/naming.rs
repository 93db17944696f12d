//! The one definition of a run Workflow's name, labels and annotations: render writes them,
//! and whoever reads runs back (the controller, the status digest) parses them here.
//!
//! - Name: `<pipeline>-<yyyymmdd>` for daily crons, `-<hhmm>` added for sub-daily ones (and a
//!   `b` after the repeated local hour of a daylight-saving fall-back), `-r<6 hex>` added for a
//!   `Run` manifest's attempt (a hash of the `Run`'s name), so a re-run never collides with the
//!   scheduled run of the same execution.
//! - Labels: `cubist.dev/project`, `cubist.dev/pipeline`, `cubist.dev/execution` (the execution
//!   time in UTC, `20261201T180000Z`: label-safe and sortable), `cubist.dev/origin`
//!   (`schedule` or `run`) and, for `run`, `cubist.dev/run` (the `Run` manifest's name).
//! - Annotations: `cubist.dev/execution-time` (the local execution time, RFC 3339) and
//!   `cubist.dev/attempt`.

use super::dates::{Cadence, Execution};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Label naming the project.
pub const PROJECT: &str = crate::render::PROJECT_LABEL;
/// Label naming the pipeline.
pub const PIPELINE: &str = "cubist.dev/pipeline";
/// Label holding the execution time in UTC (`%Y%m%dT%H%M%SZ`).
pub const EXECUTION: &str = "cubist.dev/execution";
/// Label saying who asked for the run: `schedule` or `run`.
pub const ORIGIN: &str = "cubist.dev/origin";
/// Label naming the `Run` manifest of a run whose origin is `run`.
pub const RUN: &str = "cubist.dev/run";
/// Annotation holding the local execution time (RFC 3339 with the timezone's offset).
pub const EXECUTION_TIME: &str = "cubist.dev/execution-time";
/// Annotation holding the attempt number (1, 2, ...).
pub const ATTEMPT: &str = "cubist.dev/attempt";

/// Who asked for a run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// The pipeline's schedule.
    Schedule,
    /// A `Run` manifest, by name.
    Run(String),
}

impl Origin {
    /// `schedule` or `run`.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Schedule => "schedule",
            Origin::Run(_) => "run",
        }
    }
}

/// What a run Workflow's labels and annotations say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Project.
    pub project: String,
    /// Pipeline.
    pub pipeline: String,
    /// Execution time (local offset when the annotation has it, else UTC).
    pub execution: DateTime<FixedOffset>,
    /// Who asked for it.
    pub origin: Origin,
    /// Attempt number (1 when the annotation is missing or unreadable).
    pub attempt: u32,
}

/// The Workflow name of an execution of `pipeline`: see the module documentation.
pub fn workflow_name(
    pipeline: &str,
    cadence: Option<&Cadence>,
    e: &Execution,
    origin: &Origin,
) -> String {
    let mut name = format!("{pipeline}-{}", e.at.format("%Y%m%d"));
    if let Some(c) = cadence.filter(|c| c.sub_daily()) {
        name.push('-');
        name.push_str(&e.hhmm());
        if repeated_hour(c, e) {
            name.push('b');
        }
    }
    if let Origin::Run(run) = origin {
        let h = Sha256::digest(run.as_bytes());
        name.push_str("-r");
        name.push_str(&hex::encode(&h[..3]));
    }
    name
}

/// Characters a run name adds to its pipeline's name at most: `-yyyymmdd-hhmmb-r123456`.
pub const MAX_SUFFIX: usize = 23;

/// True when `e` is the second occurrence of an ambiguous local time (fall-back).
fn repeated_hour(c: &Cadence, e: &Execution) -> bool {
    let local: NaiveDateTime = e.at.naive_local();
    match c.timezone().from_local_datetime(&local) {
        chrono::LocalResult::Ambiguous(_, later) => later == e.at,
        _ => false,
    }
}

/// The `cubist.dev/execution` label value of an execution time.
pub fn execution_label(at: &DateTime<FixedOffset>) -> String {
    at.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string()
}

/// Parses a `cubist.dev/execution` label value.
pub fn parse_execution_label(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

/// The labels of a run Workflow.
pub fn labels(
    project: &str,
    pipeline: &str,
    at: &DateTime<FixedOffset>,
    origin: &Origin,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(PROJECT.into(), json!(project));
    m.insert(PIPELINE.into(), json!(pipeline));
    m.insert(EXECUTION.into(), json!(execution_label(at)));
    m.insert(ORIGIN.into(), json!(origin.kind()));
    if let Origin::Run(r) = origin {
        m.insert(RUN.into(), json!(crate::render::stamp::label_value(r)));
    }
    m
}

/// The annotations of a run Workflow.
pub fn annotations(at: &DateTime<FixedOffset>, attempt: u32) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(EXECUTION_TIME.into(), json!(at.to_rfc3339()));
    m.insert(ATTEMPT.into(), json!(attempt.to_string()));
    m
}

/// Reads a run Workflow's identity from its labels and annotations; `None` when it is not one
/// (a label missing or unreadable).
pub fn identity(body: &Value) -> Option<Identity> {
    let meta = body.get("metadata")?;
    let label = |k: &str| meta.get("labels")?.get(k)?.as_str();
    let note = |k: &str| meta.get("annotations")?.get(k)?.as_str();
    let utc = parse_execution_label(label(EXECUTION)?)?;
    let execution = note(EXECUTION_TIME)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .filter(|t| t.with_timezone(&Utc) == utc)
        .unwrap_or_else(|| utc.fixed_offset());
    let origin = match label(ORIGIN)? {
        "schedule" => Origin::Schedule,
        "run" => Origin::Run(label(RUN)?.to_string()),
        _ => return None,
    };
    Some(Identity {
        project: label(PROJECT)?.to_string(),
        pipeline: label(PIPELINE)?.to_string(),
        execution,
        origin,
        attempt: note(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .filter(|a| *a >= 1)
            .unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cadence(cron: &str, tz: &str) -> Cadence {
        Cadence::of(cron, tz)
    }

    fn exec(s: &str) -> Execution {
        Execution {
            at: DateTime::parse_from_rfc3339(s).unwrap(),
        }
    }

    #[test]
    fn daily_sub_daily_and_run_names() {
        let daily = cadence("0 2 * * *", "Asia/Shanghai");
        let e = exec("2026-12-01T02:00:00+08:00");
        assert_eq!(
            workflow_name("ranker", Some(&daily), &e, &Origin::Schedule),
            "ranker-20261201"
        );
        let hourly = cadence("0 * * * *", "Asia/Shanghai");
        assert_eq!(
            workflow_name("ranker", Some(&hourly), &e, &Origin::Schedule),
            "ranker-20261201-0200"
        );
        let run = workflow_name(
            "ranker",
            Some(&daily),
            &e,
            &Origin::Run("rerun-1201".into()),
        );
        assert!(
            run.starts_with("ranker-20261201-r") && run.len() == "ranker-20261201-r".len() + 6,
            "{run}"
        );
        assert_eq!(
            run,
            workflow_name(
                "ranker",
                Some(&daily),
                &e,
                &Origin::Run("rerun-1201".into())
            )
        );
        assert_ne!(
            run,
            workflow_name(
                "ranker",
                Some(&daily),
                &e,
                &Origin::Run("rerun-1202".into())
            )
        );
        assert!(run.len() <= "ranker".len() + MAX_SUFFIX);
    }

    #[test]
    fn fall_back_repeated_hour_gets_its_own_name() {
        // 2026-11-01 in New York: 01:00-01:59 happens twice; an hourly cron fires in both.
        let c = cadence("30 * * * *", "America/New_York");
        let got = c.between(
            DateTime::parse_from_rfc3339("2026-11-01T04:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            DateTime::parse_from_rfc3339("2026-11-01T07:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            10,
        );
        let names: Vec<String> = got
            .iter()
            .map(|e| workflow_name("p", Some(&c), e, &Origin::Schedule))
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn identity_round_trips_through_labels_and_annotations() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T02:00:00+08:00").unwrap();
        let origin = Origin::Run("backfill-11".into());
        let body = json!({"metadata": {
            "labels": labels("recsys", "ranker", &at, &origin),
            "annotations": annotations(&at, 3),
        }});
        assert_eq!(body["metadata"]["labels"][EXECUTION], "20261130T180000Z");
        let id = identity(&body).unwrap();
        assert_eq!(id.execution, at);
        assert_eq!(id.execution.offset().local_minus_utc(), 8 * 3600);
        assert_eq!(id.origin, origin);
        assert_eq!(id.attempt, 3);
        assert_eq!(
            (id.project.as_str(), id.pipeline.as_str()),
            ("recsys", "ranker")
        );
    }

    #[test]
    fn hostile_labels_are_not_runs() {
        for labels in [
            json!({PROJECT: "p", PIPELINE: "x", ORIGIN: "schedule"}),
            json!({PROJECT: "p", PIPELINE: "x", ORIGIN: "schedule", EXECUTION: "2026-12-01"}),
            json!({PROJECT: "p", PIPELINE: "x", ORIGIN: "cron", EXECUTION: "20261130T180000Z"}),
            json!({PROJECT: "p", PIPELINE: "x", ORIGIN: "run", EXECUTION: "20261130T180000Z"}),
            json!({PROJECT: "p", PIPELINE: "x", ORIGIN: "schedule", EXECUTION: "20261399T180000Z"}),
        ] {
            assert_eq!(
                identity(&json!({"metadata": {"labels": labels}})),
                None,
                "{labels}"
            );
        }
        // A tampered annotation that disagrees with the label loses to the label.
        let body = json!({"metadata": {
            "labels": {PROJECT: "p", PIPELINE: "x", ORIGIN: "schedule", EXECUTION: "20261130T180000Z"},
            "annotations": {EXECUTION_TIME: "2030-01-01T00:00:00+00:00", ATTEMPT: "0"},
        }});
        let id = identity(&body).unwrap();
        assert_eq!(id.execution.to_rfc3339(), "2026-11-30T18:00:00+00:00");
        assert_eq!(id.attempt, 1);
    }
}
