//! Report stage: turns results into text for people and machines.

pub mod codeowners;
pub mod diagnostics;
pub mod digest;
pub mod plan;
pub mod status_branch;
pub mod status_dir;
pub(crate) mod status_doc;
mod status_push;
pub mod status_read;
pub mod status_shard;
pub mod status_tree;
mod status_yaml;
mod summary_file;
