//! The narrative's XHTML (narrative.html#xhtml) read as a small tree, for
//! the rules that need its content rather than its spelling:
//!
//! - XHTML is XML, so the only named entities are XML's five (`&lt;`,
//!   `&gt;`, `&amp;`, `&quot;`, `&apos;`) and character references;
//!   HTML's (`&reg;`, `&nbsp;`) are undeclared and make the narrative
//!   unreadable to an XML processor.
//! - txt-2: the narrative has some non-whitespace content (text, or an
//!   image). R4 spells the invariant `htmlChecks()`, the same expression
//!   as txt-1, so the expression cannot tell them apart; the HL7 validator
//!   evaluates txt-2 as this content test, and so do we ([`has_content`]).
//! - An internal hyperlink (`<a href="#x">`) must point at something in
//!   the resource: an element `id`, or an XHTML `id` / `<a name>` in one of
//!   its narratives.
//!
//! The reader is lenient: markup it cannot follow gives no tree, and the
//! rules that need the tree stay silent (txt-1 and the parser judge form).

use fhir_model::json::tree::Value as Json;

use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// Deeper nesting than this is not a narrative; the reader gives up.
const MAX_DEPTH: usize = 256;

/// One XHTML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XNode {
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<XNode>,
    },
    Text(String),
}

impl XNode {
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        match self {
            XNode::Element { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            XNode::Text(_) => None,
        }
    }

    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            XNode::Element { name, .. } => Some(name),
            XNode::Text(_) => None,
        }
    }

    pub(crate) fn children(&self) -> &[XNode] {
        match self {
            XNode::Element { children, .. } => children,
            XNode::Text(_) => &[],
        }
    }

    /// The text of the node and its descendants.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        self.text_into(&mut out);
        out
    }

    fn text_into(&self, out: &mut String) {
        match self {
            XNode::Text(t) => out.push_str(t),
            XNode::Element { children, .. } => children.iter().for_each(|c| c.text_into(out)),
        }
    }
}

/// What reading a narrative found: its root element (when the markup could
/// be followed) and the undeclared entities it uses (`&reg;`).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub root: Option<XNode>,
    pub bad_entities: Vec<String>,
}

/// Reads `s` (a narrative `div`).
pub(crate) fn parse(s: &str) -> Parsed {
    let mut bad_entities = Vec::new();
    // The open elements; the bottom one collects the top level.
    let mut stack: Vec<XNode> = vec![XNode::Element {
        name: String::new(),
        attrs: Vec::new(),
        children: Vec::new(),
    }];
    let mut ok = true;
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            push_child(&mut stack, XNode::Text(after[..end].to_owned()));
            rest = after.get(end + 3..).unwrap_or("");
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').unwrap_or(after.len());
            let name = after[..end].trim();
            rest = after.get(end + 1..).unwrap_or("");
            if !close(&mut stack, name) {
                ok = false;
            }
        } else if let Some(after) = rest.strip_prefix('<') {
            let Some((name, attrs, empty, len)) = start_tag(after, &mut bad_entities) else {
                ok = false;
                break;
            };
            rest = &after[len..];
            let node = XNode::Element {
                name,
                attrs,
                children: Vec::new(),
            };
            if empty {
                push_child(&mut stack, node);
            } else if stack.len() > MAX_DEPTH {
                ok = false;
                break;
            } else {
                stack.push(node);
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = decode(&rest[..end], &mut bad_entities);
            push_child(&mut stack, XNode::Text(text));
            rest = &rest[end..];
        }
    }
    let root = if ok && stack.len() == 1 {
        stack.pop().and_then(|top| match top {
            XNode::Element { children, .. } => children
                .into_iter()
                .find(|c| matches!(c, XNode::Element { .. })),
            XNode::Text(_) => None,
        })
    } else {
        None
    };
    Parsed { root, bad_entities }
}

fn push_child(stack: &mut [XNode], node: XNode) {
    if let Some(XNode::Element { children, .. }) = stack.last_mut() {
        children.push(node);
    }
}

/// Closes the open element `name`; false when it is not the innermost.
fn close(stack: &mut Vec<XNode>, name: &str) -> bool {
    if stack.len() < 2 || stack.last().and_then(XNode::name) != Some(name) {
        return false;
    }
    if let Some(node) = stack.pop() {
        push_child(stack, node);
    }
    true
}

