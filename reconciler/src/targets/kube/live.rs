//! Reading what a cluster holds: one labelled LIST per kind and namespace (cheap when nothing
//! changed), a GET or an unlabelled metadata LIST only for objects that LIST did not return.

use super::resolve::{Resolved, group_of, not_served_message};
use super::{KubeError, KubeTarget, error::classify};
use crate::render::{HASH_ANNOTATION, MANAGED_BY, ObjectKey, PROJECT_LABEL};
use ::kube::api::{Api, DynamicObject, ListParams};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Page size of LISTs.
const PAGE: u32 = 500;
/// Above this many objects missing from the labelled LIST, one unlabelled metadata LIST is
/// cheaper than a GET each.
const MAX_GETS: usize = 8;

/// Who a live object belongs to, by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Labelled managed-by cubist and the expected project.
    Cubist,
    /// Labelled managed-by cubist, of another project.
    OtherProject(String),
    /// Not labelled as cubist's.
    Unlabelled,
}

/// What the cluster holds at one object's place.
#[derive(Debug, Clone)]
pub enum Live {
    /// The cluster does not serve the kind (the message says what to do).
    NotServed(String),
    /// Not served yet, but a CRD of this apply defines it (its name).
    AfterCrd(String),
    /// Nothing there.
    Absent,
    /// An object, with who owns it.
    Present(Box<Value>, Owner),
}

/// One object to look up: its key and the project expected to own it.
pub struct Wanted<'a> {
    /// Identity.
    pub key: &'a ObjectKey,
    /// Project expected in its label.
    pub project: Option<&'a str>,
}

impl KubeTarget {
    /// The API of one resource in one namespace (or cluster-wide).
    pub(super) fn api(&self, r: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if r.namespaced {
            Api::namespaced_with(
                self.client.clone(),
                if namespace.is_empty() {
                    "default"
                } else {
                    namespace
                },
                &r.resource,
            )
        } else {
            Api::all_with(self.client.clone(), &r.resource)
        }
    }

    /// Resolves a key's kind; `Err(message)` in `Ok` when it is not served.
    pub(super) async fn resolve_key(
        &self,
        cluster: &str,
        key: &ObjectKey,
    ) -> Result<Result<Resolved, String>, KubeError> {
        Ok(self
            .resolver
            .resolve(&self.client, cluster, &key.api_version, &key.kind)
            .await?
            .ok_or_else(|| not_served_message(cluster, &key.api_version, &key.kind)))
    }

