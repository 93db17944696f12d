//! The status page in a real, headless Chromium driven over WebDriver (chromedriver +
//! fantoccini): `cubist serve` on a copy of examples-repo shows the projects and the clusters'
//! state; a manifest broken in the watched directory shows up, after the next reconcile, as an
//! error with its file and line; the static site of `cubist status-site` navigates from
//! `file://`. Screenshots (laptop and phone widths) go to `tests/artifacts/`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`bash .ci/run` installs them).

use cubist_tests::procs::{Lines, cubist_binary, require_program, spawn};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long to wait for a process to print what the test waits for (a bound, not a timing).
const PATIENCE: Duration = Duration::from_secs(120);
/// Laptop and phone viewport widths.
const LAPTOP: u32 = 1280;
const PHONE: u32 = 390;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver); see README, Tests"
)]
async fn status_page_in_chromium() {
    let chromium = require_program(&["chromium", "chromium-browser"]);
    let chromedriver = require_program(&["chromedriver"]);
    let cubist = cubist_binary();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    cubist_tests::corpus::copy_tree(&cubist_tests::corpus::examples_repo(), &repo);
    let cache = tmp.path().join("cache");

    let mut serve_cmd = Command::new(&cubist);
    serve_cmd
        .args(["serve", "--listen", "127.0.0.1:0", "--interval", "1s"])
        .arg("--repo")
        .arg(&repo)
        .arg("--cache-dir")
        .arg(&cache)
        .env_remove("CUBIST_WEBHOOK_SECRET");
    let (_serve, mut serve) = spawn(serve_cmd);
    let line = serve.wait_for(PATIENCE, |l| l.starts_with("status page: "));
    let page = line["status page: ".len()..].trim().to_string();
    serve.wait_for(PATIENCE, |l| l.starts_with("reconciled "));

    let mut driver_cmd = Command::new(&chromedriver);
    driver_cmd.args(["--port=0", "--log-level=WARNING"]);
    let (_driver, mut driver) = spawn(driver_cmd);
    let line = driver.wait_for(PATIENCE, |l| l.contains("started successfully on port"));
    let port = line.trim_end_matches('.').rsplit(' ').next().unwrap();
    let client = connect(port, &chromium, &tmp.path().join("chrome-profile")).await;

    let outcome = std::panic::AssertUnwindSafe(scenario(
        &client,
        &page,
        &repo,
        &mut serve,
        (&cubist, &cache, tmp.path()),
    ))
    .catch_unwind()
    .await;
    client.close().await.expect("close the browser");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A WebDriver session on a fresh, offline, headless Chromium profile.
async fn connect(port: &str, chromium: &Path, profile: &Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--window-size={LAPTOP},900"),
    ];
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium, "args": args},
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session in Chromium")
}

