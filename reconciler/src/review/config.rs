//! Settings of pull request review: the GitHub repository, API and web bases, the token and
//! the git remote to fetch pull request heads from. Read from the environment; the token is
//! never logged (`GitHubToken` has no `Display` and a redacting `Debug`).

use anyhow::{Context, Result, bail};
use cubist_github::{DEFAULT_BASE_URL, GitHubToken};
use std::path::PathBuf;

/// Where pull requests are planned and reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewConfig {
    /// Git URL (or path) of the platform repository; `refs/pull/<n>/head` is fetched from it.
    pub repo_url: String,
    /// Repository owner on GitHub.
    pub owner: String,
    /// Repository name on GitHub.
    pub name: String,
    /// The watched branch: pull requests into it are planned against its tip.
    pub branch: String,
    /// Directory of the review's own bare mirror (not shared with the reconcile loop's).
    pub cache_dir: PathBuf,
    /// REST API base, e.g. `https://api.github.com` or `https://HOST/api/v3`.
    pub api_base: String,
    /// Web base for links to files and commits, e.g. `https://github.com` or `https://HOST`.
    pub web_base: String,
    /// Login cubist comments as (`CUBIST_GITHUB_LOGIN`, e.g. `cubist[bot]`): only its comments
    /// are taken as the sticky plan comment. Unset: any comment carrying the marker.
    pub login: Option<String>,
}

impl ReviewConfig {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Reads the settings from the process environment: the token from `CUBIST_GITHUB_TOKEN`
    /// or the file named by `CUBIST_GITHUB_TOKEN_FILE` (none → `Ok(None)`: review disabled),
    /// `CUBIST_GITHUB_API` (default api.github.com), `CUBIST_GITHUB_WEB` (default derived from
    /// the API base), `CUBIST_GITHUB_REPO` (`owner/name`, default derived from `repo_url`)
    /// and `CUBIST_GITHUB_LOGIN` (the account cubist comments as).
    pub fn from_env(
        repo_url: &str,
        branch: &str,
        cache_dir: PathBuf,
    ) -> Result<Option<(ReviewConfig, GitHubToken)>> {
        Self::from_lookup(repo_url, branch, cache_dir, |k| std::env::var(k).ok())
    }

    /// [`ReviewConfig::from_env`] with variables read through `var`.
    pub fn from_lookup(
        repo_url: &str,
        branch: &str,
        cache_dir: PathBuf,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(ReviewConfig, GitHubToken)>> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let token = match (var("CUBIST_GITHUB_TOKEN"), var("CUBIST_GITHUB_TOKEN_FILE")) {
            (Some(t), _) => GitHubToken::new(t)?,
            (None, Some(file)) => GitHubToken::from_file(file)?,
            (None, None) => return Ok(None),
        };
        let api_base = var("CUBIST_GITHUB_API")
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        let web_base = var("CUBIST_GITHUB_WEB")
            .map(|w| w.trim_end_matches('/').to_string())
            .unwrap_or_else(|| web_base_of(&api_base));
        let full = match var("CUBIST_GITHUB_REPO") {
            Some(r) => r,
            None => github_repo_of(repo_url).with_context(|| {
                format!(
                    "cannot tell the GitHub repository from {}; set CUBIST_GITHUB_REPO=owner/name",
                    crate::source::git::redact_url(repo_url)
                )
            })?,
        };
        let Some((owner, name)) = full
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        else {
            bail!("CUBIST_GITHUB_REPO `{full}` is not of the form owner/name");
        };
        let config = ReviewConfig {
            repo_url: repo_url.to_string(),
            owner: owner.to_string(),
            name: name.to_string(),
            branch: branch.to_string(),
            cache_dir,
            api_base,
            web_base,
            login: var("CUBIST_GITHUB_LOGIN"),
        };
        Ok(Some((config, token)))
    }
}

/// `https://api.github.com` → `https://github.com`; `https://HOST/api/v3` → `https://HOST`;
/// anything else is its own web base.
pub fn web_base_of(api_base: &str) -> String {
    let api = api_base.trim_end_matches('/');
    if let Some(host) = api.strip_suffix("/api/v3") {
        return host.to_string();
    }
    match api.split_once("://api.") {
        Some((scheme, host)) if !host.contains('/') => format!("{scheme}://{host}"),
        _ => api.to_string(),
    }
}

/// `owner/name` from `https://host/owner/name(.git)`, `ssh://git@host/owner/name(.git)` or
/// `git@host:owner/name(.git)`.
pub fn github_repo_of(url: &str) -> Option<String> {
    let path = if let Some((_, rest)) = url.split_once("://") {
        if rest.starts_with('/') {
            return None; // file:///path
        }
        rest.split_once('/')?.1
    } else {
        url.split_once('@')?.1.split_once(':')?.1
    };
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let (owner, name) = path.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn web_base_follows_the_api_base() {
        assert_eq!(web_base_of("https://api.github.com"), "https://github.com");
        assert_eq!(
            web_base_of("https://ghe.acme.io/api/v3/"),
            "https://ghe.acme.io"
        );
        assert_eq!(web_base_of("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn repository_is_read_from_the_remote_url() {
        for url in [
            "https://github.com/acme/platform.git",
            "https://x-access-token@github.com/acme/platform",
            "ssh://git@github.com/acme/platform.git",
            "git@github.com:acme/platform.git",
        ] {
            assert_eq!(
                github_repo_of(url).as_deref(),
                Some("acme/platform"),
                "{url}"
            );
        }
        assert_eq!(github_repo_of("file:///tmp/remote.git"), None);
        assert_eq!(github_repo_of("/tmp/remote.git"), None);
    }

    #[test]
    fn no_token_disables_review_and_settings_come_from_the_environment() {
        let none = ReviewConfig::from_lookup("x", "main", "c".into(), lookup(&[])).unwrap();
        assert!(none.is_none());
        let (cfg, token) = ReviewConfig::from_lookup(
            "/tmp/remote.git",
            "main",
            "c".into(),
            lookup(&[
                ("CUBIST_GITHUB_TOKEN", "ghp_secret"),
                ("CUBIST_GITHUB_API", "https://ghe.acme.io/api/v3"),
                ("CUBIST_GITHUB_REPO", "acme/platform"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cfg.full_name(), "acme/platform");
        assert_eq!(cfg.web_base, "https://ghe.acme.io");
        assert!(!format!("{cfg:?}{token:?}").contains("ghp_secret"));
    }

    #[test]
    fn token_file_and_bad_settings_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "ghp_from_file\n").unwrap();
        let env = lookup(&[("CUBIST_GITHUB_TOKEN_FILE", file.to_str().unwrap())]);
        let (cfg, _) = ReviewConfig::from_lookup("git@github.com:o/r.git", "main", "c".into(), env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (cfg.owner.as_str(), cfg.web_base.as_str()),
            ("o", "https://github.com")
        );
        let env = lookup(&[("CUBIST_GITHUB_TOKEN", "t")]);
        let err = ReviewConfig::from_lookup("/tmp/r.git", "main", "c".into(), env).unwrap_err();
        assert!(err.to_string().contains("set CUBIST_GITHUB_REPO"), "{err}");
        let env = lookup(&[
            ("CUBIST_GITHUB_TOKEN", "t"),
            ("CUBIST_GITHUB_REPO", "o/r/x"),
        ]);
        assert!(ReviewConfig::from_lookup("/tmp/r.git", "main", "c".into(), env).is_err());
    }
}
