//! The prune guard: one commit must not delete everything cubist owns. A plan that would delete
//! every object of a project on a cluster, every object cubist owns there, or more than the
//! cluster's `pruneLimit`, has its deletions held (taken out of the plan into [`Plan::held`])
//! until a commit allows them with a `Cubist-Allow-Prune:` trailer, or the cluster's
//! `pruneLimit: 100%` turns the guard off. Creates and updates still go ahead: they lose
//! nothing, and a held deletion stays owned (in the inventory), so every later plan lists it
//! again until it is allowed or the object is desired again.
//!
//! The loop, `cubist plan`/`apply` and the pull request review all decide with [`guard`].

use super::{Action, Change, Plan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

/// The trailer key that allows held deletions.
pub const ALLOW_TRAILER: &str = "Cubist-Allow-Prune";
/// Deletions a percentage limit always allows, so that tiny clusters are not stuck.
pub const PRUNE_FLOOR: usize = 10;
/// Commits read for trailers between two reconciled revisions; older ones are not read.
pub const MAX_COMMITS_READ: usize = 1000;

/// `Cluster.spec.pruneLimit`: the most deletions one reconcile may make on the cluster without
/// an allowance. Written `"30%"` (of the objects cubist owns there, never below
/// [`PRUNE_FLOOR`]) or a count (`20`). Default `"50%"`; `"100%"` turns the guard off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneLimit {
    /// A share of the objects cubist owns on the cluster, 0 to 100.
    Percent(u8),
    /// A number of objects.
    Count(u64),
}

impl Default for PruneLimit {
    fn default() -> Self {
        PruneLimit::Percent(50)
    }
}

impl PruneLimit {
    /// True when the guard is off (`100%`): any deletion, even of a whole project, goes ahead.
    pub fn is_off(&self) -> bool {
        *self == PruneLimit::Percent(100)
    }

    /// The most deletions allowed out of `owned` objects.
    pub fn max_deletions(&self, owned: usize) -> usize {
        match *self {
            PruneLimit::Percent(p) => (owned * usize::from(p) / 100).max(PRUNE_FLOOR),
            PruneLimit::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    /// Reads `"N%"` (0 ≤ N ≤ 100); `None` otherwise.
    pub fn parse_percent(text: &str) -> Option<Self> {
        let digits = text.strip_suffix('%')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 3 {
            return None;
        }
        digits
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100)
            .map(PruneLimit::Percent)
    }
}

impl std::fmt::Display for PruneLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PruneLimit::Percent(p) => write!(f, "{p}%"),
            PruneLimit::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for PruneLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PruneLimit::Percent(_) => s.serialize_str(&self.to_string()),
            PruneLimit::Count(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for PruneLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(PruneLimit::Count(n)),
            Raw::Text(t) => PruneLimit::parse_percent(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "pruneLimit `{t}` is neither a count nor a percentage from 0% to 100%"
                ))
            }),
        }
    }
}

/// Deletions allowed by `Cubist-Allow-Prune:` trailers (or `--allow-prune`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowances {
    all: bool,
    clusters: BTreeSet<String>,
    projects: BTreeSet<String>,
}

impl Allowances {
    /// Every deletion allowed (`Cubist-Allow-Prune: all`, `cubist apply --allow-prune`).
    pub fn all() -> Self {
        Allowances {
            all: true,
            ..Default::default()
        }
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        *self == Allowances::default()
    }

    /// Adds the `Cubist-Allow-Prune:` lines of a commit message: `all`, a cluster name, or
    /// `project/<name>`; several values may share a line, separated by commas or spaces. The
    /// key is matched without regard to case, as git does for trailers.
    pub fn read_message(&mut self, message: &str) {
        for line in message.lines() {
            let Some((key, values)) = line.trim().split_once(':') else {
                continue;
            };
            if !key.trim().eq_ignore_ascii_case(ALLOW_TRAILER) {
                continue;
            }
            for v in values.split([',', ' ', '\t']).filter(|v| !v.is_empty()) {
                match v.strip_prefix("project/") {
                    _ if v == "all" => self.all = true,
                    Some(p) => {
                        self.projects.insert(p.to_string());
                    }
                    None => {
                        self.clusters.insert(v.to_string());
                    }
                }
            }
        }
    }

