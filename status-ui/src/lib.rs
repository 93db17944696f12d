//! Read-only status page for cubist, rendered server-side from the status branch.
//!
//! The reconciler writes the documents of [`doc`] (as YAML, via [`yaml`]) into a status tree; this
//! crate renders that tree as HTML pages ([`site::render_page`]), serves them
//! ([`server::router`]), or writes them as a static site ([`site::write_static_site`]).

#![warn(missing_docs)]

pub mod cron;
pub mod dag;
pub mod doc;
pub mod format;
pub mod html;
mod layout;
mod limits;
mod links;
pub mod liveness;
pub mod run_table;
pub mod runs;
pub mod server;
pub mod site;
pub mod tree;
mod views;
pub mod yaml;
pub mod yaml_emit;

pub use liveness::{Liveness, Role};
pub use server::{DirSource, StatusSource, router};
pub use site::{Page, PageOptions, render_page, write_static_site};
pub use tree::StatusTree;
