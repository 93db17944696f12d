//! Which clusters a replica keeps, gives up and tries to claim: a fair share of
//! `ceil(clusters / live replicas)` each. A replica above its share gives up only the excess;
//! one below it claims free clusters only; so a change of replicas moves only the clusters it
//! must. Among candidates, each replica prefers the clusters that score highest for it
//! (rendezvous hashing), so replicas rarely race for the same one.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// `ceil(clusters / replicas)` (every cluster when there is no replica to share with).
pub fn fair_share(clusters: usize, replicas: usize) -> usize {
    clusters.div_ceil(replicas.max(1))
}

/// What a replica should do with the cluster leases.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Held clusters to give up (no longer configured, or above the share).
    pub release: Vec<String>,
    /// Free clusters to try, best first.
    pub claim: Vec<String>,
    /// How many of `claim` to take.
    pub wanted: usize,
}

/// The moves of `identity`, holding `held`, among `clusters`, of which `taken` are held by
/// other live replicas, with `replicas` live replicas (itself included).
pub fn moves(
    identity: &str,
    clusters: &BTreeSet<String>,
    held: &BTreeSet<String>,
    taken: &BTreeSet<String>,
    replicas: usize,
) -> Moves {
    let share = fair_share(clusters.len(), replicas);
    let mut release: Vec<String> = held.difference(clusters).cloned().collect();
    let mut kept: Vec<&String> = held.intersection(clusters).collect();
    // Keep the ones that score highest here: the same cluster returns to the same replica.
    kept.sort_by_key(|c| std::cmp::Reverse(score(identity, c)));
    if kept.len() > share {
        release.extend(kept.split_off(share).into_iter().cloned());
    }
    let mut claim: Vec<String> = clusters
        .iter()
        .filter(|c| !held.contains(*c) && !taken.contains(*c))
        .cloned()
        .collect();
    claim.sort_by_key(|c| std::cmp::Reverse(score(identity, c)));
    let wanted = share.saturating_sub(kept.len());
    if wanted == 0 {
        claim.clear();
    }
    Moves {
        release,
        claim,
        wanted,
    }
}

/// The rendezvous score of `cluster` for `identity`.
fn score(identity: &str, cluster: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(identity.as_bytes())
        .chain_update([0])
        .chain_update(cluster.as_bytes())
        .finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Runs the claims of `replicas` (in turn, each taking what it wants of what is free) until
    /// nothing moves; returns each replica's clusters.
    fn settle(clusters: &BTreeSet<String>, holdings: &mut Vec<(String, BTreeSet<String>)>) {
        for _ in 0..10 {
            let mut moved = false;
            for i in 0..holdings.len() {
                let taken: BTreeSet<String> = holdings
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, (_, h))| h.iter().cloned())
                    .collect();
                let (id, held) = &holdings[i];
                let m = moves(id, clusters, held, &taken, holdings.len());
                let held = &mut holdings[i].1;
                for r in &m.release {
                    held.remove(r);
                    moved = true;
                }
                for c in m.claim.into_iter().take(m.wanted) {
                    held.insert(c);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("claims did not settle: {holdings:?}");
    }

    fn moved(before: &[(String, BTreeSet<String>)], after: &[(String, BTreeSet<String>)]) -> usize {
        let owner = |hs: &[(String, BTreeSet<String>)], c: &str| {
            hs.iter()
                .find(|(_, h)| h.contains(c))
                .map(|(id, _)| id.clone())
        };
        let all: BTreeSet<String> = before.iter().flat_map(|(_, h)| h.iter().cloned()).collect();
        all.iter()
            .filter(|c| owner(before, c) != owner(after, c))
            .count()
    }

    #[test]
    fn the_share_is_rounded_up_and_never_divides_by_zero() {
        assert_eq!(fair_share(6, 4), 2);
        assert_eq!(fair_share(6, 3), 2);
        assert_eq!(fair_share(5, 2), 3);
        assert_eq!(fair_share(3, 0), 3);
        assert_eq!(fair_share(0, 3), 0);
    }

    #[test]
    fn clusters_spread_and_rescaling_moves_only_what_it_must() {
        let clusters = set(&["a", "b", "c", "d", "e", "f", "g"]);
        let replica = |id: &str| (id.to_string(), BTreeSet::new());
        let mut h = vec![replica("r1"), replica("r2"), replica("r3")];
        settle(&clusters, &mut h);
        let sizes: Vec<usize> = h.iter().map(|(_, s)| s.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 7, "{h:?}");
        assert!(sizes.iter().all(|n| *n <= 3), "{h:?}");
        // 3 → 2: only the clusters of the replica that left move.
        let before = h.clone();
        let gone = h.remove(2).1.len();
        settle(&clusters, &mut h);
        assert_eq!(h.iter().map(|(_, s)| s.len()).sum::<usize>(), 7);
        assert_eq!(moved(&before, &h), gone, "{before:?} → {h:?}");
        // 2 → 4: each old replica gives up only its excess over ceil(7 / 4) = 2.
        let before = h.clone();
        h.push(replica("r4"));
        h.push(replica("r5"));
        settle(&clusters, &mut h);
        assert!(h.iter().all(|(_, s)| s.len() <= 2), "{h:?}");
        assert_eq!(h.iter().map(|(_, s)| s.len()).sum::<usize>(), 7);
        let excess: usize = before.iter().map(|(_, s)| s.len().saturating_sub(2)).sum();
        assert_eq!(moved(&before, &h), excess, "{before:?} → {h:?}");
    }

    #[test]
    fn a_cluster_no_longer_configured_is_released() {
        let m = moves("r1", &set(&["a"]), &set(&["a", "gone"]), &set(&[]), 1);
        assert_eq!(m.release, vec!["gone".to_string()]);
        assert_eq!(m.wanted, 0);
    }
}
