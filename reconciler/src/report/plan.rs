//! Plans as text (terminal), JSON (machines) or markdown (pull requests).

use crate::targets::guard::Held;
use crate::targets::{Action, Change, Plan};
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
    if let Some(h) = &plan.held {
        s += &format!(", deletions held {}", h.changes.len());
    }
    s
}

/// Objects of a held deletion listed in text and markdown; the rest are counted.
pub const MAX_HELD_LISTED: usize = 20;

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
        if let Some(h) = &p.held {
            out += &text_held(h);
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
            "held": p.held,
            "changes": p.changes.iter().filter(|c| c.action != Action::Unchanged).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "skipped": skipped.iter().map(|(c, why)| json!({"cluster": c, "reason": why})).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).expect("json")
}

/// Markdown for a pull request: a table of counts per cluster and each change's diff folded.
pub fn markdown(plans: &[Plan], skipped: &[(String, String)]) -> String {
    let mut out = markdown_held_all(plans);
    out += &markdown_table(plans, skipped);
    for p in plans {
        for c in p.changes.iter().filter(|c| c.action != Action::Unchanged) {
            out += &markdown_change(&p.cluster, c);
        }
    }
    out
}

/// Markdown table of created / changed / deleted / unchanged per cluster (skipped clusters too).
pub fn markdown_table(plans: &[Plan], skipped: &[(String, String)]) -> String {
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
        out += &format!(
            "| `{cluster}` | skipped: {} | | | |\n",
            escape_html(why).replace('|', "\\|")
        );
    }
    out
}

/// The held deletions of one cluster as terminal text: why, the first objects, how to allow.
fn text_held(h: &Held) -> String {
    let mut out = format!(
        "  HELD: {} deletion(s) of {} owned object(s) are held by the prune guard:\n",
        h.changes.len(),
        h.owned
    );
    for r in &h.reasons {
        out += &format!("    {r}\n");
    }
    for c in h.changes.iter().take(MAX_HELD_LISTED) {
        out += &format!("  - {}  ({})  held\n", c.key, c.source);
    }
    if h.changes.len() > MAX_HELD_LISTED {
        out += &format!("  … and {} more\n", h.changes.len() - MAX_HELD_LISTED);
    }
    out + &format!("  {}\n", h.how_to_allow())
}

/// A GitHub warning block per cluster whose deletions the prune guard holds (empty if none).
pub fn markdown_held_all(plans: &[Plan]) -> String {
    plans
        .iter()
        .filter_map(|p| Some(markdown_held(&p.cluster, p.held.as_ref()?)))
        .collect()
}

/// A GitHub warning block: the deletions held on `cluster`, why, per project, the first
/// objects, and how to allow them.
pub fn markdown_held(cluster: &str, h: &Held) -> String {
    let mut out = format!(
        "\n> [!WARNING]\n> **Deletions held on `{}`**: {} of the {} objects cubist owns there would be deleted. cubist will not delete them:\n",
        escape_html(cluster),
        h.changes.len(),
        h.owned
    );
    for r in &h.reasons {
        out += &format!("> - {}\n", escape_html(r));
    }
    let per_project: Vec<String> = h
        .by_project()
        .iter()
        .map(|(p, n)| {
            let name = if p.is_empty() { "(no project)" } else { p };
            format!("`{}` {n}", escape_html(name))
        })
        .collect();
    out += &format!(">\n> Per project: {}.\n>\n", per_project.join(", "));
    for c in h.changes.iter().take(MAX_HELD_LISTED) {
        out += &format!("> - `{}`\n", escape_html(&c.key.to_string()));
    }
    if h.changes.len() > MAX_HELD_LISTED {
        out += &format!("> - … and {} more\n", h.changes.len() - MAX_HELD_LISTED);
    }
    out + &format!(">\n> {}\n", escape_html(&h.how_to_allow()))
}

/// One change of `cluster` as a folded `<details>` block holding its note and diff.
pub fn markdown_change(cluster: &str, c: &Change) -> String {
    let verb = match c.action {
        Action::Create => "create",
        Action::Update => "change",
        Action::Delete => "delete",
        Action::Unchanged => "keep",
        Action::Conflict => "conflict",
    };
    let mut out = format!(
        "\n<details><summary>{verb} <code>{}</code> on <code>{}</code> (from <code>{}</code>)</summary>\n\n",
        escape_html(&c.key.to_string()),
        escape_html(cluster),
        escape_html(&c.source)
    );
    if let Some(n) = &c.note {
        out += &format!("{}\n\n", escape_html(n));
    }
    if let Some(d) = &c.diff {
        let fence = fence_for(d);
        out += &format!("{fence}diff\n{d}");
        if !d.ends_with('\n') {
            out.push('\n');
        }
        out += &format!("{fence}\n");
    }
    out + "</details>\n"
}

/// A code fence longer than any run of backticks in `text`, so `text` cannot close it.
pub fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// `text` with `&`, `<` and `>` escaped, for HTML contexts of markdown.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ObjectKey;

    #[test]
    fn fences_outgrow_backticks_in_the_diff() {
        assert_eq!(fence_for("+ a: 1\n"), "```");
        assert_eq!(fence_for("+ description: \"````\"\n"), "`````");
    }

    #[test]
    fn change_is_folded_with_escaped_names() {
        let c = Change {
            key: ObjectKey {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "p".into(),
                name: "x".into(),
            },
            action: Action::Update,
            project: Some("p".into()),
            source: "projects/p/<odd>.yaml".into(),
            diff: Some("-a: 1\n+a: 2\n".into()),
            desired: None,
            note: None,
        };
        assert_eq!(
            markdown_change("local", &c),
            "\n<details><summary>change <code>ConfigMap p/x</code> on <code>local</code> (from <code>projects/p/&lt;odd&gt;.yaml</code>)</summary>\n\n```diff\n-a: 1\n+a: 2\n```\n</details>\n"
        );
    }
}