    /// The allowances of the commits reachable from `head` and not from `since` (only `head`
    /// without `since`, or when `since` is unknown), at most [`MAX_COMMITS_READ`] of them.
    pub fn between(repo: &git2::Repository, head: git2::Oid, since: Option<git2::Oid>) -> Self {
        let mut out = Allowances::default();
        let range = since.and_then(|s| {
            let mut walk = repo.revwalk().ok()?;
            walk.push(head).ok()?;
            walk.hide(s).ok()?;
            Some(walk.take(MAX_COMMITS_READ).flatten().collect::<Vec<_>>())
        });
        for oid in range.unwrap_or_else(|| vec![head]) {
            if let Ok(c) = repo.find_commit(oid) {
                out.read_message(&String::from_utf8_lossy(c.message_bytes()));
            }
        }
        out
    }

    fn covers_cluster(&self, cluster: &str) -> bool {
        self.all || self.clusters.contains(cluster)
    }
}

/// Deletions held on one cluster: what, why and how to allow them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The deletions held, in plan order.
    pub changes: Vec<Change>,
    /// Objects cubist owned on the cluster before the plan (deleted, changed or unchanged).
    pub owned: usize,
    /// Why they are held, one sentence each.
    pub reasons: Vec<String>,
    /// Trailer lines any one of which, in a new commit, allows them.
    pub allow: Vec<String>,
}

impl Held {
    /// Held deletions per project (`""` for objects of no project).
    pub fn by_project(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in &self.changes {
            *out.entry(c.project.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        out
    }

    /// How to let the deletions go ahead, in one paragraph.
    pub fn how_to_allow(&self) -> String {
        format!(
            "To delete them, push a commit whose message has the trailer `{}` (e.g. `git commit --allow-empty -m \"Allow prune\" --trailer \"{}\"`), or set the cluster's `spec.pruneLimit: 100%` (`cubist apply`: `--allow-prune`). To keep them, restore the files that rendered them.",
            self.allow.join("` or `"),
            self.allow.first().map_or("", String::as_str)
        )
    }
}

/// Holds the plan's deletions when they trip the guard (see the module doc): moves them into
/// [`Plan::held`] and returns true. `limit` is the cluster's `pruneLimit` (default `50%`).
pub fn guard(plan: &mut Plan, limit: Option<PruneLimit>, allow: &Allowances) -> bool {
    let Some(held) = judge(plan, limit.unwrap_or_default(), allow) else {
        return false;
    };
    plan.changes.retain(|c| c.action != Action::Delete);
    plan.held = Some(held);
    true
}

/// The held deletions of `plan`, if its deletions trip the guard.
fn judge(plan: &Plan, limit: PruneLimit, allow: &Allowances) -> Option<Held> {
    if limit.is_off() || allow.covers_cluster(&plan.cluster) {
        return None;
    }
    let deletes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    if deletes.is_empty() {
        return None;
    }
    let owned = deletes.len() + plan.count(Action::Update) + plan.count(Action::Unchanged);
    // Projects losing every object: deletions and nothing else listed of theirs.
    let mut lost: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &deletes {
        if let Some(p) = &c.project {
            *lost.entry(p).or_insert(0) += 1;
        }
    }
    for c in plan.changes.iter().filter(|c| c.action != Action::Delete) {
        if let Some(p) = &c.project {
            lost.remove(p.as_str());
        }
    }
    lost.retain(|p, _| !allow.projects.contains(*p));
    let mut reasons: Vec<String> = lost
        .iter()
        .map(|(p, n)| {
            format!(
                "project `{p}` would lose all {n} of its objects on this cluster (its directory removed or emptied, or it is no longer placed here)"
            )
        })
        .collect();
    let counted = deletes
        .iter()
        .filter(|c| {
            !c.project
                .as_ref()
                .is_some_and(|p| allow.projects.contains(p))
        })
        .count();
    let max = limit.max_deletions(owned);
    if counted == owned {
        reasons.push(format!(
            "every object cubist owns on cluster `{}` ({owned}) would be deleted",
            plan.cluster
        ));
    } else if counted > max {
        reasons.push(format!(
            "{counted} deletions of the {owned} objects cubist owns on cluster `{}` exceed its pruneLimit {limit} (at most {max})",
            plan.cluster
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    let mut allow_lines = vec![format!("{ALLOW_TRAILER}: {}", plan.cluster)];
    // Allowing the lost projects is enough when what else is deleted is within the limit.
    let rest = counted - lost.values().sum::<usize>();
    if !lost.is_empty() && rest <= max {
        let projects: Vec<String> = lost.keys().map(|p| format!("project/{p}")).collect();
        allow_lines.push(format!("{ALLOW_TRAILER}: {}", projects.join(", ")));
    } else {
        allow_lines.push(format!("{ALLOW_TRAILER}: all"));
    }
    Some(Held {
        changes: deletes.into_iter().cloned().collect(),
        owned,
        reasons,
        allow: allow_lines,
    })
}

#[cfg(test)]
mod tests;
