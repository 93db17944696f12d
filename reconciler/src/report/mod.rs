//! Report stage: turns results into text for people and machines.

pub mod codeowners;
pub mod diagnostics;
mod object_pack;
pub mod plan;
pub mod status_branch;
mod status_push;
pub mod status_shard;
pub mod status_read;
pub mod status_tree;
