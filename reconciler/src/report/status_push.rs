//! Moves the status branch only forward and only by compare-and-swap, on every transport, so
//! that writers sharing it never lose each other's commits (see
//! [`super::status_branch::write_status`], which retries on top of the other writer).
//!
//! - Without a remote, the mirror's branch is the record: it is moved with libgit2's
//!   `reference_matching`, which checks under the ref's lock that it still holds the id the new
//!   commit was built on (a zero id: that it does not exist yet).
//! - A local remote (a path or `file://` URL, bare or not) is updated the same way, in-process:
//!   the new objects are first copied into its object database. libgit2's own local push is not
//!   used: it checks fast-forward against the refs it read when connecting, then overwrites the
//!   ref, so a writer in between is lost.
//! - A network remote (https, ssh) gets an ordinary push. Its command carries the old id the
//!   remote advertised, and git's receive-pack applies it in a ref transaction that fails under
//!   the ref's lock unless the ref still holds that id; the ref is then reported rejected. Before
//!   anything is sent, the advertised id is checked to be the new commit's parent, so the old id
//!   the remote compares is the one the commit was built on.

use crate::git_objects::copy_objects;
use crate::source::git::{callbacks, fetch_branches, redact_url};
use crate::source::remote::Remote;
use anyhow::{Context, Result, anyhow};
use git2::{ErrorCode, ObjectType, Oid, PushOptions, Repository};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// What a status ref holds.
pub(super) enum Tip {
    /// No such ref.
    Missing,
    /// A commit.
    Commit(Oid),
    /// Anything else, described for messages (`a tree <id>`, `a missing object <id>`, …).
    NotCommit(String),
}

/// What `refname` of `repo` points at.
pub(super) fn tip(repo: &Repository, refname: &str) -> Result<Tip> {
    let r = match repo.find_reference(refname) {
        Ok(r) => r,
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(Tip::Missing),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {refname} in {}", repo.path().display()));
        }
    };
    let Some(id) = r.target() else {
        let to = String::from_utf8_lossy(r.symbolic_target_bytes().unwrap_or_default());
        return Ok(Tip::NotCommit(format!("a symbolic reference to {to}")));
    };
    Ok(match repo.odb()?.read_header(id) {
        Ok((_, ObjectType::Commit)) => Tip::Commit(id),
        Ok((_, kind)) => Tip::NotCommit(format!("a {kind} {id}")),
        Err(e) if e.code() == ErrorCode::NotFound => {
            Tip::NotCommit(format!("a missing object {id}"))
        }
        Err(e) => return Err(e.into()),
    })
}

/// The commit to build the next status commit on (`None`: start a history), which the branch
/// must still hold when [`deliver`] moves it. Without a remote, a mirror branch that is not a
/// commit is set aside (see [`set_aside`]). A local remote's branch is read there and its
/// objects copied into the mirror; a network remote's is the mirror's copy, fetched again when
/// `refresh` (or when that copy is not a commit). A remote branch that is not a commit is an
/// error: replacing it would take a forced push.
pub(super) fn base(
    mirror: &Repository,
    remote: Option<&Remote>,
    branch: &str,
    refresh: bool,
) -> Result<Option<Oid>> {
    let refname = format!("refs/heads/{branch}");
    let (found, url) = match remote {
        None => match tip(mirror, &refname)? {
            Tip::NotCommit(found) => {
                set_aside(mirror, &refname, branch, &found)?;
                return Ok(None);
            }
            Tip::Commit(id) => return Ok(Some(id)),
            Tip::Missing => return Ok(None),
        },
        Some(Remote::Local { repo, url }) => match tip(repo, &refname)? {
            Tip::Commit(id) => {
                copy_objects(repo, mirror, id)?;
                mirror.reference(&refname, id, true, "cubist: the remote's status branch")?;
                return Ok(Some(id));
            }
            Tip::Missing => return Ok(None),
            Tip::NotCommit(found) => (found, *url),
        },
        Some(Remote::Network(url)) => {
            if refresh {
                fetch_branches(mirror, url, &[branch])?;
            }
            match tip(mirror, &refname)? {
                Tip::Commit(id) => return Ok(Some(id)),
                Tip::Missing => return Ok(None),
                Tip::NotCommit(_) if !refresh => {
                    // Only a copy of the remote's: look at the remote's own.
                    mirror.find_reference(&refname)?.delete()?;
                    return base(mirror, remote, branch, true);
                }
                Tip::NotCommit(found) => (found, *url),
            }
        }
    };
    let url = redact_url(url);
    Err(anyhow!(
        "the status branch {refname} at {url} points at {found}, not a commit; cubist never \
         force-pushes, so it cannot replace it. Keep what it holds if you need it, then delete \
         it there (`git push {url} --delete {branch}`, or `git update-ref -d {refname}` in that \
         repository): the next reconcile starts a new status history"
    ))
}

