//! Writes the new objects of a status commit in one go: as one pack (and its index) when there
//! are many, as loose objects when there are few. Creating a file per object cost more than
//! everything else a status commit does (10,000 changed object statuses: 10,000 files); a pack
//! is two files. Either way every object is in the object database before the caller writes
//! anything that points to it, as with loose objects.
//!
//! The pack and its index are written directly ([`super::pack_file`]): the ids are known, so
//! there is nothing to index. Should that fail, or libgit2 not find the objects after, the same
//! objects are written through libgit2's pack writer, which indexes the pack itself (slower),
//! and a warning says why.

use super::pack_file::{self, Object, PackStream};
use anyhow::{Context, Result};
use git2::{ObjectType, Odb, Oid, Repository};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// From this many objects on, a pack is written instead of loose objects.
const PACK_FROM: usize = 64;

/// Objects to write, each once.
#[derive(Default)]
pub(crate) struct NewObjects {
    objects: Vec<Object>,
    seen: HashSet<Oid>,
}

impl NewObjects {
    /// Adds an object of `kind` whose id is `id` (computed by the caller).
    pub(crate) fn add(&mut self, id: Oid, kind: ObjectType, data: Arc<[u8]>) {
        if self.seen.insert(id) {
            self.objects.push((id, kind, data));
        }
    }

    /// Writes every object into `repo`: one pack from [`PACK_FROM`] objects on, else loose.
    /// Returns the pack's path when it was written directly (see [`super::pack_file`]).
    pub(crate) fn write(self, repo: &Repository) -> Result<Option<PathBuf>> {
        let odb = repo.odb()?;
        if self.objects.len() < PACK_FROM {
            let objects = repo.commondir().join("objects");
            for (id, kind, data) in &self.objects {
                if let Err(e) = super::loose::write(&objects, *id, *kind, data) {
                    tracing::warn!(error = %format!("{e:#}"), "writing a loose object directly failed; writing it through libgit2");
                    anyhow::ensure!(
                        odb.write(*kind, data)? == *id,
                        "libgit2 gave {id} another id"
                    );
                }
            }
            return Ok(None);
        }
        let dir = repo.commondir().join("objects").join("pack");
        self.write_pack(&odb, &dir)
    }

    /// One pack written directly into `dir` (its path returned), or through libgit2's indexer
    /// when that fails; an error unless libgit2 then finds the objects.
    fn write_pack(&self, odb: &Odb, dir: &Path) -> Result<Option<PathBuf>> {
        let why = match pack_file::write(dir, &self.objects) {
            Ok(pack) => {
                odb.refresh()?;
                if self.found(odb) {
                    return Ok(Some(pack));
                }
                format!("libgit2 does not find the objects of {}", pack.display())
            }
            Err(e) => format!("{e:#}"),
        };
        tracing::warn!(
            reason = %why,
            "writing the status pack directly failed; writing it through libgit2's indexer"
        );
        self.write_indexed(odb)?;
        odb.refresh()?;
        anyhow::ensure!(
            self.found(odb),
            "the status pack was written, but its objects cannot be read back from the \
             repository; check that its objects/pack directory is writable"
        );
        Ok(None)
    }

    /// Whether `odb` has the first and last objects (each pack is made visible as a whole).
    fn found(&self, odb: &Odb) -> bool {
        let ends = [self.objects.first(), self.objects.last()];
        ends.into_iter().flatten().all(|(id, _, _)| odb.exists(*id))
    }

    /// The fallback: one pack through libgit2's pack writer, which indexes it.
    fn write_indexed(&self, odb: &Odb) -> Result<()> {
        let mut writer = odb.packwriter()?;
        let mut pack = PackStream::new(&mut writer, self.objects.len())?;
        for (_, kind, data) in &self.objects {
            pack.object(*kind, data)?;
        }
        pack.finish()?;
        writer.commit().context("indexing the status pack")?;
        Ok(())
    }
}

