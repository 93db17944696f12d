//! The words of an alert: an issue's title, body and comments, and a webhook's JSON. Everything
//! taken from a run (engine and task messages) is bounded and cannot ping, spoof a marker or
//! break out of its block.

use super::PipelineAlerts;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::RunRecord;
use serde_json::{Value, json};

/// Longest engine or task message kept, in characters.
pub const MESSAGE_CHARS: usize = 500;
/// Most failed tasks listed.
pub const TASKS_LISTED: usize = 20;
/// Longest webhook `text`, in characters (Slack shows up to 40,000; a short alert reads better).
pub const TEXT_CHARS: usize = 3_000;

/// One run's alert.
#[derive(Debug, Clone, Copy)]
pub struct Alert<'a> {
    /// Project name.
    pub project: &'a str,
    /// Pipeline name.
    pub pipeline: &'a str,
    /// The pipeline's file in the repository.
    pub file: &'a str,
    /// Cluster the run ran on.
    pub cluster: &'a str,
    /// The run.
    pub run: &'a RunRecord,
    /// The phase reported.
    pub phase: RunPhase,
    /// Recipients and link.
    pub alerts: &'a PipelineAlerts,
}

impl Alert<'_> {
    /// The hidden marker that finds a pipeline's open issue again.
    pub fn issue_marker(&self) -> String {
        format!("<!-- cubist:alert {}/{} -->", self.project, self.pipeline)
    }

    /// The hidden marker of this run and phase in an issue, so a resent alert is seen as sent.
    pub fn run_marker(&self) -> String {
        format!(
            "<!-- cubist:run {}/{}/{}/{} -->",
            self.cluster,
            plain(&self.run.workflow, 253),
            self.run.attempt,
            phase_word(self.phase)
        )
    }

    /// Title of the issue a failure opens.
    pub fn issue_title(&self) -> String {
        format!("Pipeline {}/{} is failing", self.project, self.pipeline)
    }

    /// Body of the issue a failure opens: both markers, the recipients and the run.
    pub fn issue_body(&self, mention: bool) -> String {
        format!(
            "{}\n{}\n{}",
            self.issue_marker(),
            self.comment_body(mention),
            "cubist comments here on each further failure and closes this issue when the \
             pipeline next succeeds.\n"
        )
    }

    /// A comment on the issue: the run marker, the recipients when `mention`, and the run.
    pub fn comment_body(&self, mention: bool) -> String {
        let mut out = format!("{}\n", self.run_marker());
        if mention && !self.alerts.notify.is_empty() {
            let who: Vec<String> = self.alerts.notify.iter().map(|u| format!("@{u}")).collect();
            out += &format!("{}: ", who.join(" "));
        }
        out += &format!("**{}**\n\n", self.headline());
        out += &format!(
            "| | |\n|---|---|\n| run | `{}` (attempt {}) |\n",
            plain(&self.run.workflow, 253),
            self.run.attempt
        );
        out += &format!("| cluster | `{}` |\n", self.cluster);
        if let Some(date) = self.run.date {
            out += &format!("| execution date | {date} |\n");
        }
        if let Some(e) = self.run.execution {
            out += &format!("| execution time | {} |\n", e.to_rfc3339());
        }
        if let Some(t) = self.run.started {
            out += &format!("| started | {} |\n", t.to_rfc3339());
        }
        if let Some(t) = self.run.finished {
            out += &format!("| finished | {} |\n", t.to_rfc3339());
        }
        if let Some(s) = self.run.duration_seconds {
            out += &format!("| duration | {s} s |\n");
        }
        out += &format!("| pipeline | {} |\n", self.file_ref());
        if !self.run.message.is_empty() {
            out += &format!("\nMessage:\n```text\n{}\n```\n", block(&self.run.message));
        }
        let failed = self.failed_tasks();
        if !failed.is_empty() {
            out += "\nFailed tasks:\n";
            for (name, message) in failed.iter().take(TASKS_LISTED) {
                out += &format!("- `{}`", plain(name, 63));
                if !message.is_empty() {
                    out += &format!(": `{}`", inline(message));
                }
                out.push('\n');
            }
            if failed.len() > TASKS_LISTED {
                out += &format!("- … and {} more\n", failed.len() - TASKS_LISTED);
            }
        }
        out
    }

    /// `Pipeline recsys/ranker run ranker-20261201 Failed on cluster gpu-a`.
    pub fn headline(&self) -> String {
        format!(
            "Pipeline {}/{} run {} {} on cluster {}",
            self.project,
            self.pipeline,
            plain(&self.run.workflow, 253),
            phase_word(self.phase),
            self.cluster
        )
    }

    /// The webhook's JSON: Slack's `text`, and the same facts as fields under `cubist`.
    pub fn webhook_payload(&self) -> Value {
        let mut text = self.headline();
        if !self.alerts.notify.is_empty() {
            text += &format!(" (notify: {})", self.alerts.notify.join(", "));
        }
        if let Some(date) = self.run.date {
            text += &format!("\nexecution date {date}");
        }
        if !self.run.message.is_empty() {
            text += &format!("\n{}", inline(&self.run.message));
        }
        for (name, message) in self.failed_tasks().iter().take(TASKS_LISTED) {
            text += &format!("\ntask {} failed: {}", plain(name, 63), inline(message));
        }
        text += &format!(
            "\n{}",
            self.alerts.file_link.as_deref().unwrap_or(self.file)
        );
        let tasks: Vec<Value> = self
            .failed_tasks()
            .into_iter()
            .take(TASKS_LISTED)
            .map(|(name, message)| json!({"name": plain(name, 63), "message": cut(message, MESSAGE_CHARS)}))
            .collect();
        json!({
            "text": slack_escape(&cut(&text, TEXT_CHARS)),
            "cubist": {
                "project": self.project,
                "pipeline": self.pipeline,
                "file": self.file,
                "link": self.alerts.file_link,
                "cluster": self.cluster,
                "workflow": plain(&self.run.workflow, 253),
                "attempt": self.run.attempt,
                "phase": phase_word(self.phase),
                "date": self.run.date.map(|d| d.to_string()),
                "execution": self.run.execution.map(|e| e.to_rfc3339()),
                "started": self.run.started.map(|t| t.to_rfc3339()),
                "finished": self.run.finished.map(|t| t.to_rfc3339()),
                "durationSeconds": self.run.duration_seconds,
                "message": cut(&self.run.message, MESSAGE_CHARS),
                "failedTasks": tasks,
                "notify": self.alerts.notify,
            }
        })
    }

    fn file_ref(&self) -> String {
        match &self.alerts.file_link {
            Some(link) => format!("[{}]({link})", self.file),
            None => format!("`{}`", self.file),
        }
    }

    /// Failed or errored tasks with their messages.
    fn failed_tasks(&self) -> Vec<(&str, &str)> {
        self.run
            .tasks
            .iter()
            .filter(|t| matches!(t.phase, RunPhase::Failed | RunPhase::Error))
            .map(|t| (t.name.as_str(), t.message.as_str()))
            .collect()
    }
}

/// The phase as written in records and `alerts.on` (`Failed`).
pub fn phase_word(phase: RunPhase) -> String {
    format!("{phase:?}")
}

/// `text` cut to `max` characters with `…`.
fn cut(text: &str, max: usize) -> String {
    crate::diag::bounded(text, max)
}

/// A name shown in code spans: only characters a Kubernetes name has.
fn plain(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c))
        .take(max)
        .collect()
}

/// A message inside a fenced `text` block: bounded, no fence, no HTML comment, no mention.
fn block(text: &str) -> String {
    defuse(&cut(text, MESSAGE_CHARS)).replace("```", "'''")
}

/// A message inside a code span: one line, bounded, no backtick.
fn inline(text: &str) -> String {
    defuse(&cut(text, MESSAGE_CHARS))
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// No `<` (so no hidden marker can be planted) and no `@` that pings someone.
fn defuse(text: &str) -> String {
    text.replace('<', "‹").replace('@', "@\u{200b}")
}

/// Slack's three escapes.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
