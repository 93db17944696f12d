//! Read-only status page for cubist, rendered server-side from the status branch.