/// Keeps what a mirror status ref that is not a commit points at under
/// `refs/cubist/broken/<branch>/<time>` (when that object exists), removes the ref and warns,
/// once: the next status commit starts a new history.
fn set_aside(repo: &Repository, refname: &str, branch: &str, found: &str) -> Result<()> {
    let mut r = repo.find_reference(refname)?;
    let kept = match r
        .target()
        .filter(|id| repo.odb().is_ok_and(|o| o.exists(*id)))
    {
        Some(id) => {
            let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%9fZ");
            let name = format!("refs/cubist/broken/{branch}/{time}");
            repo.reference(&name, id, false, "cubist: status ref was not a commit")?;
            format!("it is kept as {name}")
        }
        None => "it cannot be kept".to_string(),
    };
    r.delete()?;
    tracing::warn!(
        "the status branch {refname} pointed at {found}, not a commit ({kept}); a new status \
         history is started"
    );
    Ok(())
}

/// What became of a status commit sent to its branch.
pub(super) enum Delivery {
    /// The branch holds it.
    Done,
    /// The branch no longer held the expected id (or the remote refused): why.
    Moved(String),
}

/// Moves `branch` from `expected` to `commit` (see the module doc) in the mirror, or on the
/// remote and then in the mirror's copy of it.
pub(super) fn deliver(
    mirror: &Repository,
    remote: Option<&Remote>,
    branch: &str,
    commit: Oid,
    expected: Option<Oid>,
    pack: Option<&Path>,
) -> Result<Delivery> {
    let refname = format!("refs/heads/{branch}");
    let delivery = match remote {
        None => return compare_and_swap(mirror, &refname, commit, expected),
        Some(Remote::Local { repo, url }) => {
            refuse_checked_out(repo, &refname, branch)?;
            if let Some(pack) = pack {
                share_pack(pack, repo);
            }
            copy_objects(mirror, repo, commit).with_context(|| {
                format!("cannot copy the status commit into {}", redact_url(url))
            })?;
            compare_and_swap(repo, &refname, commit, expected)?
        }
        Some(Remote::Network(url)) => push(mirror, url, commit, branch, expected)?,
    };
    if let Delivery::Done = delivery {
        // The mirror's branch is a copy of the remote's, which now holds `commit`.
        mirror.reference(&refname, commit, true, "cubist status")?;
    }
    Ok(delivery)
}

/// Sets `refname` to `new` if it still holds `expected` (`None`: if it does not exist), as one
/// step under the ref's lock.
fn compare_and_swap(
    repo: &Repository,
    refname: &str,
    new: Oid,
    expected: Option<Oid>,
) -> Result<Delivery> {
    let old = expected.unwrap_or(Oid::ZERO_SHA1);
    match repo.reference_matching(refname, new, true, old, "cubist status") {
        Ok(_) => Ok(Delivery::Done),
        Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked) => {
            Ok(Delivery::Moved(e.message().to_string()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot update {refname}")),
    }
}

/// An error when `branch` is checked out in the working repository `repo` (its files would no
/// longer match it).
fn refuse_checked_out(repo: &Repository, refname: &str, branch: &str) -> Result<()> {
    if repo.is_bare() {
        return Ok(());
    }
    let head = repo.find_reference("HEAD").ok();
    if head.as_ref().and_then(|h| h.symbolic_target_bytes()) == Some(refname.as_bytes()) {
        anyhow::bail!(
            "the status branch `{branch}` is checked out in {}; check out another branch there",
            repo.workdir().unwrap_or(repo.path()).display()
        );
    }
    Ok(())
}

/// Puts the status pack `pack` (with its index) of the mirror into `to` as well, hard-linked
/// when both are on one file system, else copied: its objects are then there at once, and
/// [`copy_objects`] finds them present. A failure is logged, and `copy_objects` copies them
/// one by one instead.
fn share_pack(pack: &Path, to: &Repository) {
    let shared = || -> Result<()> {
        let dir = to.commondir().join("objects").join("pack");
        let idx = pack.with_extension("idx");
        for from in [pack, idx.as_path()] {
            let name = from.file_name().context("a pack file has a name")?;
            let dest = dir.join(name);
            if dest.exists() {
                continue;
            }
            // The index last: a pack is looked at only once its index is there.
            place(from, &crate::git_objects::temp_path(&dir, "share"), &dest)?;
        }
        std::fs::File::open(&dir)?.sync_all()?;
        to.odb()?.refresh()?;
        Ok(())
    };
    if let Err(e) = shared() {
        tracing::warn!(error = %format!("{e:#}"), pack = %pack.display(),
            "could not share the status pack; copying its objects one by one");
    }
}

/// Puts the file `from` at `dest` through the temporary path `tmp`: linked when both are on
/// one file system, else copied into a new file and synced; then renamed. Never writes
/// through a file already at `tmp` (it could be a link to another repository's pack).
fn place(from: &Path, tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::hard_link(from, tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("{} is in the way", tmp.display()));
        }
        Err(_) => {
            let copied = (|| -> std::io::Result<()> {
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(tmp)?;
                std::io::copy(&mut std::fs::File::open(from)?, &mut out)?;
                out.sync_all()
            })();
            if let Err(e) = copied {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e).with_context(|| format!("copying to {}", tmp.display()));
            }
        }
    }
    std::fs::rename(tmp, dest).with_context(|| format!("renaming {}", tmp.display()))
}

