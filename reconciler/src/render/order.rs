//! Apply order: CRDs, then namespaces, then RBAC and quotas, then workloads; deletions run the
//! other way round. Render emits each cluster's objects in this order; the targets apply
//! (and delete) by it.

use crate::render::{RenderedObject, RenderedSet};

/// Apply stage of a kind: CRDs 0, Namespaces 1, RBAC and quotas 2, workloads 3.
pub fn stage_of(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ServiceAccount" | "RoleBinding" | "Role" | "ClusterRole" | "ClusterRoleBinding"
        | "ResourceQuota" | "LimitRange" => 2,
        _ => 3,
    }
}

impl RenderedObject {
    /// Apply stage of the object's kind (see [`stage_of`]).
    pub fn stage(&self) -> u8 {
        stage_of(self.key_parts()[1])
    }
}

impl RenderedSet {
    /// Sorts objects into apply order (see [`sort_for_apply`]).
    pub fn sort(&mut self) {
        sort_for_apply(&mut self.objects);
    }
}

/// Sorts objects into apply order: by stage, then apiVersion, kind, namespace and name; ties
/// keep their order.
pub fn sort_for_apply(objects: &mut Vec<RenderedObject>) {
    let (order, _) = apply_order(objects);
    reorder(objects, order);
}

/// The positions of `objects` in apply order (see [`sort_for_apply`]), and the first place in
/// that order where an object has the same identity as the next one, if any.
pub(crate) fn apply_order(objects: &[RenderedObject]) -> (Vec<usize>, Option<usize>) {
    let mut keys: Vec<((u8, [&str; 4]), usize)> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.stage(), o.key_parts()), i))
        .collect();
    // Ties keep their order: the index is part of the key.
    keys.sort_unstable();
    // The stage follows from the kind, so equal identities are next to each other.
    let duplicate = keys.windows(2).position(|w| w[0].0 == w[1].0);
    (keys.into_iter().map(|(_, i)| i).collect(), duplicate)
}

/// Puts `objects` in the order of `order` (each position once).
pub(crate) fn reorder(objects: &mut Vec<RenderedObject>, order: Vec<usize>) {
    let mut taken: Vec<Option<RenderedObject>> =
        std::mem::take(objects).into_iter().map(Some).collect();
    *objects = order
        .into_iter()
        .map(|i| taken[i].take().expect("each index once"))
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Body;
    use serde_json::json;

    /// Apply order puts namespaces before workloads and names the first pair of objects with
    /// the same identity (which render reports as an error).
    #[test]
    fn apply_order_sorts_by_stage_and_finds_equal_identities() {
        let object = |kind: &str, name: &str, source: &str| RenderedObject {
            body: Body::from(json!({"apiVersion": "v1", "kind": kind,
                "metadata": {"name": name, "namespace": "ns"}})),
            hash: String::new(),
            project: None,
            source: source.into(),
        };
        let objects = vec![
            object("ConfigMap", "b", "one.yaml"),
            object("Namespace", "ns", "p.yaml"),
            object("ConfigMap", "a", "a.yaml"),
            object("ConfigMap", "b", "two.yaml"),
        ];
        let (order, duplicate) = apply_order(&objects);
        assert_eq!(order, vec![1, 2, 0, 3]);
        assert_eq!(duplicate, Some(2));
        assert_eq!(apply_order(&objects[..3]).1, None);
    }
}