/// What a person does: look at the page, break a manifest, look again, open the static site.
async fn scenario(
    c: &Client,
    page: &str,
    repo: &Path,
    serve: &mut Lines,
    (cubist, cache, tmp): (&Path, &Path, &Path),
) {
    c.goto(page).await.unwrap();
    let overview = main_text(c).await;
    assert_shows(
        &overview,
        &["Overview", "nlp", "recsys", "vision", "3 Ready, 0 Failed"],
    );
    let local = card_text(c, "local").await;
    assert_shows(&local, &["Synced", "directory ../rendered/local"]);
    let prod = card_text(c, "prod-bj").await;
    assert_shows(&prod, &["kubernetes prod-bj"]);
    screenshots(c, "overview").await;

    // Files are replaced whole (a poll never sees half a file), the valid change first: any
    // reconcile that sees the error also sees the new display name.
    let recsys = repo.join("projects/recsys/project.yaml");
    let text = std::fs::read_to_string(&recsys).unwrap();
    let hostile = format!("displayName: '{HOSTILE}'");
    replace_file(
        &recsys,
        &text.replace("displayName: Recommendation", &hostile),
    );
    let file = "projects/nlp/pipelines/weekly-embeddings.yaml";
    let line = break_owner_field(&repo.join(file));
    serve.wait_for(PATIENCE, |l| {
        l.starts_with("reconciled ") && l.ends_with(" 1 error(s)")
    });
    c.refresh().await.unwrap();
    let overview = main_text(c).await;
    let place = format!("{file}:{line}:3");
    assert_shows(
        &overview,
        &[&place, "E0103", "unknown field `ownr`", "2 Ready, 1 Failed"],
    );
    screenshots(c, "overview-error").await;

    // A repo-controlled string is shown as text, never parsed as markup.
    follow(c, "Projects").await;
    let projects = main_text(c).await;
    assert_shows(&projects, &[HOSTILE]);
    assert!(
        c.find_all(Locator::Css("main img"))
            .await
            .unwrap()
            .is_empty()
    );
    screenshots(c, "projects-escaped").await;
    c.back().await.unwrap();

    let url = follow(c, "nlp").await;
    assert!(url.ends_with("/projects/nlp"), "{url}");
    let project = main_text(c).await;
    assert_shows(&project, &["held at revision", &place]);
    screenshots(c, "project-error").await;
    follow(c, "weekly-embeddings").await;
    assert!(main_text(c).await.contains("Tasks"));
    screenshots(c, "pipeline").await;

    // Run records on the status branch become the run grid. The loop writes its own records
    // of `local` (a directory target: nothing due for this pipeline yet) when something changes,
    // so `local`'s runs file is replaced on top of its newest status commit (a comment-only
    // commit makes one); the page shows it once the loop's next poll has fetched the status
    // branch.
    let vision = repo.join("projects/vision/project.yaml");
    let text = std::fs::read_to_string(&vision).unwrap();
    replace_file(&vision, &format!("{text}# reviewed\n"));
    serve.wait_for(PATIENCE, |l| l.starts_with("reconciled "));
    write_runs(repo, cache);
    let mut grid = String::new();
    for _ in 0..60 {
        c.refresh().await.unwrap();
        grid = main_text(c).await;
        if grid.contains("Blocked:") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_shows(
        &grid,
        &[
            "Blocked:",
            "To unblock:",
            "Waiting 3",
            "build-index",
            "keepLast: 2 kept newer runs",
        ],
    );
    screenshots(c, "run-grid").await;

    static_site(c, cubist, repo, cache, tmp).await;
}

/// Writes a runs file for nlp/weekly-embeddings on the status branch `cubist serve` keeps for
/// the directory `repo`: on `local`, a failed run blocking the chain, a success, a skipped one.
fn write_runs(repo: &Path, cache: &Path) {
    use cubist_status_ui::doc::RunPhase;
    use cubist_status_ui::runs::*;
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let at = |d| Some(chrono::TimeZone::with_ymd_and_hms(&tz, 2026, 11, d, 3, 0, 0).unwrap());
    let task = |name: &str, phase| TaskRecord {
        name: name.into(),
        phase,
        retries: u32::from(phase == RunPhase::Failed),
        message: if phase == RunPhase::Failed {
            "OOMKilled: <b>exit 137</b>".into()
        } else {
            String::new()
        },
        ..TaskRecord::default()
    };
    let run = |d, phase, tasks: Vec<TaskRecord>, message: &str| RunRecord {
        execution: at(d),
        workflow: format!("weekly-embeddings-202611{d:02}"),
        attempt: 1,
        phase,
        duration_seconds: (!tasks.is_empty()).then_some(4000),
        message: message.into(),
        tasks,
        ..RunRecord::default()
    };
    let mut runs = PipelineRuns {
        project: "nlp".into(),
        pipeline: "weekly-embeddings".into(),
        ..PipelineRuns::default()
    };
    runs.clusters.insert(
        "local".into(),
        ClusterRuns {
            waiting: Some(Waiting {
                count: 3,
                oldest: at(23),
                newest: at(30),
                more_due: false,
            }),
            blocked: Some(Blocked {
                workflow: "weekly-embeddings-20261116".into(),
                execution: at(16),
                reason: "dependsOnPast: weekly-embeddings-20261116 failed".into(),
                fix: "commit a Run for 2026-11-16 to re-run it".into(),
            }),
            runs: vec![
                run(
                    16,
                    RunPhase::Failed,
                    vec![
                        task("extract-docs", RunPhase::Succeeded),
                        task("embed", RunPhase::Failed),
                    ],
                    "child 'embed' failed",
                ),
                run(
                    9,
                    RunPhase::Succeeded,
                    vec![
                        task("extract-docs", RunPhase::Succeeded),
                        task("embed", RunPhase::Succeeded),
                        task("build-index", RunPhase::Succeeded),
                    ],
                    "",
                ),
                run(2, RunPhase::Skipped, vec![], "keepLast: 2 kept newer runs"),
            ],
            ..ClusterRuns::default()
        },
    );
    let git =
        git2::Repository::open(cubist::source::local::repo_path(repo, cache).unwrap()).unwrap();
    let files = std::collections::BTreeMap::from([(
        cubist_status_ui::tree::paths::cluster_runs("local", "nlp", "weekly-embeddings"),
        cubist_status_ui::yaml::to_yaml(&runs).unwrap().into_bytes(),
    )]);
    cubist::report::status_branch::add_status_files(
        &git,
        None,
        "cubist/status",
        &Default::default(),
        "status: runs (test)",
        &files,
    )
    .unwrap();
}

/// A display name that would run script if it were not escaped.
const HOSTILE: &str = r#"<img src=x onerror=alert(1)> Recs & "co""#;

/// Replaces `owner:` by `ownr:` in a pipeline manifest; returns the line (1-based) it is on.
fn break_owner_field(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("  owner:"))
        .expect("an owner field")
        + 1;
    replace_file(path, &text.replacen("\n  owner:", "\n  ownr:", 1));
    line
}

