//! The YAML file of a status document, reusing the previous commit's file where it can: the
//! same document keeps its file; an object status that differs only in its revision, and a
//! unit inventory that differs only in some hashes, take the previous file with those lines
//! replaced. A template change re-renders every project, so every object's status names a new
//! revision, most with nothing else new, and a few objects of every unit change their hash.
//! A replacement is made only where it gives, byte for byte, what serialising gives.

use super::status_branch::StatusFile;
use cubist_status_ui::doc::{Inventory, InventoryEntry, ObjectStatus};
use cubist_status_ui::yaml_emit::writes_plain;

/// The YAML file of a status document: the file of `last` when its document is this one (not
/// serialised or hashed again), a new one otherwise.
pub(super) fn yaml_file<T: serde::Serialize + PartialEq>(
    doc: &T,
    last: Option<(&T, &StatusFile)>,
) -> StatusFile {
    match last {
        Some((old, file)) if old == doc => file.clone(),
        _ => StatusFile::new(
            cubist_status_ui::yaml::to_yaml(doc)
                .expect("status documents serialise")
                .into_bytes(),
        ),
    }
}

/// The YAML file of an object's status, as [`yaml_file`]; when the previous status differs
/// only in its revision and both revisions are plain YAML scalars, the previous file with its
/// `revision:` line replaced: the bytes the serialiser writes, without serialising.
pub(super) fn object_status_file(
    status: &ObjectStatus,
    last: Option<(&ObjectStatus, &StatusFile)>,
) -> StatusFile {
    if let Some((old, file)) = last
        && old.revision != status.revision
        && same_but_revision(old, status)
        && let Some(bytes) =
            (file.bytes.as_deref()).and_then(|b| swap_revision(b, &old.revision, &status.revision))
    {
        return StatusFile::new(bytes);
    }
    yaml_file(status, last)
}

/// The YAML file of a unit's inventory, as [`yaml_file`]; when the previous inventory lists the
/// same objects and differs only in some of their hashes, the previous file with those `hash:`
/// lines replaced (a template change changes a few objects of every project).
pub(super) fn inventory_file(
    inventory: &Inventory,
    last: Option<(&Inventory, &StatusFile)>,
) -> StatusFile {
    if let Some((old, file)) = last
        && old != inventory
        && old.objects.len() == inventory.objects.len()
        && old
            .objects
            .iter()
            .zip(&inventory.objects)
            .all(same_but_hash)
        && let Some(bytes) =
            (file.bytes.as_deref()).and_then(|b| swap_hashes(b, &old.objects, &inventory.objects))
    {
        return StatusFile::new(bytes);
    }
    yaml_file(inventory, last)
}

/// True when two inventory entries differ at most in their hash.
fn same_but_hash((a, b): (&InventoryEntry, &InventoryEntry)) -> bool {
    let InventoryEntry {
        api_version,
        kind,
        namespace,
        name,
        project,
        hash: _,
        source,
    } = a;
    *api_version == b.api_version
        && *kind == b.kind
        && *namespace == b.namespace
        && *name == b.name
        && *project == b.project
        && *source == b.source
}

/// `yaml` (an inventory as the serialiser writes it: a `hash:` line of its own, indented two
/// spaces, per entry, in order) with each entry's hash of `old` replaced by that of `new`;
/// `None` when the lines are not exactly those, or a new hash is not written plain.
fn swap_hashes(yaml: &[u8], old: &[InventoryEntry], new: &[InventoryEntry]) -> Option<Vec<u8>> {
    swap_values(yaml, "\n  hash: ", &hashes(old), &hashes(new))
}

/// The hashes of `entries`, in order.
fn hashes(entries: &[InventoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.hash.as_str()).collect()
}

/// `yaml` with the value of each line that begins with `key` (after a newline) replaced, in
/// order: the values must be `old` exactly, one line each, and each value of `new` that
/// differs must be one the serialiser writes plain; `None` otherwise.
fn swap_values(yaml: &[u8], key: &str, old: &[&str], new: &[&str]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(yaml).ok()?;
    if old.len() != new.len() || text.matches(key).count() != old.len() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    for (o, n) in old.iter().zip(new) {
        let at = rest.find(key)? + key.len();
        let end = at + rest[at..].find('\n')?;
        if rest[at..end] != **o || (o != n && !writes_plain(n)) {
            return None;
        }
        out.push_str(&rest[..at]);
        out.push_str(n);
        rest = &rest[end..];
    }
    out.push_str(rest);
    Some(out.into_bytes())
}

/// True when `a` and `b` differ at most in their revision.
fn same_but_revision(a: &ObjectStatus, b: &ObjectStatus) -> bool {
    let ObjectStatus {
        api_version,
        kind,
        namespace,
        name,
        state,
        hash,
        revision: _,
        message,
        health,
        source,
    } = a;
    *api_version == b.api_version
        && *kind == b.kind
        && *namespace == b.namespace
        && *name == b.name
        && *state == b.state
        && *hash == b.hash
        && *message == b.message
        && *health == b.health
        && *source == b.source
}

