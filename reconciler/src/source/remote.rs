//! Where a remote repository is: on this machine (a path, or a `file://` URL), where cubist
//! reads and writes it in-process, or across the network, where libgit2 fetches from it and
//! pushes to it.

use anyhow::{Context, Result};
use git2::Repository;

/// A remote repository as cubist reaches it.
pub(crate) enum Remote<'u> {
    /// A repository on this machine, updated in-process.
    Local {
        /// The repository.
        repo: Repository,
        /// As configured, for messages.
        url: &'u str,
    },
    /// Anything else, pushed to.
    Network(&'u str),
}

impl<'u> Remote<'u> {
    /// The remote at `url`: local when it is a `file://` URL (which must open here: libgit2
    /// would otherwise push to it with its own local transport) or the path of a repository.
    pub(crate) fn open(url: &'u str) -> Result<Remote<'u>> {
        if let Some(path) = file_url_path(url) {
            let repo = Repository::open(&path).with_context(|| {
                format!("the remote {url} is not a git repository on this machine")
            })?;
            return Ok(Remote::Local { repo, url });
        }
        if !url.contains("://")
            && let Ok(repo) = Repository::open(url)
        {
            return Ok(Remote::Local { repo, url });
        }
        Ok(Remote::Network(url))
    }
}

/// The path of a `file://` URL (`file:///p` or `file://localhost/p`), percent-decoded.
fn file_url_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let (mut bytes, mut out) = (rest.bytes(), Vec::new());
    while let Some(b) = bytes.next() {
        let hex = |b: Option<u8>| (b? as char).to_digit(16);
        match b {
            b'%' => {
                let mut peek = bytes.clone();
                match (hex(peek.next()), hex(peek.next())) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        bytes = peek;
                    }
                    _ => out.push(b),
                }
            }
            _ => out.push(b),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::file_url_path;

    #[test]
    fn file_urls_become_paths() {
        let path = |u| file_url_path(u);
        assert_eq!(
            path("file:///srv/a%20b.git").as_deref(),
            Some("/srv/a b.git")
        );
        assert_eq!(path("file://localhost/srv/x").as_deref(), Some("/srv/x"));
        assert_eq!(path("file:///srv/100%").as_deref(), Some("/srv/100%"));
        assert_eq!(path("file:///srv/%zz").as_deref(), Some("/srv/%zz"));
        assert_eq!(path("https://example.com/x"), None);
        assert_eq!(path("/srv/x"), None);
    }
}
