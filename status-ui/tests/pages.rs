//! The views, rendered from the fixture tree at a fixed `now`.

mod common;

use common::{ALL_PATHS, between, fixture, now, page};
use cubist_status_ui::{PageOptions, render_page};

#[test]
fn overview_shows_clusters_states_counts_and_errors() {
    let html = page(&fixture(), "/");
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#)
    );
    assert!(!html.contains("http-equiv"), "no refresh unless asked");
    assert!(!html.contains("<script"), "no JavaScript");

    let local = between(
        &html,
        r#"<a href="/clusters/local" class="name">local</a>"#,
        "</section>",
    );
    assert!(local.starts_with(r#"<span class="badge ok">Synced</span>"#));
    assert!(local.contains("directory ../rendered/local"));
    assert!(local.contains(r#"<a href="https://github.com/acme/platform/commit/3f2a9c4e5b6d7f8091a2b3c4d5e6f708192a3b4c">3f2a9c4</a>"#));
    assert!(local.contains(">3 min ago</time>"));
    assert!(local.contains(r#"<span class="badge ok">Synced 40</span>"#));
    assert!(local.contains(r#"<span class="badge none zero">OutOfSync 0</span>"#));
    assert!(local.contains(r#"<span class="badge ok">Healthy 10</span>"#));
    assert!(local.contains(r#"<span class="badge warn">Progressing 2</span>"#));

    let prod = between(&html, r#"class="name">prod-bj</a>"#, "</section>");
    assert!(prod.starts_with(r#"<span class="badge bad">Failed</span>"#));
    assert!(prod.contains("kubernetes prod-bj"));
    assert!(prod.contains(">16 h ago</time>"));
    assert!(prod.contains(r#"<span class="badge warn">OutOfSync 2</span>"#));
    assert!(prod.contains(r#"<span class="badge bad">Failed 1</span>"#));
    assert!(prod.contains("admission webhook denied the request"));

    // The Failed project's error, with file:line:col and code, linked to the file at the revision.
    let errors = between(&html, "<h2>Errors</h2>", "</main>");
    assert!(errors.contains(r#"<a href="/projects/vision">vision</a>"#));
    assert!(errors.contains(
        r#"<a href="https://github.com/acme/platform/blob/3f2a9c4e5b6d7f8091a2b3c4d5e6f708192a3b4c/projects/vision/pipelines/train.yaml#L14">projects/vision/pipelines/train.yaml:14:11</a>"#
    ));
    assert!(errors.contains(
        r#"</code> <span class="code">E0402</span> task cycle: train -&gt; evaluate -&gt; train"#
    ));
    assert!(html.contains("2 Ready, 1 Failed"));
    assert!(html.contains("412 ms"));

    // Every project as a chip with its state, linked to its page.
    let chips = between(&html, "<h2>Projects</h2>", "</ul>");
    assert_eq!(chips.matches("<li>").count(), 3);
    assert!(chips.contains(
        r#"<li><a href="/projects/vision" title="Vision">vision</a><span class="badge bad">Failed</span></li>"#
    ));
}

#[test]
fn refresh_is_optional() {
    let opts = PageOptions {
        refresh_secs: Some(10),
        ..PageOptions::default()
    };
    let page = render_page(&fixture(), "/", now(), &opts).unwrap();
    assert!(
        page.html
            .contains(r#"<meta http-equiv="refresh" content="10"/>"#)
    );
}

#[test]
fn projects_list_shows_states() {
    let html = page(&fixture(), "/projects");
    let vision = between(&html, r#"<a href="/projects/vision">Vision</a>"#, "</tr>");
    // Cells carry their column's name, shown beside the value when rows stack on phones.
    assert!(vision.contains(r#"<td data-label="State"><span class="badge bad">Failed</span>"#));
    assert!(vision.contains(">9e8d7c6</a>"));
    let nlp = between(&html, r#"<a href="/projects/nlp">NLP team</a>"#, "</tr>");
    assert!(nlp.contains(r#"<span class="badge ok">Ready</span>"#));
    assert!(html.contains(r#"aria-current="page">Projects</a>"#));
}

#[test]
fn project_page_shows_members_quota_pipelines_and_services() {
    let html = page(&fixture(), "/projects/nlp");
    assert!(html.contains(
        "<h1>NLP team <code class=\"muted\">nlp</code><span class=\"badge ok\">Ready</span></h1>"
    ));
    for (user, role) in [
        ("alice", "admin"),
        ("bob", "developer"),
        ("carol", "viewer"),
    ] {
        assert!(
            html.contains(&format!(
                r#"<tr><td>{user}</td><td><span class="badge none">{role}</span>"#
            )),
            "{user}"
        );
    }
    // Quota bars: width is the percentage, colour by threshold; values with units.
    let local = between(&html, "<h3>local</h3>", "</section>");
    assert!(local.contains(r#"aria-label="cpu: 24 / 200 cores (12%)""#));
    assert!(local.contains(r#"<span class="ok" style="width:12%"></span>"#));
    assert!(
        local.contains(r#"<span class="ok" style="width:25%"></span>"#),
        "gpu 4/16"
    );
    assert!(local.contains("4 / 16 gpus") && local.contains("96 / 800 GiB"));
    let prod = between(&html, "<h3>prod-bj</h3>", "</section>");
    assert!(
        prod.contains(r#"<span class="warn" style="width:90%"></span>"#),
        "cpu 180/200"
    );
    assert!(
        prod.contains(r#"<span class="bad" style="width:100%"></span>"#),
        "gpu over quota is capped"
    );
    assert!(prod.contains("112.5%"));

    // Pipelines: schedule in words and next run computed for `now` in the pipeline's timezone.
    let daily = between(
        &html,
        r#"<a href="/projects/nlp/pipelines/daily-ranker">daily-ranker</a>"#,
        "</tr>",
    );
    assert!(daily.contains("at 02:00 every day"));
    assert!(daily.contains("2026-11-23 02:00 Asia/Shanghai</time>"));
    assert!(daily.contains("(in 8 h)"));
    assert!(daily.contains(r#"<span class="badge warn">Running</span> 2026-11-22"#));
    let quarter = between(&html, ">eval-quarter-hour</a>", "</tr>");
    assert!(
        quarter.contains("every 15 minutes") && quarter.contains("2026-11-22 10:15 UTC</time>")
    );
    let weekly = between(&html, ">weekly-report</a>", "</tr>");
    assert!(
        weekly.contains("at 03:30 on Monday") && weekly.contains("2026-11-23 03:30 Europe/Berlin")
    );

    // Services: traffic split as a stacked bar, replicas, autoscaling, health per cluster.
    let svc = between(
        &html,
        r#"<section class="card service"><h3>sentiment"#,
        "</section>",
    );
    assert!(svc.contains(r#"aria-label="v3 90%, v4 10%""#));
    assert!(svc.contains(r#"<span style="width:90%"></span><span style="width:10%"></span>"#));
    assert!(svc.contains("s3://models/sentiment/4"));
    assert!(svc.contains("<dt>Replicas</dt><dd>1–8</dd>"));
    assert!(svc.contains("<dt>Autoscale</dt><dd>qps target 50</dd>"));
    assert!(svc.contains(r#"<span>local <span class="badge ok">Healthy</span></span>"#));
    assert!(svc.contains(r#"<span>prod-bj <span class="badge warn">Progressing</span></span>"#));
}

#[test]
fn failed_project_shows_held_revision_and_error() {
    let html = page(&fixture(), "/projects/vision");
    assert!(html.contains(r#"<span class="badge bad">Failed</span></h1>"#));
    let callout = between(&html, r#"<div class="callout">"#, "</div>");
    assert!(callout.contains("held at revision"));
    assert!(callout.contains(">9e8d7c6</a>"));
    assert!(callout.contains("projects/vision/pipelines/train.yaml:14:11</a>"));
    assert!(callout.contains("E0402"));
    assert!(html.contains("<tr><td>dave</td><td><span class=\"badge none\">admin</span>"));
}

#[test]
fn pipeline_page_shows_schedule_dag_and_runs() {
    let html = page(&fixture(), "/projects/nlp/pipelines/daily-ranker");
    assert!(html.contains(
        "<strong>at 02:00 every day</strong> <code class=\"muted\">0 2 * * *</code> Asia/Shanghai"
    ));
    assert!(html.contains("2026-11-23 02:00 Asia/Shanghai</time>"));
    // The graph shrinks to 70% of its size at most; past that its box scrolls (phones).
    let svg = between(&html, "<div class=\"card dagbox\"><svg", "</svg>");
    assert!(svg.contains(r#"style="min-width:"#), "{svg}");
    assert_eq!(svg.matches("<rect").count(), 4);
    assert_eq!(svg.matches("class=\"edge\"").count(), 4);
    let runs = between(&html, "<h2>Runs</h2>", "</table>");
    let order: Vec<usize> = ["20261122", "20261121", "20261120"]
        .iter()
        .map(|d| runs.find(d).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(runs.contains(r#"<span class="badge ok">Succeeded</span>"#));
    assert!(runs.contains(r#"<span class="badge bad">Failed</span>"#));
    assert!(html.contains(
        r#"<a href="https://github.com/acme/platform/blob/3f2a9c4e5b6d7f8091a2b3c4d5e6f708192a3b4c/projects/nlp/pipelines/daily-ranker.yaml">"#
    ));
    // A stored description wins over the computed words.
    let html = page(&fixture(), "/projects/vision/pipelines/train");
    assert!(html.contains("<strong>at 02:00 every day</strong>"));
}

#[test]
fn history_is_newest_first_with_changes_and_errors() {
    let html = page(&fixture(), "/history");
    let rows: Vec<&str> = html.split("<tr class=\"record\">").skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].contains(">3f2a9c4</a>") && rows[0].contains("alice &lt;alice@example.com&gt;")
    );
    assert!(rows[1].contains(">9e8d7c6</a>") && rows[1].contains("2.4 s"));
    assert!(rows[2].contains(">1a2b3c4</a>"));
    assert!(rows[0].contains(
        r#"href="https://github.com/acme/platform/commit/3f2a9c4e5b6d7f8091a2b3c4d5e6f708192a3b4c""#
    ));
    assert!(rows[0].contains(
        "local <span class=\"badge ok\">Synced</span> <span class=\"small\">2 created, 1 changed, 37 unchanged, 30 skipped"
    ));
    assert!(rows[0].contains("projects/vision/pipelines/train.yaml:14:11"));
    assert!(rows[0].contains("1 rendered, 2 skipped"));
    assert!(rows[0].contains(">3 min ago</time>"));
}

#[test]
fn cluster_page_lists_objects() {
    let html = page(&fixture(), "/clusters/prod-bj");
    assert!(html.contains("InferenceService <code>nlp/sentiment</code>"));
    assert!(html.contains(r#"<span class="badge bad">Degraded</span>"#));
    assert!(html.contains("held at last good revision"));
    let html = page(&fixture(), "/clusters/local");
    assert!(html.contains("2 objects owned by cubist"));
}

#[test]
fn no_repo_url_means_no_repo_links() {
    let mut tree = fixture();
    let summary = String::from_utf8(tree.files()["status/summary.yaml"].clone()).unwrap();
    let summary = summary.replace(
        "repoUrl: https://github.com/acme/platform\n",
        "repoUrl: \"javascript:alert(1)\"\n",
    );
    tree.files_mut()
        .insert("status/summary.yaml".into(), summary.into_bytes());
    for path in ALL_PATHS {
        let html = page(&tree, path);
        assert!(
            !html.contains("github.com") && !html.contains("href=\"javascript"),
            "{path}"
        );
    }
}

#[test]
fn unknown_paths_have_no_page() {
    let tree = fixture();
    for path in [
        "/nope",
        "/projects/ghost",
        "/projects/nlp/pipelines/ghost",
        "/clusters/ghost",
        "/projects/nlp/x",
    ] {
        assert!(
            render_page(&tree, path, now(), &PageOptions::default()).is_none(),
            "{path}"
        );
    }
    for path in ALL_PATHS {
        page(&tree, path);
    }
    page(&tree, "/projects/");
    page(&tree, "/projects/nlp/index.html");
}

#[test]
fn empty_tree_renders_placeholders() {
    let tree = cubist_status_ui::StatusTree::default();
    assert!(page(&tree, "/").contains("No status yet"));
    assert!(page(&tree, "/projects").contains("No projects."));
    assert!(page(&tree, "/history").contains("No reconciles recorded yet."));
}

/// Repo-controlled strings never reach a page unescaped.
#[test]
fn hostile_names_are_escaped_everywhere() {
    let tree = fixture();
    let raw = [
        "<script>alert(1)</script>",
        "a\"b'c",
        "<img src=x onerror=alert(2)>",
        "<b>bold</b>",
        "x\"<y>",
    ];
    for path in ALL_PATHS {
        let html = page(&tree, path);
        for r in raw {
            assert!(!html.contains(r), "{path} contains raw {r}");
        }
        assert!(!html.contains("<script"), "{path}");
    }
    let overview = page(&tree, "/");
    assert!(overview.contains(r#"title="&lt;script&gt;alert(1)&lt;/script&gt;">web</a>"#));
    let web = page(&tree, "/projects/web");
    assert!(web.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(web.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt; · cubist</title>"));
    assert!(web.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(web.contains(r#"<a href="/projects/web/pipelines/a%22b%27c">a&quot;b&#39;c</a>"#));
    assert!(page(&tree, "/projects").contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let pipeline = page(&tree, "/projects/web/pipelines/a%22b%27c");
    assert!(pipeline.contains("<h1>a&quot;b&#39;c"));
    assert!(pipeline.contains(">x&quot;&lt;y&gt;</text>"));
    assert!(pipeline.contains("at 09:00 on weekdays"));
}

/// A cluster whose credentials are not set up is neutral: a grey badge and a note on what to
/// set, not a red error.
#[test]
fn a_cluster_that_is_not_configured_is_a_neutral_note() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut stack = vec![std::path::PathBuf::from(fixtures)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let to = dir.path().join(p.strip_prefix(fixtures).unwrap());
            if p.is_dir() {
                std::fs::create_dir_all(&to).unwrap();
                stack.push(p);
            } else {
                std::fs::copy(&p, &to).unwrap();
            }
        }
    }
    let summary = dir.path().join("status/summary.yaml");
    let text = std::fs::read_to_string(&summary).unwrap();
    let text = text
        .replacen(
            "    state: Failed\n    revision: 9e8d7c6b",
            "    state: NotConfigured\n    revision: 9e8d7c6b",
            1,
        )
        .replace(
            r#"{file: projects/nlp/services/sentiment.yaml, line: 0, column: 0, code: "", message: "apply InferenceService nlp/sentiment: admission webhook denied the request"}"#,
            r#"{file: "", line: 0, column: 0, code: "not configured", message: "set CUBIST_KUBECONFIG_DIR"}"#,
        );
    std::fs::write(&summary, text).unwrap();
    let tree = cubist_status_ui::StatusTree::from_dir(dir.path()).unwrap();
    let html = page(&tree, "/");
    let prod = between(&html, r#"class="name">prod-bj</a>"#, "</section>");
    assert!(
        prod.starts_with(r#"<span class="badge none">NotConfigured</span>"#),
        "{prod}"
    );
    assert!(
        prod.contains(r#"<li class="note"><span class="code">not configured</span> set CUBIST_KUBECONFIG_DIR</li>"#),
        "{prod}"
    );
}
