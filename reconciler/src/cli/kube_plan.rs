//! `cubist plan` for clusters whose target is `kubernetes`: a diff against the live objects
//! (server-side dry-run), with prunes taken from the inventory in the status branch.

use crate::model::kinds::ClusterSpec;
use crate::render::{REVISION_ANNOTATION, RenderedSet};
use crate::report::status_branch::read_status_ref;
use crate::targets::Plan;
use crate::targets::cluster_target::ClusterTarget;
use crate::targets::desired::Desired;
use cubist_status_ui::doc::Inventory;
use std::path::Path;

/// Refs the inventory is looked for in, in order.
const STATUS_REFS: &[&str] = &[
    "refs/heads/cubist/status",
    "refs/remotes/origin/cubist/status",
];

/// Plans `desired` against the live cluster on `rt`. Returns the plan and, when no inventory
/// was found, a note that deletions cannot be shown.
pub(super) fn plan(
    rt: &tokio::runtime::Runtime,
    repo: &Path,
    name: &str,
    spec: &ClusterSpec,
    desired: &RenderedSet,
) -> anyhow::Result<(Plan, Option<String>)> {
    let (inventory, note) = match inventory(repo, name) {
        Some(inv) => (inv, None),
        None => (
            Inventory::default(),
            Some(format!(
                "cluster {name}: no inventory in a `cubist/status` branch of {}; objects to prune are not shown",
                repo.display()
            )),
        ),
    };
    // A working tree has no commit to name: leave each live object's revision annotation as
    // it is rather than plan a change of every object to `working-tree`.
    let mut desired = desired.clone();
    // A `Run`'s Workflows are the run controller's to create on a Kubernetes cluster.
    desired
        .objects
        .retain(|o| !crate::runs::workflow::is_run(o));
    for o in &mut desired.objects {
        o.body.edit(|body| {
            if let Some(a) = body
                .pointer_mut("/metadata/annotations")
                .and_then(|a| a.as_object_mut())
            {
                a.remove(REVISION_ANNOTATION);
            }
        });
    }
    let desired = Desired::from_set(desired);
    let plan = rt.block_on(async {
        let target = ClusterTarget::kubernetes(name, spec).await?;
        anyhow::Ok(target.plan(&desired, &inventory).await?)
    })?;
    Ok((plan, note))
}

/// The cluster's inventory from the repository's status branch (local, then origin's).
fn inventory(repo: &Path, cluster: &str) -> Option<Inventory> {
    let git = git2::Repository::discover(repo).ok()?;
    STATUS_REFS.iter().find_map(|refname| {
        let files = read_status_ref(&git, refname).ok()?;
        let tree = cubist_status_ui::StatusTree::new(files);
        tree.inventory(cluster)?.ok()
    })
}
