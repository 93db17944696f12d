//! A pack and its index written straight into a repository's `objects/pack/`, the way git lays
//! them out (`pack-<checksum>.pack` beside `pack-<checksum>.idx`, index version 2). The caller
//! knows every object's id, so nothing is read back: libgit2's indexer, which re-reads,
//! re-inflates and re-hashes every object of the pack, cost more than building the status
//! documents (issue #21). Objects are stored without compression (zlib "stored" blocks).
//!
//! Both files are written under a `tmp_pack_` name (what `git gc` cleans up when left behind),
//! synced, and renamed: the index last, since git and libgit2 ignore a pack without one. The
//! directory is synced after, so the objects are on disk before the caller points a reference
//! at them.

use super::pack_sums::{adler32, crc32_update};
use anyhow::{Context, Result};
use git2::{ObjectType, Oid};
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One object to pack: its id (computed by the caller), type and content.
pub(crate) type Object = (Oid, ObjectType, Arc<[u8]>);

/// Writes `objects` as one pack and its index into `pack_dir` (a repository's
/// `objects/pack`); returns the pack's path.
pub(crate) fn write<'o>(pack_dir: &Path, objects: &'o [Object]) -> Result<PathBuf> {
    let tmp = Temp::new(pack_dir, "pack");
    let file = File::create(&tmp.0).with_context(|| format!("creating {}", tmp.0.display()))?;
    let mut pack = PackStream::new(BufWriter::with_capacity(1 << 16, file), objects.len())?;
    let mut entries = Vec::with_capacity(objects.len());
    // Entries are put together (with their CRC-32) a run at a time, while the run before is
    // hashed into the pack's SHA-1 and written, on another core when one is free: the SHA-1
    // cannot be split, and it ran on one core after the entries were all made.
    type Made<'o> = (&'o [Object], Vec<(Vec<u8>, u32)>);
    let make = |run: Option<&'o [Object]>| -> Result<Option<Made<'o>>> {
        run.map(|run| {
            let made =
                crate::par::map_in_runs(run, 256, |(_, kind, data)| entry_bytes(*kind, data));
            Ok((run, made.into_iter().collect::<Result<_>>()?))
        })
        .transpose()
    };
    let mut runs = objects.chunks(PIPELINE_RUN);
    let mut ready = make(runs.next())?;
    while let Some((run, made)) = ready.take() {
        let next = runs.next();
        let (built, put) = crate::par::join(
            || make(next),
            || -> Result<()> {
                for ((id, _, _), (bytes, crc)) in run.iter().zip(made) {
                    let offset = pack.put(&bytes)?;
                    entries.push(Entry {
                        id: *id,
                        offset,
                        crc,
                    });
                }
                Ok(())
            },
        );
        put?;
        ready = built?;
    }
    let (file, checksum) = pack.finish_file()?;
    file.sync_data()?;
    let name = hex::encode(checksum);
    let pack_path = pack_dir.join(format!("pack-{name}.pack"));
    tmp.rename_to(&pack_path)?;
    let idx = index(entries, &checksum);
    let tmp = Temp::new(pack_dir, "idx");
    let mut file = File::create(&tmp.0).with_context(|| format!("creating {}", tmp.0.display()))?;
    file.write_all(&idx)?;
    file.sync_data()?;
    tmp.rename_to(&pack_dir.join(format!("pack-{name}.idx")))?;
    // The renames are durable once the directory is: then a reference may point at the objects.
    File::open(pack_dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", pack_dir.display()))?;
    Ok(pack_path)
}

/// Objects per run of [`write`]'s pipeline: about a megabyte of status each, so the first run,
/// made before anything can be written, is a small part of the whole.
const PIPELINE_RUN: usize = 1024;

/// Where one object lies in the pack.
struct Entry {
    id: Oid,
    offset: u64,
    /// CRC-32 of the object's bytes in the pack (header and zlib stream).
    crc: u32,
}

