//! Plans as text (terminal), JSON (machines) or markdown (pull requests).

use crate::target::{Action, Plan};
use serde_json::json;

/// Counts line: `created 2, changed 1, deleted 0, unchanged 37`.
pub fn counts(plan: &Plan) -> String {
    let conflicts = plan.count(Action::Conflict);
    let mut s = format!(
        "created {}, changed {}, deleted {}, unchanged {}",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Delete),
        plan.count(Action::Unchanged)
    );
    if conflicts > 0 {
        s += &format!(", conflicts {conflicts}");
    }
    s
}

/// Terminal text: per cluster the counts, each change, and its diff.
pub fn text(plans: &[Plan], skipped: &[(String, String)]) -> String {
    let mut out = String::new();
    for p in plans {
        out += &format!("cluster {}: {}\n", p.cluster, counts(p));
        for c in p.changes.iter().filter(|c| c.action != Action::Unchanged) {
            let sign = match c.action {
                Action::Create => "+",
                Action::Update => "~",
                Action::Delete => "-",
                _ => "!",
            };
            out += &format!("  {sign} {}  ({})\n", c.key, c.source);
            if let Some(n) = &c.note {
                out += &format!("      {n}\n");
            }
            if let Some(d) = &c.diff {
                for line in d.lines() {
                    out += &format!("      {line}\n");
                }
            }
        }
    }
    for (cluster, why) in skipped {
        out += &format!("cluster {cluster}: skipped: {why}\n");
    }
    out
}

/// JSON: per cluster the counts and changes (with diffs).
pub fn json(plans: &[Plan], skipped: &[(String, String)]) -> String {
    let v = json!({
        "clusters": plans.iter().map(|p| json!({
            "cluster": p.cluster,
            "created": p.count(Action::Create), "changed": p.count(Action::Update),
            "deleted": p.count(Action::Delete), "unchanged": p.count(Action::Unchanged),
            "conflicts": p.count(Action::Conflict),
            "changes": p.changes.iter().filter(|c| c.action != Action::Unchanged).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "skipped": skipped.iter().map(|(c, why)| json!({"cluster": c, "reason": why})).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).expect("json")
}

/// Markdown for a pull request: a table of counts per cluster and each change's diff folded.
pub fn markdown(plans: &[Plan], skipped: &[(String, String)]) -> String {
    let mut out = String::from(
        "| cluster | created | changed | deleted | unchanged |\n|---|---:|---:|---:|---:|\n",
    );
    for p in plans {
        out += &format!(
            "| `{}` | {} | {} | {} | {} |\n",
            p.cluster,
            p.count(Action::Create),
            p.count(Action::Update),
            p.count(Action::Delete),
            p.count(Action::Unchanged)
        );
    }
    for (cluster, why) in skipped {
        out += &format!("| `{cluster}` | skipped: {why} | | | |\n");
    }
    for p in plans {
        for c in p.changes.iter().filter(|c| c.action != Action::Unchanged) {
            let verb = match c.action {
                Action::Create => "create",
                Action::Update => "change",
                Action::Delete => "delete",
                _ => "conflict",
            };
            out += &format!(
                "\n<details><summary>{verb} <code>{}</code> on <code>{}</code> (from <code>{}</code>)</summary>\n\n",
                c.key, p.cluster, c.source
            );
            if let Some(n) = &c.note {
                out += &format!("{n}\n\n");
            }
            if let Some(d) = &c.diff {
                out += &format!("```diff\n{}```\n", d);
            }
            out += "</details>\n";
        }
    }
    out
}
