//! A small XML writer for Query protocol replies. Element names come
//! from our code; text comes from users and is always escaped.

/// Builds an XML document; elements left open are closed by `finish`.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens `<name>`.
    pub fn start(&mut self, name: &str) -> &mut Self {
        debug_assert!(is_name(name), "bad element name {name:?}");
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name.to_string());
        self
    }

    /// Opens `<name xmlns="...">`.
    pub fn start_ns(&mut self, name: &str, xmlns: &str) -> &mut Self {
        debug_assert!(is_name(name), "bad element name {name:?}");
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, xmlns, true);
        self.out.push_str("\">");
        self.open.push(name.to_string());
        self
    }

    /// Closes the innermost open element (no-op when none is open).
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
        self
    }

    /// Escaped text inside the current element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.out, text, false);
        self
    }

    /// `<name>text</name>`.
    pub fn element(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name).text(text).end()
    }

    /// `<name>text</name>` when there is a value; nothing otherwise, as
    /// AWS omits unset members.
    pub fn opt_element(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.element(name, text);
        }
        self
    }

    /// `<name>` around whatever `body` writes.
    pub fn nested(&mut self, name: &str, body: impl FnOnce(&mut Self)) -> &mut Self {
        self.start(name);
        body(self);
        self.end()
    }

    /// `<name><member>..</member>...</name>`, the Query protocol's list
    /// shape, with `item` writing each member's content.
    pub fn members<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.start(name);
        for i in items {
            self.start("member");
            item(self, i);
            self.end();
        }
        self.end()
    }

    /// Raw, already well-formed XML (for instance another writer's output).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
}

/// Escapes text content: markup characters become entities, `\r` a
/// reference so parsers keep it, and characters XML 1.0 cannot carry at
/// all become U+FFFD. Quotes stay as they are, as in AWS's replies.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, false);
    out
}

fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), r#"a&lt;b&gt;&amp;"c"'d'"#);
        assert_eq!(
            escape("x\r\ny\tz\u{1}\u{FFFF}é"),
            "x&#xD;\ny\tz\u{FFFD}\u{FFFD}é"
        );
        let mut w = XmlWriter::new();
        w.start_ns("R", "http://x/?a=1&b=\"2\"'")
            .element("V", "<&>'\"");
        assert_eq!(
            w.finish(),
            "<R xmlns=\"http://x/?a=1&amp;b=&quot;2&quot;&apos;\"><V>&lt;&amp;&gt;'\"</V></R>"
        );
    }

    #[test]
    fn nesting_lists_and_options() {
        let mut w = XmlWriter::new();
        w.nested("Result", |w| {
            w.members("LoadBalancers", ["a", "b"], |w, name| {
                w.element("LoadBalancerName", name);
            });
            w.members("Empty", Vec::<&str>::new(), |_, _| {});
        });
        w.opt_element("NextMarker", None)
            .opt_element("Marker", Some("m"));
        // Extra ends are harmless.
        w.end().end();
        w.start("Open").start("Inner");
        assert_eq!(
            w.finish(),
            "<Result><LoadBalancers><member><LoadBalancerName>a</LoadBalancerName></member>\
             <member><LoadBalancerName>b</LoadBalancerName></member></LoadBalancers>\
             <Empty></Empty></Result><Marker>m</Marker><Open><Inner></Inner></Open>"
        );
    }
}