/// The index (version 2) of a pack with these entries and this checksum.
fn index(mut entries: Vec<Entry>, checksum: &[u8]) -> Vec<u8> {
    entries.sort_unstable_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
    let mut out = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in &entries {
        fanout[usize::from(e.id.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for e in &entries {
        out.extend_from_slice(e.id.as_bytes());
    }
    for e in &entries {
        out.extend_from_slice(&e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in &entries {
        let small = match u32::try_from(e.offset) {
            Ok(o) if o < 0x8000_0000 => o,
            _ => {
                large.push(e.offset);
                0x8000_0000 | (large.len() as u32 - 1)
            }
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(checksum);
    let own = sha1(&out);
    out.extend_from_slice(&own);
    out
}

/// A pack (version 2) written to `out` while its SHA-1 trailer is computed. Each object's bytes
/// are put together first, with their CRC-32 ([`entry_bytes`]), then hashed and written at once.
pub(crate) struct PackStream<W: Write> {
    out: W,
    sha1: Sha1,
    written: u64,
}

impl<W: Write> PackStream<W> {
    /// Starts a pack that will hold `count` objects.
    pub(crate) fn new(out: W, count: usize) -> Result<Self> {
        let mut p = PackStream {
            out,
            sha1: Sha1::new(),
            written: 0,
        };
        let count = u32::try_from(count).context("too many objects for one pack")?;
        let mut header = b"PACK".to_vec();
        header.extend_from_slice(&2u32.to_be_bytes());
        header.extend_from_slice(&count.to_be_bytes());
        p.put(&header)?;
        Ok(p)
    }

    /// Hashes and writes `bytes` (the pack's header, or an entry made by [`entry_bytes`]);
    /// returns where they start.
    fn put(&mut self, bytes: &[u8]) -> Result<u64> {
        let offset = self.written;
        self.sha1.update(bytes);
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(offset)
    }

    /// One object: its type and size, then its content as a zlib stream of stored blocks.
    /// Returns where it starts in the pack and the CRC-32 of its bytes there.
    pub(crate) fn object(&mut self, kind: ObjectType, data: &[u8]) -> Result<(u64, u32)> {
        let (bytes, crc) = entry_bytes(kind, data)?;
        Ok((self.put(&bytes)?, crc))
    }

    /// The trailer: the SHA-1 of everything before it, which it returns with the output.
    pub(crate) fn finish(mut self) -> Result<(W, [u8; 20])> {
        let checksum: [u8; 20] = self.sha1.finalize().into();
        self.out.write_all(&checksum)?;
        self.out.flush()?;
        Ok((self.out, checksum))
    }
}

/// An object's bytes in a pack (its type and size, then its content as a zlib stream of
/// stored blocks) and their CRC-32.
fn entry_bytes(kind: ObjectType, data: &[u8]) -> Result<(Vec<u8>, u32)> {
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
    let mut e = Vec::with_capacity(header.len() + zlib_stored_len(data.len()));
    e.extend_from_slice(&header);
    zlib_stored(data, &mut e);
    let crc = crc32_update(0, &e);
    Ok((e, crc))
}

/// The length of [`zlib_stored`]'s stream of `len` bytes.
pub(crate) fn zlib_stored_len(len: usize) -> usize {
    2 + 5 * (len / 0xffff + 1) + len + 4
}

/// Appends `data` as a zlib stream of stored (uncompressed) blocks.
pub(crate) fn zlib_stored(data: &[u8], e: &mut Vec<u8>) {
    // zlib header: deflate, 32 KiB window, no dictionary, check bits.
    e.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        e.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        e.push(last);
        e.extend_from_slice(&len.to_le_bytes());
        e.extend_from_slice(&(!len).to_le_bytes());
        e.extend_from_slice(block);
    }
    e.extend_from_slice(&adler32(data).to_be_bytes());
}

impl PackStream<BufWriter<File>> {
    /// [`Self::finish`], returning the file.
    fn finish_file(self) -> Result<(File, [u8; 20])> {
        let (out, sum) = self.finish()?;
        Ok((out.into_inner().map_err(|e| e.into_error())?, sum))
    }
}

/// A temporary file in the pack directory, removed unless renamed.
struct Temp(PathBuf);

/// A path in `dir` for a temporary pack file, unique in this process and named as git's own
/// (`tmp_pack_*`, which `git gc` cleans up when left behind).
pub(crate) fn temp_path(dir: &Path, ext: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("tmp_pack_cubist_{}_{n}.{ext}", std::process::id()))
}

impl Temp {
    fn new(dir: &Path, ext: &str) -> Self {
        Temp(temp_path(dir, ext))
    }

    fn rename_to(self, to: &Path) -> Result<()> {
        std::fs::rename(&self.0, to)
            .with_context(|| format!("renaming {} to {}", self.0.display(), to.display()))?;
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects of every size class: empty, small, several zlib blocks; more than one run of
    /// entries put together on several threads.
    fn objects() -> Vec<Object> {
        (0..5000u32)
            .map(|i| {
                let data: Vec<u8> = match i {
                    0 => Vec::new(),
                    _ if i % 500 == 3 => (0..150_000u32).map(|j| (j * 7 + i) as u8).collect(),
                    _ => format!("object {i}\n").into_bytes(),
                };
                let id = Oid::hash_object(ObjectType::Blob, &data).unwrap();
                (id, ObjectType::Blob, data.into())
            })
            .collect()
    }

    /// The index written here is byte for byte the one libgit2's indexer makes of the same
    /// pack, and libgit2 reads every object back from it.
    #[test]
    fn the_index_is_the_one_libgit2_makes_of_the_same_pack() {
        let objects = objects();
        let ours = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init_bare(ours.path()).unwrap();
        let dir = ours.path().join("objects/pack");
        let pack = write(&dir, &objects).unwrap();
        let odb = repo.odb().unwrap();
        odb.refresh().unwrap();
        for (id, _, data) in &objects {
            assert_eq!(odb.read(*id).unwrap().data(), &data[..]);
        }
        let theirs = tempfile::tempdir().unwrap();
        let other = git2::Repository::init_bare(theirs.path()).unwrap();
        let other_odb = other.odb().unwrap();
        let mut writer = other_odb.packwriter().unwrap();
        let mut stream = PackStream::new(&mut writer, objects.len()).unwrap();
        for (_, kind, data) in &objects {
            stream.object(*kind, data).unwrap();
        }
        stream.finish().unwrap();
        writer.commit().unwrap();
        let name = pack.file_name().unwrap();
        let their_pack = theirs.path().join("objects/pack").join(name);
        assert_eq!(
            std::fs::read(&pack).unwrap(),
            std::fs::read(&their_pack).unwrap()
        );
        let idx = pack.with_extension("idx");
        assert_eq!(
            std::fs::read(&idx).unwrap(),
            std::fs::read(their_pack.with_extension("idx")).unwrap()
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("tmp_"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn offsets_past_two_gib_go_to_the_large_offset_table() {
        let id = |b: u8| Oid::from_bytes(&[b; 20]).unwrap();
        let entries = vec![
            Entry {
                id: id(2),
                offset: 12,
                crc: 1,
            },
            Entry {
                id: id(1),
                offset: 0x1_2345_6789,
                crc: 2,
            },
        ];
        let idx = index(entries, &[9; 20]);
        let n = 2;
        let at = 8 + 1024 + n * 20 + n * 4;
        let word = |i: usize| u32::from_be_bytes(idx[i..i + 4].try_into().unwrap());
        assert_eq!(
            word(at),
            0x8000_0000,
            "id 1 sorts first and takes large slot 0"
        );
        assert_eq!(word(at + 4), 12);
        let large = u64::from_be_bytes(idx[at + 8..at + 16].try_into().unwrap());
        assert_eq!(large, 0x1_2345_6789);
        assert_eq!(idx.len(), at + 16 + 40);
    }

    #[test]
    fn a_pack_that_cannot_be_written_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir");
        assert!(write(&missing, &objects()).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