/// `yaml` (a top-level mapping whose `revision` is `old`, written plain on a line of its own)
/// with `new` in its place; `None` when that line is not there exactly once, or when `new` is
/// not a revision written plain (a revision of digits alone reads as a number and is quoted).
fn swap_revision(yaml: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    if !new.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    swap_values(yaml, "\nrevision: ", &[old], &[new])
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::doc::{Health, ObjectHealth, SyncState};

    fn status(revision: &str, message: &str) -> ObjectStatus {
        ObjectStatus {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "CronWorkflow".into(),
            namespace: "recsys".into(),
            name: "daily-ranker".into(),
            state: SyncState::Synced,
            hash: "sha256:0f3a".into(),
            revision: revision.into(),
            message: message.into(),
            health: Some(ObjectHealth {
                status: Health::Healthy,
                message: "revision: 1111\nrevision: 2222".into(),
            }),
            source: "projects/recsys/pipelines/daily-ranker.yaml".into(),
        }
    }

    fn serialised(s: &ObjectStatus) -> StatusFile {
        yaml_file(s, None)
    }

    /// Whatever the path taken, the file is the one serialising the status gives.
    #[test]
    fn a_new_revision_gives_the_serialisers_bytes() {
        let old = status("4f0c1a", "");
        let file = serialised(&old);
        let revisions = [
            "9b2e77d0c4a1f3e5b6a7c8d9e0f1a2b3c4d5e6f7",
            "1234567890123456789012345678901234567890", // a number: quoted
            "1e10",                                     // a float: quoted
            "abc",
            "4f0c1a",
        ];
        for rev in revisions {
            let new = status(rev, "");
            let got = object_status_file(&new, Some((&old, &file)));
            assert_eq!(got, serialised(&new), "revision {rev}");
        }
        // Anything else changed too: serialised whole.
        let other = status("9b2e77", "held at last good revision");
        assert_eq!(
            object_status_file(&other, Some((&old, &file))),
            serialised(&other)
        );
        // A previous file that is not the serialiser's (its line is elsewhere): serialised.
        let odd = StatusFile::new(b"revision: 4f0c1a\n".to_vec());
        let new = status("9b2e77", "");
        assert_eq!(
            object_status_file(&new, Some((&old, &odd))),
            serialised(&new)
        );
    }

    fn entry(name: &str, hash: &str) -> InventoryEntry {
        InventoryEntry {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "WorkflowTemplate".into(),
            namespace: "recsys".into(),
            name: name.into(),
            project: Some("recsys".into()),
            hash: hash.into(),
            source: "projects/recsys/pipelines/a.yaml\n  hash: x".into(),
        }
    }

    /// Whatever the path taken, an inventory's file is the one serialising it gives.
    #[test]
    fn a_changed_hash_gives_the_serialisers_bytes() {
        let old = Inventory {
            objects: vec![
                entry("a", "sha256:01"),
                entry("b", "sha256:02"),
                entry("c", "sha256:03"),
            ],
        };
        let file = yaml_file(&old, None);
        let mut changed = old.clone();
        changed.objects[1].hash = "sha256:ff".into();
        changed.objects[2].hash = "sha256:ee".into();
        let mut numeric = old.clone();
        numeric.objects[0].hash = "12345".into();
        let mut renamed = old.clone();
        renamed.objects[0].name = "z".into();
        let mut fewer = old.clone();
        fewer.objects.pop();
        for new in [&changed, &numeric, &renamed, &fewer, &old] {
            assert_eq!(
                inventory_file(new, Some((&old, &file))),
                yaml_file(new, None)
            );
        }
        assert!(
            swap_hashes(
                file.bytes.as_deref().unwrap(),
                &old.objects,
                &changed.objects
            )
            .is_some()
        );
        assert_eq!(
            swap_hashes(
                file.bytes.as_deref().unwrap(),
                &old.objects,
                &numeric.objects
            ),
            None
        );
    }

    #[test]
    fn the_revision_line_is_swapped_only_when_plain_and_once() {
        let yaml = b"kind: X\nrevision: aa\nmessage: ''\n";
        assert_eq!(
            swap_revision(yaml, "aa", "bbcc").as_deref(),
            Some(&b"kind: X\nrevision: bbcc\nmessage: ''\n"[..])
        );
        assert_eq!(swap_revision(yaml, "aa", "123"), None, "digits are quoted");
        assert_eq!(swap_revision(yaml, "aa", "no!"), None, "not a revision");
        let twice = b"kind: X\nrevision: aa\nrevision: aa\n";
        assert_eq!(swap_revision(twice, "aa", "bb"), None);
    }
}