    /// What the cluster holds for each wanted object (same order). `crds` maps
    /// `(apiVersion, kind)` to the CRD of the current set that will serve it.
    pub(super) async fn observe(
        &self,
        cluster: &str,
        wanted: &[Wanted<'_>],
        crds: &HashMap<(String, String), String>,
    ) -> Result<Vec<Live>, KubeError> {
        let mut kinds: Vec<(&str, &str)> = wanted
            .iter()
            .map(|w| (w.key.api_version.as_str(), w.key.kind.as_str()))
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut resolved: HashMap<(&str, &str), Result<Resolved, String>> = HashMap::new();
        for (av, kind) in kinds {
            let key = ObjectKey {
                api_version: av.into(),
                kind: kind.into(),
                namespace: String::new(),
                name: String::new(),
            };
            resolved.insert((av, kind), self.resolve_key(cluster, &key).await?);
        }
        // Group served objects by (kind, namespace): one LIST each.
        let mut groups: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
        let mut out: Vec<Option<Live>> = vec![None; wanted.len()];
        for (i, w) in wanted.iter().enumerate() {
            match &resolved[&(w.key.api_version.as_str(), w.key.kind.as_str())] {
                Ok(r) => {
                    let ns = if r.namespaced {
                        w.key.namespace.as_str()
                    } else {
                        ""
                    };
                    groups
                        .entry((w.key.api_version.as_str(), w.key.kind.as_str(), ns))
                        .or_default()
                        .push(i);
                }
                Err(msg) => {
                    out[i] = Some(
                        match crds.get(&(w.key.api_version.clone(), w.key.kind.clone())) {
                            Some(crd) => Live::AfterCrd(crd.clone()),
                            None => Live::NotServed(msg.clone()),
                        },
                    );
                }
            }
        }
        // Futures built up front: a closure inside the stream would make the future not Send
        // (rust-lang/rust#102211).
        let lists: Vec<_> = groups
            .into_iter()
            .map(|((av, kind, ns), idx)| {
                let r = resolved[&(av, kind)].as_ref().expect("served").clone();
                self.observe_group(cluster, r, ns, idx, wanted)
            })
            .collect();
        let results: Vec<Vec<(usize, Live)>> = stream::iter(lists)
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        for (i, live) in results.into_iter().flatten() {
            out[i] = Some(live);
        }
        Ok(out.into_iter().map(|l| l.unwrap_or(Live::Absent)).collect())
    }

    async fn observe_group(
        &self,
        cluster: &str,
        r: Resolved,
        ns: &str,
        idx: Vec<usize>,
        wanted: &[Wanted<'_>],
    ) -> Result<Vec<(usize, Live)>, KubeError> {
        let api = self.api(&r, ns);
        let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
        let mut found: HashMap<String, Value> = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().labels(&selector).limit(PAGE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = api.list(&lp).await.map_err(|e| classify(cluster, e))?;
            for o in page.items {
                let v = serde_json::to_value(&o).unwrap_or_default();
                found.insert(o.metadata.name.clone().unwrap_or_default(), v);
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        let misses: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|i| !found.contains_key(&wanted[*i].key.name))
            .collect();
        // Objects not labelled as cubist's: absent, or someone else's (or ours with labels removed).
        let mut unlabelled: HashMap<String, Value> = HashMap::new();
        let names: Vec<&str> = if misses.len() > MAX_GETS {
            let existing = self.list_names(cluster, &api).await?;
            misses
                .iter()
                .map(|i| wanted[*i].key.name.as_str())
                .filter(|n| existing.contains(*n))
                .collect()
        } else {
            misses
                .iter()
                .map(|i| wanted[*i].key.name.as_str())
                .collect()
        };
        let gets: Vec<_> = names
            .into_iter()
            .map(|n| {
                let api = api.clone();
                async move {
                    api.get_opt(n)
                        .await
                        .map(|o| (n.to_string(), o))
                        .map_err(|e| classify(cluster, e))
                }
            })
            .collect();
        let got: Vec<(String, Option<DynamicObject>)> = stream::iter(gets)
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        for (n, o) in got {
            if let Some(o) = o {
                unlabelled.insert(n, serde_json::to_value(&o).unwrap_or_default());
            }
        }
        Ok(idx
            .into_iter()
            .map(|i| {
                let w = &wanted[i];
                let live = match found
                    .get(&w.key.name)
                    .or_else(|| unlabelled.get(&w.key.name))
                {
                    Some(v) => {
                        let owner = owner_of(v, w.project);
                        Live::Present(Box::new(v.clone()), owner)
                    }
                    None => Live::Absent,
                };
                (i, live)
            })
            .collect())
    }

    /// The live object at a key, if any (`None` too when its kind is not served).
    pub(super) async fn live_object(
        &self,
        cluster: &str,
        key: &ObjectKey,
    ) -> Result<Option<Value>, KubeError> {
        let Ok(r) = self.resolve_key(cluster, key).await? else {
            return Ok(None);
        };
        let o = self
            .api(&r, &key.namespace)
            .get_opt(&key.name)
            .await
            .map_err(|e| classify(cluster, e))?;
        Ok(o.map(|o| serde_json::to_value(&o).unwrap_or_default()))
    }

    /// Names of every object of a resource in a namespace (metadata only).
    async fn list_names(
        &self,
        cluster: &str,
        api: &Api<DynamicObject>,
    ) -> Result<HashSet<String>, KubeError> {
        let mut names = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = api
                .list_metadata(&lp)
                .await
                .map_err(|e| classify(cluster, e))?;
            names.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

/// Who owns a live object, by its labels.
pub fn owner_of(live: &Value, project: Option<&str>) -> Owner {
    let label = |k: &str| {
        live.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    if label(MANAGED_BY.0) != Some(MANAGED_BY.1) {
        return Owner::Unlabelled;
    }
    match label(PROJECT_LABEL) {
        p if p == project => Owner::Cubist,
        Some(p) => Owner::OtherProject(p.to_string()),
        None => Owner::OtherProject("(none)".into()),
    }
}

/// The live object's `cubist.dev/hash` annotation.
pub fn live_hash(live: &Value) -> Option<&str> {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(HASH_ANNOTATION))
        .and_then(Value::as_str)
}

/// `(apiVersion, kind)` → CRD name, for the CRDs of a set of bodies.
pub fn crd_kinds<'a>(bodies: impl Iterator<Item = &'a Value>) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for b in bodies {
        if b.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition")
            || group_of(
                b.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ) != "apiextensions.k8s.io"
        {
            continue;
        }
        let name = b
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = b
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = b
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for v in b
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(version) = v.get("name").and_then(Value::as_str) {
                out.insert(
                    (format!("{group}/{version}"), kind.to_string()),
                    name.to_string(),
                );
            }
        }
    }
    out
}

/// True when every field of `desired` is in `live` with the same value (an empty map or list,
/// or a null, in `desired` also matches a missing field). Lists must have the same length.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            None => is_empty(dv),
        }),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        (Value::Number(l), Value::Number(d)) => l == d || l.as_f64() == d.as_f64(),
        (l, d) => l == d || (l.is_null() && is_empty(d)),
    }
}

