//! Shared helpers for cubist end-to-end tests.

pub mod corpus;
pub mod procs;