/// A start tag after its `<`: name, attributes, whether it is empty
/// (`/>`) and the length read up to and with its `>`.
#[allow(clippy::type_complexity)]
fn start_tag(
    s: &str,
    bad: &mut Vec<String>,
) -> Option<(String, Vec<(String, String)>, bool, usize)> {
    let is_name = |c: char| !c.is_whitespace() && !matches!(c, '/' | '>' | '=' | '"' | '\'');
    let name_len = s.find(|c: char| !is_name(c)).unwrap_or(s.len());
    if name_len == 0 {
        return None;
    }
    let name = s[..name_len].to_owned();
    let mut attrs = Vec::new();
    let mut i = name_len;
    loop {
        let rest = s.get(i..)?;
        let trimmed = rest.trim_start();
        i += rest.len() - trimmed.len();
        if trimmed.starts_with("/>") {
            return Some((name, attrs, true, i + 2));
        }
        if trimmed.starts_with('>') {
            return Some((name, attrs, false, i + 1));
        }
        let key_len = trimmed.find(|c: char| !is_name(c)).unwrap_or(trimmed.len());
        if key_len == 0 {
            return None;
        }
        let key = trimmed[..key_len].to_owned();
        i += key_len;
        let rest = s.get(i..)?.trim_start();
        let rest = rest.strip_prefix('=')?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = &rest[1..];
        let end = body.find(quote)?;
        attrs.push((key, decode(&body[..end], bad)));
        // Advance past `= "value"` as it was spelled.
        let consumed = s.get(i..)?.len() - body[end + 1..].len();
        i += consumed;
    }
}

/// Text with its entity and character references replaced; undeclared
/// named entities are recorded and kept as written.
fn decode(s: &str, bad: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .char_indices()
            .take(40)
            .find(|(_, c)| *c == ';' || c.is_whitespace() || *c == '&')
            .filter(|(_, c)| *c == ';')
            .map(|(j, _)| j);
        let Some(end) = end else {
            // A bare `&`: not a reference; left for the XML reader to judge.
            out.push('&');
            rest = after;
            continue;
        };
        let name = &after[..end];
        let decoded = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => out.push(c),
            None => {
                if !name.is_empty() && !name.starts_with('#') {
                    bad.push(format!("&{name};"));
                }
                out.push('&');
                out.push_str(name);
                out.push(';');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// txt-2: some text that is not white space (as XML counts it), or an
/// image.
pub(crate) fn has_content(node: &XNode) -> bool {
    match node {
        XNode::Text(t) => !t.trim_matches(|c: char| c <= ' ').is_empty(),
        XNode::Element { name, children, .. } => name == "img" || children.iter().any(has_content),
    }
}

/// txt-2 on a narrative `div`: `None` when the markup cannot be read.
pub(crate) fn div_has_content(div: &str) -> Option<bool> {
    parse(div).root.as_ref().map(has_content)
}

/// txt-2 evaluated on the `div` node of the walk.
pub(crate) fn txt2(node: fhirpath::Node<'_>) -> Option<bool> {
    match node.value {
        Some(Json::String(div)) => div_has_content(div),
        _ => None,
    }
}

/// The checks of one narrative `div` at `location`, inside `root` (the
/// resource whose ids its internal links may point at).
pub fn check_div(div: &str, root: &Json, location: &str, issues: &mut Vec<Issue>) {
    let parsed = parse(div);
    let mut seen: Vec<&str> = Vec::new();
    for e in &parsed.bad_entities {
        if seen.contains(&e.as_str()) {
            continue;
        }
        seen.push(e);
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            location,
            format!(
                "Invalid entity in the XHTML ('{e}'): XHTML only knows XML's entities (&lt; &gt; &amp; &quot; &apos;) and character references such as &#174;"
            ),
        ));
    }
    let Some(top) = &parsed.root else {
        return;
    };
    let mut links = Vec::new();
    internal_links(top, "div", &mut links);
    if links.is_empty() {
        return;
    }
    let mut targets = Vec::new();
    collect_targets(root, &mut targets, 0);
    for (href, path, text) in links {
        let id = &href[1..];
        if !targets.iter().any(|t| t == id) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Invalid,
                location,
                format!(
                    "Hyperlink '{href}' at '{path}' for '{}' does not resolve: nothing in the resource has the id or anchor name '{id}'",
                    text.trim()
                ),
            ));
        }
    }
}