/// The git id of an object of `kind` holding `data`: the SHA-1 of `<kind> <length>\0` and the
/// data, as git and libgit2 compute it. Hashed with RustCrypto's SHA-1 (SHA-NI where the CPU has
/// it) rather than libgit2's collision-detecting one, which took a fifth of a status commit's
/// time (17,000 files). Collision detection guards against crafted binary blocks: status files
/// are YAML cubist serialised and trees list ids, where no such block can be planted.
pub(crate) fn object_id(kind: ObjectType, data: &[u8]) -> Oid {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(format!("{} {}\0", kind.str(), data.len()));
    h.update(data);
    let digest: [u8; 20] = h.finalize().into();
    Oid::from_bytes(&digest).expect("20 bytes make an object id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_the_ones_git_computes() {
        let long = "x: y\n".repeat(10_000);
        for data in [
            &b""[..],
            b"a",
            b"status: ok\n",
            &[0, 255, 10, 0],
            long.as_bytes(),
        ] {
            for kind in [ObjectType::Blob, ObjectType::Tree] {
                let git = Oid::hash_object(kind, data).unwrap();
                assert_eq!(object_id(kind, data), git, "{kind} of {} bytes", data.len());
            }
        }
    }

    /// `count` blobs of every size class, and a tree naming one, added to `new`.
    fn fill(new: &mut NewObjects, count: usize) -> (Vec<(Oid, Vec<u8>)>, Oid) {
        let mut expect = Vec::new();
        for i in 0..count {
            let data: Vec<u8> = match i {
                0 => Vec::new(),
                _ if i % 2 == 1 => format!("object {i}\n").into_bytes(),
                _ => (0..150_000u32).map(|j| (j * 7 + i as u32) as u8).collect(),
            };
            let id = Oid::hash_object(ObjectType::Blob, &data).unwrap();
            new.add(id, ObjectType::Blob, data.clone().into());
            expect.push((id, data));
        }
        let mut entry = b"100644 first\0".to_vec();
        entry.extend_from_slice(expect[1].0.as_bytes());
        let tree = object_id(ObjectType::Tree, &entry);
        new.add(tree, ObjectType::Tree, entry.clone().into());
        new.add(tree, ObjectType::Tree, entry.into());
        assert_eq!(new.objects.len(), count + 1, "the same tree is added once");
        (expect, tree)
    }

    /// The loose objects under `objects` (files in its two-hex-digit directories).
    fn walkdir_count(objects: &std::path::Path) -> usize {
        std::fs::read_dir(objects)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().len() == 2 && p.is_dir())
            .map(|d| std::fs::read_dir(d).unwrap().count())
            .sum()
    }

    fn packs(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("objects/pack"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("pack".as_ref()))
            .count()
    }

    /// Objects read back with the ids git gives them, packed and loose.
    #[test]
    fn packed_and_loose_objects_read_back() {
        for count in [3, PACK_FROM + 10] {
            let dir = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init_bare(dir.path()).unwrap();
            let mut new = NewObjects::default();
            let (expect, tree) = fill(&mut new, count);
            new.write(&repo).unwrap();
            assert_eq!(
                packs(dir.path()),
                usize::from(count >= PACK_FROM),
                "{count} objects"
            );
            let odb = repo.odb().unwrap();
            for (id, data) in &expect {
                assert_eq!(odb.read(*id).unwrap().data(), &data[..], "{count} objects");
            }
            let tree = repo.find_tree(tree).unwrap();
            assert_eq!(tree.get_name("first").unwrap().id(), expect[1].0);
            // Git itself finds every object whole, with its id.
            let fsck = std::process::Command::new("git")
                .args(["fsck", "--strict", "--full", "--no-dangling"])
                .current_dir(dir.path())
                .output()
                .expect("git runs");
            assert!(fsck.status.success(), "{fsck:?}");
            let loose = walkdir_count(&dir.path().join("objects"));
            assert_eq!(
                loose,
                if count < PACK_FROM { count + 1 } else { 0 },
                "{count} objects"
            );
        }
    }

    /// When the pack cannot be written directly (here its directory is missing), libgit2's
    /// pack writer stores the same objects; when that does not store them either (its
    /// directory is a file), the write is an error, not a silent loss.
    #[test]
    fn the_fallback_writes_the_same_objects_or_fails() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path()).unwrap();
        let mut new = NewObjects::default();
        let (expect, _) = fill(&mut new, PACK_FROM + 1);
        let odb = repo.odb().unwrap();
        new.write_pack(&odb, &dir.path().join("missing")).unwrap();
        assert_eq!(packs(dir.path()), 1, "libgit2's pack");
        for (id, data) in &expect {
            assert_eq!(odb.read(*id).unwrap().data(), &data[..]);
        }

        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(dir.path()).unwrap();
        let pack_dir = dir.path().join("objects/pack");
        std::fs::remove_dir_all(&pack_dir).unwrap();
        std::fs::write(&pack_dir, b"not a directory").unwrap();
        let err = new.write(&repo).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot be read back"),
            "{err:#}"
        );
    }
}