/// Pushes `commit` to `branch` of `url` without force, only if the remote advertises
/// `expected` for it (see the module doc).
fn push(
    mirror: &Repository,
    url: &str,
    commit: Oid,
    branch: &str,
    expected: Option<Oid>,
) -> Result<Delivery> {
    let tmp = format!("refs/cubist/push/{branch}");
    mirror.reference(&tmp, commit, true, "cubist status push")?;
    let mut remote = mirror.remote_anonymous(url)?;
    let moved = Rc::new(RefCell::new(None::<String>));
    let mut cb = callbacks();
    let (m1, m2) = (moved.clone(), moved.clone());
    let old = expected.unwrap_or(Oid::ZERO_SHA1);
    cb.push_negotiation(
        move |updates| match updates.iter().find(|u| u.src() != old) {
            Some(u) => {
                *m1.borrow_mut() = Some(format!("it is at {} there, not {old}", u.src()));
                Err(git2::Error::from_str("the status branch moved"))
            }
            None => Ok(()),
        },
    );
    cb.push_update_reference(move |_name, status| {
        if let Some(s) = status {
            *m2.borrow_mut() = Some(format!("the remote rejected it: {s}"));
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(cb);
    let result = remote.push(&[format!("{tmp}:refs/heads/{branch}")], Some(&mut opts));
    if let Ok(mut r) = mirror.find_reference(&tmp) {
        let _ = r.delete();
    }
    let moved = moved.borrow_mut().take();
    match (result, moved) {
        (_, Some(why)) => Ok(Delivery::Moved(why)),
        (Err(e), None) if e.code() == ErrorCode::NotFastForward => {
            Ok(Delivery::Moved(e.message().to_string()))
        }
        (Err(e), None) => {
            Err(e).with_context(|| format!("cannot push the status branch to {}", redact_url(url)))
        }
        (Ok(()), None) => Ok(Delivery::Done),
    }
}

/// The wait before retry `attempt` (1, 2, …): a random time up to 25 ms · 2^attempt, at most
/// 1.6 s, so writers that collided do not collide again in step.
pub(super) fn retry_delay(attempt: u32) -> Duration {
    let cap_ms = 25u64 << attempt.min(6);
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    Duration::from_millis(u64::from_le_bytes(bytes) % (cap_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::place;

    /// A file already at the temporary path (here a link to another file) is never written
    /// through: placing fails and the other file keeps its bytes. Otherwise the file is placed.
    #[test]
    fn a_pack_is_placed_without_writing_through_a_file_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("pack-1.pack");
        std::fs::write(&from, b"new pack").unwrap();
        let victim = dir.path().join("other.pack");
        std::fs::write(&victim, b"another repository's pack").unwrap();
        let tmp = dir.path().join("tmp_pack_x");
        std::fs::hard_link(&victim, &tmp).unwrap();
        let dest = dir.path().join("dest.pack");
        assert!(place(&from, &tmp, &dest).is_err());
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"another repository's pack"
        );
        assert!(!dest.exists());
        std::fs::remove_file(&tmp).unwrap();
        place(&from, &tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new pack");
        assert!(!tmp.exists());
    }
}
