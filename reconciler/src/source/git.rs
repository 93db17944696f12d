//! Git source: a bare mirror of the platform repository in a cache directory; snapshots are
//! read straight from the object database (no worktree, no index).

use super::Snapshot;
pub use super::git_tree::{Changed, snapshot_into};
use super::remote::Remote;
use crate::git_objects::copy_objects;
use anyhow::{Context, Result};
use git2::{Cred, FetchOptions, Oid, RemoteCallbacks, Repository};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Tells libgit2 (once per process) not to hash every object again when it reads it, as git
/// itself does not: an object's id is computed from its content when it arrives (the fetch's
/// indexer, cubist's own writes), and `git fsck` checks what is on disk. A named choice:
/// libgit2's collision-detecting SHA-1 of every object read was on the one thread that reads
/// the snapshot and the status branch; without it the snapshot of a first full reconcile (500
/// projects) took about half as long (20 ms instead of 35).
pub(crate) fn trust_stored_object_ids() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// A bare mirror of a remote repository.
pub struct GitMirror {
    repo: Repository,
    url: String,
}

impl GitMirror {
    /// Opens (or creates) the mirror of `url` under `cache_dir`.
    pub fn open(url: &str, cache_dir: &Path) -> Result<Self> {
        trust_stored_object_ids();
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

    /// Fetches the given branches into the mirror (see [`fetch_branches`]).
    pub fn fetch(&self, branches: &[&str]) -> Result<()> {
        fetch_branches(&self.repo, &self.url, branches)
    }

    /// The commit a branch points at, if the branch exists.
    pub fn head(&self, branch: &str) -> Option<Oid> {
        self.repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
    }

    /// Reads the manifests of a commit.
    pub fn snapshot(&self, commit: Oid) -> Result<Snapshot> {
        let mut snap = Snapshot::default();
        snapshot_into(&self.repo, commit, &mut snap)?;
        Ok(snap)
    }

    /// Turns `snap` (a snapshot of an earlier commit) into one of `commit`, in place: files and
    /// directories whose git id did not change stay as they are, only changed blobs are read,
    /// and what the commit no longer has is removed; returns the paths changed. On error
    /// `snap` is left half-updated and must be dropped.
    pub fn update_snapshot(&self, commit: Oid, snap: &mut Snapshot) -> Result<Changed> {
        snapshot_into(&self.repo, commit, snap)
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

/// Fetches `branches` of `url` into the same names in `repo`, force-updating them (the copies
/// mirror the remote); a branch missing on the remote is removed from `repo`.
///
/// A named choice for a repository on this machine (a path or a `file://` URL) that `repo`
/// has fetched from before: its new objects are copied in-process ([`copy_branches`]).
/// libgit2's local transport walks every tree of each branch `repo` already holds to leave
/// their objects out of the pack it builds, the whole status tree included: about 45 ms of a
/// `reconcile --once` at 500 projects, for a commit that changes one file. Should the copy
/// fail, libgit2 fetches, and a warning says why.
pub fn fetch_branches(repo: &Repository, url: &str, branches: &[&str]) -> Result<()> {
    if let Ok(Remote::Local { repo: from, .. }) = Remote::open(url)
        && branches
            .iter()
            .all(|b| repo.refname_to_id(&format!("refs/heads/{b}")).is_ok())
    {
        match copy_branches(&from, repo, branches) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), url = %redact_url(url),
                "could not copy the branches from the repository in-process; fetching them"),
        }
    }
    let mut remote = repo.remote_anonymous(url)?;
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
                redact_url(url)
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
            && let Ok(mut r) = repo.find_reference(&name)
        {
            r.delete()?;
        }
    }
    Ok(())
}

