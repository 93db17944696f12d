//! Pipeline runs: which executions a schedule makes due ([`dates`]). The run controller
//! (admission, Workflow creation, run records) builds on this module.

pub mod dates;
