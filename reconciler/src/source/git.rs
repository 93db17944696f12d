//! Git source: a bare mirror of the platform repository in a cache directory; snapshots are
//! read straight from the object database (no worktree, no index).

use super::{Snapshot, is_manifest_path};
use anyhow::{Context, Result};
use git2::{Cred, FetchOptions, Oid, RemoteCallbacks, Repository, TreeWalkMode, TreeWalkResult};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A bare mirror of a remote repository.
pub struct GitMirror {
    repo: Repository,
    url: String,
}

impl GitMirror {
    /// Opens (or creates) the mirror of `url` under `cache_dir`.
    pub fn open(url: &str, cache_dir: &Path) -> Result<Self> {
        let name = hex::encode(&Sha256::digest(url.as_bytes())[..8]);
        let path: PathBuf = cache_dir.join(format!("mirror-{name}.git"));
        let repo = match Repository::open_bare(&path) {
            Ok(r) => r,
            Err(_) => {
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("cannot create the mirror at {}", path.display()))?;
                Repository::init_bare(&path)
                    .with_context(|| format!("cannot create the mirror at {}", path.display()))?
            }
        };
        Ok(GitMirror {
            repo,
            url: url.to_string(),
        })
    }

    /// The mirror's repository.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Where the mirror lives on disk.
    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    /// The remote URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches the given branches (force-updating the mirror's copies); a branch missing on the
    /// remote is removed from the mirror.
    pub fn fetch(&self, branches: &[&str]) -> Result<()> {
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let specs: Vec<String> = branches
            .iter()
            .map(|b| format!("+refs/heads/{b}:refs/heads/{b}"))
            .collect();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks());
        opts.prune(git2::FetchPrune::On);
        remote
            .fetch(&specs, Some(&mut opts), None)
            .with_context(|| {
                format!(
                    "cannot fetch {} from {}",
                    branches.join(", "),
                    redact_url(&self.url)
                )
            })?;
        // A branch deleted on the remote keeps a stale copy after a refspec fetch: drop it.
        let remote_heads: Vec<String> = remote
            .list()?
            .iter()
            .map(|h| h.name().to_string())
            .collect();
        for b in branches {
            let name = format!("refs/heads/{b}");
            if !remote_heads.contains(&name)
                && let Ok(mut r) = self.repo.find_reference(&name)
            {
                r.delete()?;
            }
        }
        Ok(())
    }

    /// The commit a branch points at, if the branch exists.
    pub fn head(&self, branch: &str) -> Option<Oid> {
        self.repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
    }

    /// Reads the manifests of a commit.
    pub fn snapshot(&self, commit: Oid) -> Result<Snapshot> {
        snapshot_commit(&self.repo, commit)
    }

    /// Author (`name <email>`) and first message line of a commit.
    pub fn describe(&self, commit: Oid) -> (String, String) {
        match self.repo.find_commit(commit) {
            Ok(c) => {
                let a = c.author();
                (
                    format!("{} <{}>", a.name().unwrap_or(""), a.email().unwrap_or("")),
                    c.summary().ok().flatten().unwrap_or("").to_string(),
                )
            }
            Err(_) => (String::new(), String::new()),
        }
    }
}

/// Reads the manifest files of a commit in any repository.
pub fn snapshot_commit(repo: &Repository, commit: Oid) -> Result<Snapshot> {
    let tree = repo
        .find_commit(commit)
        .with_context(|| format!("commit {commit} not found"))?
        .tree()?;
    let mut snap = Snapshot {
        revision: Some(commit.to_string()),
        ..Default::default()
    };
    let mut failure = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return if entry.name().is_ok_and(|n| n.starts_with('.')) {
                TreeWalkResult::Skip
            } else {
                TreeWalkResult::Ok
            };
        }
        let path = format!("{dir}{}", entry.name().unwrap_or_default());
        if is_manifest_path(&path) {
            match repo.find_blob(entry.id()) {
                Ok(blob) => snap.insert(path, blob.content().to_vec()),
                Err(e) => {
                    failure = Some(e);
                    return TreeWalkResult::Abort;
                }
            }
        }
        TreeWalkResult::Ok
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(snap)
}

/// Credentials from the environment, never logged: `CUBIST_GIT_TOKEN` (https), or
/// `CUBIST_GIT_SSH_KEY` (a private key file) / the ssh agent (ssh).
pub fn callbacks() -> RemoteCallbacks<'static> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0;
    cb.credentials(move |_url, user, allowed| {
        tries += 1;
        if tries > 3 {
            return Err(git2::Error::from_str(
                "authentication failed: check CUBIST_GIT_TOKEN or CUBIST_GIT_SSH_KEY",
            ));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Ok(token) = std::env::var("CUBIST_GIT_TOKEN")
        {
            return Cred::userpass_plaintext("x-access-token", &token);
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            let user = user.unwrap_or("git");
            if let Ok(key) = std::env::var("CUBIST_GIT_SSH_KEY") {
                return Cred::ssh_key(user, None, Path::new(&key), None);
            }
            return Cred::ssh_key_from_agent(user);
        }
        Cred::default()
    });
    cb
}

/// A URL with any password or token removed, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