/// Sets each of `branches` in `to` to what it holds in `from` (the target of a symbolic
/// branch), after copying the objects `to` lacks ([`copy_objects`]); a branch `from` lacks is
/// removed from `to`.
fn copy_branches(from: &Repository, to: &Repository, branches: &[&str]) -> Result<()> {
    for b in branches {
        let name = format!("refs/heads/{b}");
        let id = match from.find_reference(&name) {
            Ok(r) => r
                .resolve()?
                .target()
                .context("a resolved reference has a target")?,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                if let Ok(mut r) = to.find_reference(&name) {
                    r.delete()?;
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        copy_objects(from, to, id)?;
        if to.refname_to_id(&name).ok() != Some(id) {
            to.reference(&name, id, true, "cubist: fetched")?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::GitMirror;
    use git2::{Oid, Repository, Signature};
    use std::path::Path;

    /// Commits `files` (path → text, one directory level) as the whole tree, on `parent`.
    fn commit(repo: &Repository, files: &[(&str, &str)], parent: Option<Oid>) -> Oid {
        let mut root = repo.treebuilder(None).unwrap();
        let mut dir = repo.treebuilder(None).unwrap();
        for (path, text) in files {
            let blob = repo.blob(text.as_bytes()).unwrap();
            match path.split_once('/') {
                Some((_, name)) => dir.insert(name, blob, 0o100644).unwrap(),
                None => root.insert(path, blob, 0o100644).unwrap(),
            };
        }
        root.insert("projects", dir.write().unwrap(), 0o040000)
            .unwrap();
        let tree = repo.find_tree(root.write().unwrap()).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let parents: Vec<_> = parent
            .map(|p| repo.find_commit(p).unwrap())
            .into_iter()
            .collect();
        let parents: Vec<_> = parents.iter().collect();
        repo.commit(None, &sig, &sig, "c", &tree, &parents).unwrap()
    }

    fn packs(repo: &Path) -> usize {
        let dir = repo.join("objects").join("pack");
        let names = std::fs::read_dir(dir).unwrap().flatten();
        names
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
            .count()
    }

    /// After a first fetch through libgit2, a repository on this machine is fetched by copying
    /// what the mirror lacks (no pack is written for a few objects, where libgit2's local
    /// transport writes one), with fetch's results: a new commit, a branch rewritten (not a
    /// fast-forward), a branch that is an annotated tag, a branch deleted on the remote.
    #[test]
    fn a_local_repository_is_fetched_by_copying_what_the_mirror_lacks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("src.git");
        let src = Repository::init_bare(&path).unwrap();
        let a = commit(&src, &[("README.md", "a"), ("projects/p.yaml", "1")], None);
        src.reference("refs/heads/main", a, true, "").unwrap();
        src.reference("refs/heads/other", a, true, "").unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let tag_of = |id: Oid, name: &str| {
            let target = src.find_object(id, None).unwrap();
            src.tag_annotation_create(name, &target, &sig, "t").unwrap()
        };
        src.reference("refs/heads/tagged", tag_of(a, "t1"), true, "")
            .unwrap();
        let url = path.to_str().unwrap();
        let mirror = GitMirror::open(url, &tmp.path().join("cache")).unwrap();
        let branches = ["main", "other", "tagged"];
        mirror.fetch(&branches).unwrap();
        assert_eq!(mirror.head("main"), Some(a));
        let first_packs = packs(mirror.path());
        assert!(first_packs >= 1, "libgit2 fetched the first time");

        let b = commit(
            &src,
            &[("README.md", "a"), ("projects/p.yaml", "2")],
            Some(a),
        );
        src.reference("refs/heads/main", b, true, "").unwrap();
        let t2 = tag_of(b, "t2");
        src.reference("refs/heads/tagged", t2, true, "").unwrap();
        mirror.fetch(&branches).unwrap();
        assert_eq!(mirror.head("main"), Some(b));
        assert_eq!(mirror.head("tagged"), Some(t2));
        let snap = mirror.snapshot(b).unwrap();
        let body = |s: &crate::source::Snapshot| match &s.files["projects/p.yaml"] {
            crate::source::FileBody::Bytes(b) => b.to_vec(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body(&snap), b"2");
        assert_eq!(packs(mirror.path()), first_packs, "copied, not fetched");

        let c = commit(&src, &[("projects/p.yaml", "3")], None);
        src.reference("refs/heads/main", c, true, "").unwrap();
        src.find_reference("refs/heads/other")
            .unwrap()
            .delete()
            .unwrap();
        mirror.fetch(&branches).unwrap();
        assert_eq!(mirror.head("main"), Some(c));
        assert_eq!(mirror.head("other"), None);
        assert_eq!(body(&mirror.snapshot(c).unwrap()), b"3");
        assert_eq!(packs(mirror.path()), first_packs);
    }
}
