//! Hrefs: to other pages (server paths or relative static files) and to the repository.

/// How links to other pages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// Absolute server paths: `/projects/nlp`.
    Server,
    /// Relative files from a page `depth` directories below the site root:
    /// `../../projects/nlp/index.html`.
    Static {
        /// Directories between the site root and the current page's `index.html`.
        depth: usize,
    },
}

/// Link maker for one page.
#[derive(Debug, Clone)]
pub struct Links<'a> {
    style: LinkStyle,
    repo_url: Option<&'a str>,
}

impl<'a> Links<'a> {
    /// Links in `style`; repository links only when `repo_url` is an http(s) URL.
    pub fn new(style: LinkStyle, repo_url: Option<&'a str>) -> Self {
        let repo_url = repo_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| u.trim_end_matches('/'));
        Links { style, repo_url }
    }

    /// Href of the page at `segments` (`[]` is the overview, `["projects", "nlp"]` a project).
    pub fn page(&self, segments: &[&str]) -> String {
        let mut out = String::new();
        match self.style {
            LinkStyle::Server => {
                out.push('/');
                push_segments(&mut out, segments);
            }
            LinkStyle::Static { depth } => {
                for _ in 0..depth {
                    out.push_str("../");
                }
                push_segments(&mut out, segments);
                if !segments.is_empty() {
                    out.push('/');
                }
                out.push_str("index.html");
            }
        }
        out
    }

    /// `{repoUrl}/commit/{sha}`, when the repository URL is known.
    pub fn commit(&self, sha: &str) -> Option<String> {
        let repo = self.repo_url?;
        (!sha.is_empty()).then(|| format!("{repo}/commit/{}", encode_segment(sha)))
    }

    /// `{repoUrl}/blob/{revision}/{file}#L{line}`, when the repository URL is known.
    pub fn file(&self, revision: &str, file: &str, line: usize) -> Option<String> {
        let repo = self.repo_url?;
        if file.is_empty() || revision.is_empty() {
            return None;
        }
        let path: Vec<String> = file.split('/').map(encode_segment).collect();
        let anchor = if line > 0 {
            format!("#L{line}")
        } else {
            String::new()
        };
        Some(format!(
            "{repo}/blob/{}/{}{anchor}",
            encode_segment(revision),
            path.join("/")
        ))
    }
}

fn push_segments(out: &mut String, segments: &[&str]) {
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&encode_segment(s));
    }
}

/// Percent-encodes everything but unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is malformed.
pub fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
