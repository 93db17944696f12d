//! `cubist render`: writes every cluster's objects to a directory, without an inventory.

use super::stages::load_and_render;
use crate::targets::directory::{DirectoryTarget, write_atomic};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(repo: &Path, out: &Path, cluster: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(r) = load_and_render(repo, cluster)? else {
        return Ok(ExitCode::from(1));
    };
    let mut count = 0;
    for (name, set) in &r.sets {
        let target = DirectoryTarget::new(out.join(name));
        // Files are independent here (no inventory): written on every core.
        let written = crate::par::map_in_runs(&set.objects, 64, |o| {
            write_atomic(&target.path_of(&o.key()), &o.body.to_yaml()).map(drop)
        });
        for result in written {
            result?;
            count += 1;
        }
    }
    println!(
        "rendered {count} objects for {} cluster(s) into {}",
        r.sets.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
