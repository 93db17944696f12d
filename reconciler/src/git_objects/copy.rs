//! Copies objects between two repositories on this machine, in-process: what one lacks of
//! what a commit reaches in the other, each object after those it points to.

use super::NewObjects;
use anyhow::Result;
use git2::{ObjectType, Oid, Repository};
use std::collections::HashSet;

/// Copies `tip` and all it reaches that `to` lacks from `from` into `to`, each object after
/// the ones it points to (or all in one pack, see [`NewObjects`]): an object present in `to`
/// always has all it reaches, as git keeps it.
pub(crate) fn copy_objects(from: &Repository, to: &Repository, tip: Oid) -> Result<()> {
    let (src, dst) = (from.odb()?, to.odb()?);
    // Looked at once: an object missing then is copied (a second copy of one another writer
    // added since is harmless). Without this each miss re-reads the pack directory.
    dst.refresh()?;
    let present = |id: Oid| dst.exists_ext(id, git2::OdbLookupFlags::NO_REFRESH);
    let mut seen = HashSet::new();
    let mut new = NewObjects::default();
    // (id, whether what it points to is copied already)
    let mut stack = vec![(tip, false)];
    while let Some((id, ready)) = stack.pop() {
        if ready {
            let object = src.read(id)?;
            new.add(id, object.kind(), object.data().into());
            continue;
        }
        if !seen.insert(id) || present(id) {
            continue;
        }
        stack.push((id, true));
        match src.read_header(id)?.1 {
            ObjectType::Commit => {
                let commit = from.find_commit(id)?;
                stack.push((commit.tree_id(), false));
                stack.extend(commit.parent_ids().map(|p| (p, false)));
            }
            ObjectType::Tree => {
                let tree = from.find_tree(id)?;
                let entries = tree.iter().filter(|e| e.kind() != Some(ObjectType::Commit));
                stack.extend(entries.map(|e| (e.id(), false)));
            }
            ObjectType::Tag => stack.push((from.find_tag(id)?.target_id(), false)),
            _ => {}
        }
    }
    new.write(to)?;
    Ok(())
}
