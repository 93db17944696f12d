//! GitHub webhook receiver and GitHub API reporter for cubist.
