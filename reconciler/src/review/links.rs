//! Links into the GitHub web UI (github.com or a GitHub Enterprise host).

/// Builds web links for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// Web base, e.g. `https://github.com`.
    pub web_base: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl Links {
    fn repo(&self) -> String {
        format!(
            "{}/{}/{}",
            self.web_base.trim_end_matches('/'),
            self.owner,
            self.name
        )
    }

    /// A file at a commit, at a line when `line > 0`: `…/blob/<sha>/<path>#L<line>`.
    pub fn blob(&self, sha: &str, path: &str, line: usize) -> String {
        let anchor = if line > 0 {
            format!("#L{line}")
        } else {
            String::new()
        };
        format!("{}/blob/{sha}/{}{anchor}", self.repo(), encode_path(path))
    }

    /// A commit: `…/commit/<sha>`.
    pub fn commit(&self, sha: &str) -> String {
        format!("{}/commit/{sha}", self.repo())
    }

    /// A comment of a pull request: `…/pull/<n>#issuecomment-<id>`.
    pub fn comment(&self, number: u64, id: u64) -> String {
        format!("{}/pull/{number}#issuecomment-{id}", self.repo())
    }
}

/// Percent-encodes a repository path for a URL, keeping `/` and unreserved characters.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_web_base_and_encode_paths() {
        let links = Links {
            web_base: "https://ghe.acme.io/".into(),
            owner: "acme".into(),
            name: "platform".into(),
        };
        assert_eq!(
            links.blob("abc123", "projects/p/pipelines/daily.yaml", 15),
            "https://ghe.acme.io/acme/platform/blob/abc123/projects/p/pipelines/daily.yaml#L15"
        );
        assert_eq!(
            links.blob("abc123", "projects/p/my file#1.yaml", 0),
            "https://ghe.acme.io/acme/platform/blob/abc123/projects/p/my%20file%231.yaml"
        );
        assert_eq!(
            links.comment(2, 7),
            "https://ghe.acme.io/acme/platform/pull/2#issuecomment-7"
        );
    }
}
