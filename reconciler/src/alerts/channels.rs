//! The channels of `cubist.yaml` made ready to send: secrets read from the environment
//! variables the repository names (never from the repository, never printed). A channel whose
//! variable is missing stays listed, and every alert to it fails visibly until it is set.

use super::due::Route;
use super::webhook::{Webhook, WebhookPolicy};
use crate::model::kinds::AlertSettings;
use cubist_github::{DEFAULT_BASE_URL, GitHub, GitHubToken, RetryPolicy};

/// How channels reach GitHub and webhooks (not secrets).
#[derive(Debug, Clone)]
pub struct Settings {
    /// GitHub REST API base (`CUBIST_GITHUB_API`, default `https://api.github.com`).
    pub github_api: String,
    /// The login cubist writes issues as (`CUBIST_GITHUB_LOGIN`): only its issues and comments
    /// are taken as its own. Unset: any issue carrying the marker.
    pub github_login: Option<String>,
    /// Retries of GitHub calls.
    pub github_retry: RetryPolicy,
    /// Retries and timeout of webhook POSTs.
    pub webhook: WebhookPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            github_api: DEFAULT_BASE_URL.to_string(),
            github_login: None,
            github_retry: RetryPolicy::default(),
            webhook: WebhookPolicy::default(),
        }
    }
}

impl Settings {
    /// The defaults with `CUBIST_GITHUB_API` and `CUBIST_GITHUB_LOGIN` read through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Settings {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        Settings {
            github_api: var("CUBIST_GITHUB_API")
                .map(|a| a.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            github_login: var("CUBIST_GITHUB_LOGIN"),
            ..Settings::default()
        }
    }
}

/// Where a channel sends.
#[derive(Debug, Clone)]
pub(super) enum Sink {
    /// Issues of `owner/repo`.
    GitHub {
        /// The client, with the channel's token.
        client: GitHub,
        /// Repository owner.
        owner: String,
        /// Repository name.
        repo: String,
    },
    /// A webhook.
    Webhook(Webhook),
    /// Cannot send: why, and what to do (e.g. a variable not set).
    Unavailable(String),
}

/// One channel, ready to send.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its name in `cubist.yaml`.
    pub name: String,
    /// A GitHub issues channel (declared so, whether or not its token is set).
    issues: bool,
    pub(super) sink: Sink,
}

/// Every channel of `cubist.yaml`, in order.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    list: Vec<Channel>,
}

impl Channels {
    /// The channels of `settings` (cubist.yaml `spec.alerts`), their secrets read through
    /// `var` (the process environment in production). Must run inside a Tokio runtime (the
    /// GitHub client needs one; without it the channel is unavailable, not a panic).
    pub fn resolve(
        alerts: Option<&AlertSettings>,
        settings: &Settings,
        var: impl Fn(&str) -> Option<String>,
    ) -> Channels {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let list = alerts
            .iter()
            .flat_map(|a| a.channels.iter())
            .map(|c| {
                let missing = |env: &str| {
                    Sink::Unavailable(format!(
                        "environment variable {env} is not set or empty; export it in cubist's \
                         environment"
                    ))
                };
                let sink = if let Some(g) = &c.github {
                    match (var(&g.token_env), g.repo.split_once('/')) {
                        (None, _) => missing(&g.token_env),
                        (_, None) => {
                            Sink::Unavailable(format!("repo `{}` is not owner/name", g.repo))
                        }
                        (Some(token), Some((owner, repo))) => {
                            github_sink(settings, token, owner, repo, &g.token_env)
                        }
                    }
                } else if let Some(w) = &c.webhook {
                    match var(&w.url_env) {
                        None => missing(&w.url_env),
                        Some(url) => match Webhook::new(&url, settings.webhook) {
                            Ok(hook) => Sink::Webhook(hook),
                            Err(e) => Sink::Unavailable(format!(
                                "the value of environment variable {} {e}",
                                w.url_env
                            )),
                        },
                    }
                } else {
                    Sink::Unavailable("declares neither github nor webhook".into())
                };
                Channel {
                    name: c.name.clone(),
                    issues: c.github.is_some(),
                    sink,
                }
            })
            .collect();
        Channels { list }
    }

    /// [`Channels::resolve`] with [`Settings::from_lookup`] and secrets from the process
    /// environment: what the run controller uses.
    pub fn from_env(alerts: Option<&AlertSettings>) -> Channels {
        let var = |k: &str| std::env::var(k).ok();
        Channels::resolve(alerts, &Settings::from_lookup(var), var)
    }

    /// The channel named `name`.
    pub fn get(&self, name: &str) -> Option<&Channel> {
        self.list.iter().find(|c| c.name == name)
    }

    /// The routes of a pipeline that sends to `names` (empty: every channel).
    pub fn routes(&self, names: &[String]) -> Vec<Route> {
        self.list
            .iter()
            .filter(|c| names.is_empty() || names.contains(&c.name))
            .map(|c| Route {
                channel: c.name.clone(),
                resolves: c.resolves(),
            })
            .collect()
    }

    /// Every channel.
    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.list.iter()
    }
}

impl Channel {
    /// True for an issue channel, whose issue a success closes.
    fn resolves(&self) -> bool {
        self.issues
    }

    /// Why the channel cannot send, if it cannot.
    pub fn unavailable(&self) -> Option<&str> {
        match &self.sink {
            Sink::Unavailable(why) => Some(why),
            _ => None,
        }
    }
}

fn github_sink(settings: &Settings, token: String, owner: &str, repo: &str, env: &str) -> Sink {
    let token = match GitHubToken::new(token) {
        Ok(t) => t,
        Err(_) => return Sink::Unavailable(format!("environment variable {env} is empty")),
    };
    match GitHub::new(&settings.github_api, token) {
        Ok(client) => {
            let client = client.with_retry_policy(settings.github_retry);
            let client = match &settings.github_login {
                Some(login) => client.with_comment_author(login.clone()),
                None => client,
            };
            Sink::GitHub {
                client,
                owner: owner.to_string(),
                repo: repo.to_string(),
            }
        }
        Err(e) => Sink::Unavailable(e.to_string()),
    }
}