/// `<a href="#…">` links: (href, XHTML path, link text).
fn internal_links(node: &XNode, path: &str, out: &mut Vec<(String, String, String)>) {
    for c in node.children() {
        let Some(name) = c.name() else {
            continue;
        };
        let cpath = format!("{path}/{name}");
        if name == "a" {
            if let Some(href) = c.attr("href") {
                if href.len() > 1 && href.starts_with('#') {
                    out.push((href.to_owned(), cpath.clone(), c.text()));
                }
            }
        }
        internal_links(c, &cpath, out);
    }
}

/// What an internal link may point at: every `id` of the resource (its
/// own, its elements', its contained resources') and every XHTML `id` or
/// `<a name>` of its narratives.
fn collect_targets(v: &Json, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Json::Object(m) => {
            for (k, val) in m {
                match (k.as_str(), val) {
                    ("id", Json::String(s)) => out.push(s.clone()),
                    ("div", Json::String(s)) => {
                        if let Some(root) = parse(s).root {
                            xhtml_targets(&root, out);
                        }
                    }
                    _ => collect_targets(val, out, depth + 1),
                }
            }
        }
        Json::Array(a) => a.iter().for_each(|x| collect_targets(x, out, depth + 1)),
        _ => {}
    }
}

fn xhtml_targets(node: &XNode, out: &mut Vec<String>) {
    if let Some(id) = node.attr("id") {
        out.push(id.to_owned());
    }
    if node.name() == Some("a") {
        if let Some(n) = node.attr("name") {
            out.push(n.to_owned());
        }
    }
    node.children().iter().for_each(|c| xhtml_targets(c, out));
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    const NS: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";

    #[test]
    fn reads_markup() {
        let p = parse(&format!(
            "<div {NS}><p a='1' b=\"x&amp;y\">t &lt; u</p><br/><!-- c --></div>"
        ));
        let root = p.root.expect("root");
        assert_eq!(root.name(), Some("div"));
        assert_eq!(root.children()[0].attr("b"), Some("x&y"));
        assert_eq!(root.text(), "t < u");
        assert!(p.bad_entities.is_empty());
        assert!(parse("<div><p></div>").root.is_none());
    }

    #[test]
    fn txt2_content() {
        assert_eq!(
            div_has_content(&format!("<div {NS}>\n <p></p> </div>")),
            Some(false)
        );
        assert_eq!(
            div_has_content(&format!("<div {NS}><p>x</p></div>")),
            Some(true)
        );
        assert_eq!(
            div_has_content(&format!("<div {NS}><img src=\"a.png\"/></div>")),
            Some(true)
        );
        assert_eq!(
            div_has_content(&format!("<div {NS}>&#160;</div>")),
            Some(true)
        );
    }

    fn run(resource: &str) -> Vec<String> {
        let v = tree::parse(resource.as_bytes()).expect("json");
        let Some(Json::Object(text)) = crate::json::field(&v, "text") else {
            panic!("no text");
        };
        let div = match text.iter().find(|(k, _)| k == "div") {
            Some((_, Json::String(s))) => s.clone(),
            _ => panic!("no div"),
        };
        let mut issues = Vec::new();
        check_div(&div, &v, "X.text.div", &mut issues);
        issues.into_iter().map(|i| i.message).collect()
    }

    #[test]
    fn undeclared_entities() {
        let bad = r#"{"resourceType":"Basic","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">CPT&reg; &reg; &amp; &#174;</div>"}}"#;
        let m = run(bad);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("'&reg;'"));
        let good = r#"{"resourceType":"Basic","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">A &amp; B &#xAE; AT&T</div>"}}"#;
        assert!(run(good).is_empty());
    }

    #[test]
    fn internal_links_resolve() {
        let good = r##"{"resourceType":"List","id":"l","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><a name=\"top\"> </a><a href=\"#top\">up</a><a href=\"#app\">A</a><a href=\"#l\">me</a><a href=\"#\">x</a><a href=\"http://x.org/#y\">e</a></div>"},
            "contained":[{"resourceType":"Appointment","id":"app"}]}"##;
        assert!(run(good).is_empty(), "{:?}", run(good));
        let bad = r##"{"resourceType":"List","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><table><tr><td><a href=\"#x/app\">A</a></td></tr></table></div>"},
            "contained":[{"resourceType":"Appointment","id":"app"}]}"##;
        let m = run(bad);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("Hyperlink '#x/app' at 'div/table/tr/td/a' for 'A'"));
    }
}
