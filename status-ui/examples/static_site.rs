//! Writes a status tree as a static site:
//! `cargo run -p cubist-status-ui --example static_site -- [TREE_ROOT] OUT_DIR`
//! (TREE_ROOT contains `status/`; defaults to the test fixture, rendered at its fixed time).

use chrono::{TimeZone, Utc};
use cubist_status_ui::{StatusTree, write_static_site};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures").to_string();
    let (root, out, now) = match &args[..] {
        [out] => (
            fixture,
            out,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 3, 0).unwrap(),
        ),
        [root, out] => (root.clone(), out, Utc::now()),
        _ => anyhow::bail!("usage: static_site [TREE_ROOT] OUT_DIR"),
    };
    let tree = StatusTree::from_dir(&root)?;
    for file in write_static_site(&tree, std::path::Path::new(out), now)? {
        println!("{out}/{file}");
    }
    Ok(())
}
