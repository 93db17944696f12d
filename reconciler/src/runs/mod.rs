//! Pipeline runs: which executions are due ([`dates`], [`due`]), how their Workflows are named
//! and labelled ([`naming`]) and built ([`workflow`]), which of them start ([`admission`]), what
//! a live Workflow says ([`readback`]), and one pass over a pipeline on a cluster
//! ([`controller`]). The reconcile loop lists and creates (`reconcile::runs`).

pub mod admission;
pub mod controller;
pub mod dates;
pub mod due;
mod every_day;
pub mod files;
pub mod naming;
pub mod readback;
pub mod workflow;