/// Whether `live` holds every field of `desired` but its revision annotation: an object whose
/// content a new commit did not change (same content hash) keeps the revision that last changed
/// it, and is not written again.
pub fn contains_but_revision(live: &Value, mut desired: Value) -> bool {
    if let Some(a) = desired
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(crate::render::REVISION_ANNOTATION);
    }
    contains(live, &desired)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// An object without what the server maintains (managedFields, resourceVersion, generation,
/// uid, creationTimestamp) and without status: what a diff should show.
pub fn clean(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "uid",
                "creationTimestamp",
                "selfLink",
            ] {
                m.remove(k);
            }
            if m.get("annotations")
                .and_then(Value::as_object)
                .is_some_and(|a| a.is_empty())
            {
                m.remove("annotations");
            }
        }
    }
    v
}

/// `desired` laid over `live`: maps merged, everything else replaced (what an apply roughly gives).
pub fn overlay(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            let mut out = l.clone();
            for (k, dv) in d {
                let merged = match l.get(k) {
                    Some(lv) => overlay(lv, dv),
                    None => dv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, d) => d.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_ignores_server_fields_and_empty_desired() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"n": 2, "l": [{"a": 1, "b": 2}]}, "status": {}});
        assert!(contains(
            &live,
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": 2.0, "l": [{"a": 1}], "e": {}}})
        ));
        assert!(!contains(&live, &json!({"spec": {"n": 3}})));
        assert!(!contains(
            &live,
            &json!({"spec": {"l": [{"a": 1}, {"a": 2}]}})
        ));
        assert!(!contains(&live, &json!({"spec": {"missing": 1}})));
    }

    #[test]
    fn owner_by_labels() {
        let o = |labels: Value| json!({"metadata": {"labels": labels}});
        assert_eq!(
            owner_of(
                &o(json!({"app.kubernetes.io/managed-by": "cubist", "cubist.dev/project": "nlp"})),
                Some("nlp")
            ),
            Owner::Cubist
        );
        assert_eq!(
            owner_of(
                &o(json!({"app.kubernetes.io/managed-by": "cubist", "cubist.dev/project": "cv"})),
                Some("nlp")
            ),
            Owner::OtherProject("cv".into())
        );
        assert_eq!(
            owner_of(&o(json!({"cubist.dev/project": "nlp"})), Some("nlp")),
            Owner::Unlabelled
        );
        assert_eq!(
            owner_of(&o(json!({"app.kubernetes.io/managed-by": "cubist"})), None),
            Owner::Cubist
        );
    }

    #[test]
    fn crd_kinds_by_version() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1"}, {"name": "v2"}]}});
        let k = crd_kinds([&crd].into_iter());
        assert_eq!(
            k.get(&("example.com/v2".into(), "Widget".into()))
                .map(String::as_str),
            Some("widgets.example.com")
        );
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn overlay_merges_maps_and_replaces_lists() {
        let live = json!({"spec": {"a": 1, "l": [1, 2], "m": {"x": 1}}});
        assert_eq!(
            overlay(&live, &json!({"spec": {"l": [3], "m": {"y": 2}}})),
            json!({"spec": {"a": 1, "l": [3], "m": {"x": 1, "y": 2}}})
        );
    }
}
