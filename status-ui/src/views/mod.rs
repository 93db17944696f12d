//! Page bodies. Each view turns typed documents into an [`Html`] fragment.

pub mod cluster;
pub mod common;
pub mod history;
pub mod overview;
pub mod pipeline;
pub mod project;
pub mod projects;
pub mod runs;
pub mod service;

use chrono::{DateTime, Utc};

use crate::doc::Summary;
use crate::html::Html;
use crate::layout::Section;
use crate::links::Links;
use crate::tree::StatusTree;

/// What every view reads: the tree, its decoded summary, the clock and the link maker.
pub struct View<'a> {
    /// The status tree.
    pub tree: &'a StatusTree,
    /// The decoded summary (empty when absent or corrupt).
    pub summary: &'a Summary,
    /// Whether `status/summary.yaml` exists.
    pub has_summary: bool,
    /// The time that relative times are measured from.
    pub now: DateTime<Utc>,
    /// Link maker of the page being rendered.
    pub links: Links<'a>,
}

/// A rendered page body with its title and nav section.
pub struct Body {
    /// Page title.
    pub title: String,
    /// Nav section to mark current.
    pub section: Section,
    /// The body markup.
    pub html: Html,
}
