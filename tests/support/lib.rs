//! Shared helpers for cubist end-to-end tests.

pub mod corpus;
pub mod kube_local;
pub mod procs;
pub mod repo;
