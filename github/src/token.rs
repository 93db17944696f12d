//! The GitHub API token, read from the environment or a file and never shown.

use std::fmt;
use std::path::Path;

use super::GitHubError;

/// A GitHub token (PAT or installation token). `Debug` redacts it; there is no `Display`.
#[derive(Clone)]
pub struct GitHubToken(String);

impl GitHubToken {
    /// Wraps a token string (surrounding whitespace trimmed); empty → error.
    pub fn new(token: impl Into<String>) -> Result<Self, GitHubError> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(GitHubError::Token("the GitHub token is empty".into()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Reads the token from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, GitHubError> {
        let value = std::env::var(var).map_err(|_| {
            GitHubError::Token(format!(
                "environment variable {var} is not set (or not UTF-8); export a GitHub token in it"
            ))
        })?;
        Self::new(value)
            .map_err(|_| GitHubError::Token(format!("environment variable {var} is empty")))
    }

    /// Reads the token from the file at `path` (e.g. a mounted Kubernetes secret).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, GitHubError> {
        let path = path.as_ref();
        let value = std::fs::read_to_string(path).map_err(|e| {
            GitHubError::Token(format!(
                "cannot read GitHub token file {}: {e}",
                path.display()
            ))
        })?;
        Self::new(value).map_err(|_| {
            GitHubError::Token(format!("GitHub token file {} is empty", path.display()))
        })
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GitHubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitHubToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_file_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("cubist-webhook-token-{}", std::process::id()));
        std::fs::write(&dir, "ghp_secretvalue\n").unwrap();
        let token = GitHubToken::from_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(token.expose(), "ghp_secretvalue");
        assert_eq!(format!("{token:?}"), "GitHubToken(<redacted>)");
    }

    #[test]
    fn missing_sources_say_what_to_do() {
        let err = GitHubToken::from_env("CUBIST_WEBHOOK_TEST_SURELY_UNSET").unwrap_err();
        assert!(
            err.to_string()
                .contains("CUBIST_WEBHOOK_TEST_SURELY_UNSET is not set"),
            "{err}"
        );
        let err = GitHubToken::from_file("/nonexistent/cubist/token").unwrap_err();
        assert!(
            err.to_string().contains("cannot read GitHub token file"),
            "{err}"
        );
        assert!(GitHubToken::new("  \n").is_err());
    }
}
