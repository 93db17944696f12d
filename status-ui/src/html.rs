//! A small HTML builder that escapes everything it is not told is markup.
//!
//! Markup can only come from `&'static str` (tags, attribute names, literal fragments written in
//! this crate); every runtime string goes through [`escape_into`].

use std::fmt::Write as _;

/// Appends `s` to `out`, escaping `& < > " '` (safe in text and in quoted attribute values).
pub fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `s` escaped for HTML text or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// An HTML fragment under construction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Html {
    buf: String,
}

impl Html {
    /// An empty fragment.
    pub fn new() -> Self {
        Html::default()
    }

    /// Appends literal markup written in this crate.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.buf.push_str(markup);
        self
    }

    /// Appends escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.buf, text);
        self
    }

    /// Appends a formatted value as escaped text (numbers, dates, ...).
    pub fn display(&mut self, value: impl std::fmt::Display) -> &mut Self {
        let start = self.buf.len();
        let _ = write!(self.buf, "{value}");
        if self.buf[start..]
            .bytes()
            .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
        {
            let tail = self.buf.split_off(start);
            escape_into(&mut self.buf, &tail);
        }
        self
    }

    /// Opens `<tag a="v" ...>` with escaped attribute values.
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        for (name, value) in attrs {
            self.buf.push(' ');
            self.buf.push_str(name);
            self.buf.push_str("=\"");
            escape_into(&mut self.buf, value);
            self.buf.push('"');
        }
        self.buf.push('>');
        self
    }

    /// Writes a self-closing `<tag a="v" ... />`: only for SVG shapes and HTML void elements
    /// (`meta`, `br`), since HTML ignores the `/` on other elements.
    pub fn empty(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Self {
        self.open(tag, attrs);
        self.buf.pop();
        self.buf.push_str("/>");
        self
    }

    /// Closes `</tag>`.
    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn el(
        &mut self,
        tag: &'static str,
        attrs: &[(&'static str, &str)],
        text: &str,
    ) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// `<a href="href">text</a>`, or just the text when `href` is `None`.
    pub fn link(&mut self, href: Option<&str>, text: &str) -> &mut Self {
        match href {
            Some(href) => self.el("a", &[("href", href)], text),
            None => self.text(text),
        }
    }

    /// Appends another fragment.
    pub fn append(&mut self, other: Html) -> &mut Self {
        self.buf.push_str(&other.buf);
        self
    }

    /// The markup.
    pub fn into_string(self) -> String {
        self.buf
    }

    /// The markup so far.
    pub fn as_str(&self) -> &str {
        &self.buf
    }
}