/// Writes `text` to a hidden file beside `path` (the watcher skips hidden files), then renames
/// it over `path`.
fn replace_file(path: &Path, text: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `cubist status-site` output, opened from `file://`, navigated by its relative links.
async fn static_site(c: &Client, cubist: &Path, repo: &Path, cache: &Path, tmp: &Path) {
    let out = tmp.join("site");
    let site = Command::new(cubist)
        .arg("status-site")
        .arg("--repo")
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(site.status.success(), "status-site: {site:?}");
    let index = format!("file://{}", out.join("index.html").display());
    c.goto(&index).await.unwrap();
    let url = follow(c, "Projects").await;
    assert!(url.ends_with("/site/projects/index.html"), "{url}");
    let projects = main_text(c).await;
    assert_shows(&projects, &["nlp", "recsys", "vision", "Failed"]);
    let url = follow(c, HOSTILE).await;
    assert!(url.ends_with("/site/projects/recsys/index.html"), "{url}");
    let url = follow(c, "Overview").await;
    assert!(url.ends_with("/site/index.html"), "{url}");
    screenshots(c, "static-site").await;
}

/// Clicks the first link reading `text`; returns the URL it led to.
async fn follow(c: &Client, text: &str) -> String {
    let link = c.find(Locator::LinkText(text)).await.unwrap();
    link.click().await.unwrap();
    c.current_url().await.unwrap().to_string()
}

/// Asserts that the visible `text` contains every one of `needles`.
fn assert_shows(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

/// The rendered, visible text of `<main>`.
async fn main_text(c: &Client) -> String {
    let main = c.find(Locator::Css("main")).await.unwrap();
    main.text().await.unwrap()
}

/// The visible text of the overview's card of `cluster`.
async fn card_text(c: &Client, cluster: &str) -> String {
    let xpath = format!("//section[contains(@class,'cluster')][.//a[text()='{cluster}']]");
    let card = c.find(Locator::XPath(&xpath)).await.unwrap();
    card.text().await.unwrap()
}

/// Full-page screenshots at laptop and phone width: `tests/artifacts/<name>-<width>.png`.
/// At each width the page must not scroll sideways.
async fn screenshots(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    for width in [LAPTOP, PHONE] {
        c.set_window_size(width, 900).await.unwrap();
        let size = c
            .execute(
                "const e = document.documentElement; \
                 return [window.innerWidth, e.scrollWidth, window.innerHeight, e.scrollHeight]",
                vec![],
            )
            .await
            .unwrap();
        let [inner_w, scroll_w, inner_h, height] = [0, 1, 2, 3].map(|i| size[i].as_u64().unwrap());
        assert_eq!(inner_w, u64::from(width), "{name}: the viewport's width");
        assert!(
            scroll_w <= inner_w,
            "{name} at {width}px scrolls sideways: {scroll_w} > {inner_w}"
        );
        // Grow the window to the page's height (plus whatever the window adds around it).
        let (_, outer_h) = c.get_window_size().await.unwrap();
        let window_h = height + outer_h.saturating_sub(inner_h);
        c.set_window_size(width, u32::try_from(window_h).unwrap())
            .await
            .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
    }
    c.set_window_size(LAPTOP, 900).await.unwrap();
}
