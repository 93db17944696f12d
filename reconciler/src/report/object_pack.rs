//! Writes the new objects of a status commit in one go: as one pack (and its index, made by
//! libgit2's indexer) when there are many, as loose objects when there are few. Creating a
//! file per object cost more than everything else a status commit does (10,000 changed object
//! statuses: 10,000 files); a pack is two files. The objects are stored without compression
//! (zlib "stored" blocks): what is written is read back by the indexer at once, and compressing
//! would cost more than the bytes it saves (a loose object takes a whole disk block anyway).
//! Either way every object is in the object database before the caller writes anything that
//! points to it, as with loose objects.

use anyhow::{Context, Result};
use git2::{ObjectType, Odb, Oid};
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

/// From this many objects on, a pack is written instead of loose objects.
const PACK_FROM: usize = 64;

/// Objects to write, each once.
#[derive(Default)]
pub(crate) struct NewObjects {
    objects: Vec<(ObjectType, Arc<[u8]>)>,
    seen: HashSet<Oid>,
}

impl NewObjects {
    /// Adds an object of `kind` whose id is `id` (computed by the caller).
    pub(crate) fn add(&mut self, id: Oid, kind: ObjectType, data: Arc<[u8]>) {
        if self.seen.insert(id) {
            self.objects.push((kind, data));
        }
    }

    /// Adds a tree of these bytes; returns its id.
    pub(crate) fn add_tree(&mut self, data: Vec<u8>) -> Result<Oid> {
        let id = Oid::hash_object(ObjectType::Tree, &data)?;
        self.add(id, ObjectType::Tree, data.into());
        Ok(id)
    }

    /// Writes every object into `odb`: one pack from [`PACK_FROM`] objects on, else loose.
    pub(crate) fn write(self, odb: &Odb) -> Result<()> {
        if self.objects.len() < PACK_FROM {
            for (kind, data) in &self.objects {
                odb.write(*kind, data)?;
            }
            return Ok(());
        }
        let mut writer = odb.packwriter()?;
        let mut pack = PackStream::new(&mut writer, self.objects.len())?;
        for (kind, data) in &self.objects {
            pack.object(*kind, data)?;
        }
        pack.finish()?;
        writer.commit().context("indexing the status pack")?;
        Ok(())
    }
}

/// A pack (version 2) written to `out` while its SHA-1 trailer is computed.
struct PackStream<W: Write> {
    out: W,
    sha1: ring::digest::Context,
}

impl<W: Write> PackStream<W> {
    fn new(out: W, count: usize) -> Result<Self> {
        let mut p = PackStream {
            out,
            sha1: ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        };
        let count = u32::try_from(count).context("too many objects for one pack")?;
        p.put(b"PACK")?;
        p.put(&2u32.to_be_bytes())?;
        p.put(&count.to_be_bytes())?;
        Ok(p)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.sha1.update(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }

    /// One object: its type and size, then its content as a zlib stream of stored blocks.
    fn object(&mut self, kind: ObjectType, data: &[u8]) -> Result<()> {
        let code: u8 = match kind {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            other => anyhow::bail!("cannot pack a {other}"),
        };
        let mut size = data.len();
        let mut header = vec![(code << 4) | (size & 0x0f) as u8];
        size >>= 4;
        while size > 0 {
            *header.last_mut().expect("one byte at least") |= 0x80;
            header.push((size & 0x7f) as u8);
            size >>= 7;
        }
        self.put(&header)?;
        // zlib header: deflate, 32 KiB window, no dictionary, check bits.
        self.put(&[0x78, 0x01])?;
        let mut blocks = data.chunks(0xffff).peekable();
        if blocks.peek().is_none() {
            self.put(&[1, 0, 0, 0xff, 0xff])?;
        }
        while let Some(block) = blocks.next() {
            let last = u8::from(blocks.peek().is_none());
            let len = block.len() as u16;
            self.put(&[last])?;
            self.put(&len.to_le_bytes())?;
            self.put(&(!len).to_le_bytes())?;
            self.put(block)?;
        }
        self.put(&adler32(data).to_be_bytes())
    }

    /// The trailer: the SHA-1 of everything before it.
    fn finish(mut self) -> Result<()> {
        let sum = self.sha1.finish();
        self.out.write_all(sum.as_ref())?;
        self.out.flush()?;
        Ok(())
    }
}

/// zlib's checksum of `data`.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before `b` could overflow.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_zlib() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xffu8; 100_000];
        // a = 1 + 255·n, b = Σ a_i, both mod 65521 (computed without the chunking).
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    /// Objects of every size class (empty, one block, several blocks), packed and loose, read
    /// back with the ids git gives them.
    #[test]
    fn packed_and_loose_objects_read_back() {
        for count in [3, PACK_FROM + 10] {
            let dir = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init_bare(dir.path()).unwrap();
            let mut new = NewObjects::default();
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
            let tree = new.add_tree(entry.clone()).unwrap();
            assert_eq!(new.add_tree(entry).unwrap(), tree);
            assert_eq!(new.objects.len(), count + 1, "the same tree is added once");
            new.write(&repo.odb().unwrap()).unwrap();
            let packs = std::fs::read_dir(dir.path().join("objects/pack"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("pack".as_ref()))
                .count();
            assert_eq!(packs, usize::from(count >= PACK_FROM), "{count} objects");
            let odb = repo.odb().unwrap();
            for (id, data) in &expect {
                assert_eq!(odb.read(*id).unwrap().data(), &data[..], "{count} objects");
            }
            let tree = repo.find_tree(tree).unwrap();
            assert_eq!(tree.get_name("first").unwrap().id(), expect[1].0);
        }
    }
}
