//! The narrative `div` (narrative.html#xhtml), checked as XHTML whenever a
//! resource is read, from JSON and from XML alike, so both formats accept
//! exactly the same narratives and the server's XML rendering of any stored
//! narrative is well-formed.
//!
//! The rules, those of the spec and of txt-1 (the HL7 validator's element
//! and attribute lists):
//! - well-formed XML (every tag closed, names matched, no DOCTYPE), whose
//!   root is a `div` in the XHTML namespace
//!   (`xmlns="http://www.w3.org/1999/xhtml"`), with nothing but white space
//!   and comments around it;
//! - XHTML is XML: the only named entities are XML's five; HTML's
//!   (`&nbsp;`, `&reg;`) are refused (write `&#160;` or the character), and
//!   character references must name characters XML allows;
//! - no active content: only the basic XHTML elements and attributes the
//!   spec allows, so no `script`, `style` sheets, forms, frames, objects or
//!   event handlers (`onclick=`), and no `javascript:`/`vbscript:` URLs.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The XHTML namespace the narrative `div` must be in.
pub const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Deeper nesting than this is an attack, not a narrative.
const MAX_DEPTH: usize = 256;

/// The elements a narrative may use (the HL7 validator's list for txt-1).
const ELEMENTS: &[&str] = &[
    "p",
    "br",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "span",
    "b",
    "em",
    "i",
    "strong",
    "small",
    "big",
    "tt",
    "dfn",
    "q",
    "var",
    "abbr",
    "acronym",
    "cite",
    "blockquote",
    "hr",
    "address",
    "bdo",
    "kbd",
    "sub",
    "sup",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "pre",
    "table",
    "caption",
    "colgroup",
    "col",
    "thead",
    "tr",
    "tfoot",
    "tbody",
    "th",
    "td",
    "code",
    "samp",
    "img",
    "map",
    "area",
];

/// Attributes any element may carry.
const ATTRIBUTES: &[&str] = &[
    "title",
    "style",
    "class",
    "id",
    "idref",
    "lang",
    "xml:lang",
    "xml:space",
    "dir",
    "accesskey",
    "tabindex",
    // tables
    "span",
    "width",
    "align",
    "valign",
    "char",
    "charoff",
    "abbr",
    "axis",
    "headers",
    "scope",
    "rowspan",
    "colspan",
];

/// Attributes allowed on one element only, as `element.attribute`.
const ELEMENT_ATTRIBUTES: &[&str] = &[
    "a.href",
    "a.name",
    "a.charset",
    "a.type",
    "a.hreflang",
    "a.rel",
    "a.rev",
    "a.shape",
    "a.coords",
    "img.src",
    "img.alt",
    "img.border",
    "img.longdesc",
    "img.height",
    "img.width",
    "img.usemap",
    "img.ismap",
    "blockquote.cite",
    "q.cite",
    "map.name",
    "area.shape",
    "area.coords",
    "area.href",
    "area.nohref",
    "area.alt",
    "table.summary",
    "table.width",
    "table.border",
    "table.frame",
    "table.rules",
    "table.cellspacing",
    "table.cellpadding",
    "pre.space",
    "td.nowrap",
];

/// Checks a narrative `div`; `Err` says what is wrong, for the issue at
/// `….text.div`.
pub fn check(div: &str) -> Result<(), String> {
    if let Some(c) = crate::primitives::control_char(div) {
        return Err(crate::primitives::control_char_message(c));
    }
    let mut r = Reader::from_str(div);
    let config = r.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.check_comments = true;
    let mut depth = 0usize;
    let mut root_done = false;
    loop {
        let event = r
            .read_event()
            .map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
        match event {
            Event::Start(tag) | Event::Empty(tag) if root_done => {
                return Err(format!(
                    "the narrative must be one div element; found <{}> after it",
                    name_of(&tag)
                ));
            }
            Event::Start(tag) => {
                element(&tag, depth == 0)?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "the narrative nests deeper than {MAX_DEPTH} levels"
                    ));
                }
            }
            Event::Empty(tag) => {
                element(&tag, depth == 0)?;
                if depth == 0 {
                    root_done = true;
                }
            }
            Event::End(_) => {
                // check_end_names made sure it closes the open element.
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    root_done = true;
                }
            }
            Event::Text(t) => {
                if depth == 0 && !t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) {
                    return Err(if root_done {
                        "the narrative must be one div element; found text after it".to_owned()
                    } else {
                        "the narrative must be XHTML starting with <div xmlns=\"http://www.w3.org/1999/xhtml\">, not plain text".to_owned()
                    });
                }
            }
            Event::CData(_) if depth == 0 => {
                return Err("the narrative must be one div element".to_owned());
            }
            Event::CData(_) | Event::Comment(_) => {}
            Event::GeneralRef(e) => {
                if depth == 0 {
                    return Err("the narrative must be one div element".to_owned());
                }
                if e.is_char_ref() {
                    match e.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => {}
                        _ => {
                            return Err(format!(
                                "the character reference &{}; names a character XML does not allow",
                                e.as_ref() as &str
                            ))
                        }
                    }
                } else {
                    entity(e.as_ref())?;
                }
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed in the narrative".into()),
            Event::Decl(_) | Event::PI(_) => {
                return Err(
                    "XML declarations and processing instructions are not allowed in the narrative"
                        .into(),
                )
            }
            Event::Eof => break,
        }
    }
    if depth > 0 {
        return Err("the narrative is not well-formed XHTML: an element is not closed".into());
    }
    if !root_done {
        return Err("the narrative must be XHTML starting with <div xmlns=\"http://www.w3.org/1999/xhtml\">".into());
    }
    Ok(())
}

/// A named entity reference: XML's five only.
fn entity(name: &str) -> Result<(), String> {
    if matches!(name, "lt" | "gt" | "amp" | "quot" | "apos") {
        Ok(())
    } else {
        Err(format!(
            "the entity &{name}; is not XML: XHTML knows only &lt; &gt; &amp; &quot; &apos; and character references (write &#160; for &nbsp;, or the character itself)"
        ))
    }
}

fn name_of(tag: &BytesStart) -> String {
    tag.name().as_ref().to_owned()
}

/// One element start: allowed name and attributes; the root is a `div` in
/// the XHTML namespace.
fn element(tag: &BytesStart, root: bool) -> Result<(), String> {
    let name = name_of(tag);
    if root && name != "div" {
        return Err(format!(
            "the narrative must be a div element in the XHTML namespace, not <{name}>"
        ));
    }
    if !ELEMENTS.contains(&name.as_str()) {
        return Err(format!(
            "the element <{name}> is not allowed in a narrative (txt-1: only basic XHTML, no scripts, forms, frames, objects or styles sheets)"
        ));
    }
    let mut namespace = None;
    for a in tag.attributes().with_checks(true) {
        let a = a.map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
        let key = a.key.as_ref().to_owned();
        let value =
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, n),
                    ) => entity(&n).err().unwrap_or_default(),
                    other => format!("the attribute {key} of <{name}> is not well-formed: {other}"),
                })?;
        if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
            return Err(format!(
                "the attribute {key} of <{name}> holds the character U+{:04X}, which XML does not allow",
                c as u32
            ));
        }
        if key == "xmlns" {
            if value != XHTML_NS {
                return Err(format!(
                    "the narrative must be in the XHTML namespace {XHTML_NS}, not {value:?}"
                ));
            }
            namespace = Some(());
            continue;
        }
        if key.starts_with("xmlns:") {
            continue;
        }
        let combo = format!("{name}.{key}");
        if !ATTRIBUTES.contains(&key.as_str()) && !ELEMENT_ATTRIBUTES.contains(&combo.as_str()) {
            return Err(format!(
                "the attribute {key} is not allowed on <{name}> in a narrative (txt-1: no event handlers or other active content)"
            ));
        }
        if active_url(&value) {
            return Err(format!(
                "the attribute {key} of <{name}> holds a script URL; active content is not allowed in a narrative (txt-1)"
            ));
        }
    }
    if root && namespace.is_none() {
        return Err(format!(
            "the narrative div must be in the XHTML namespace: <div xmlns=\"{XHTML_NS}\">"
        ));
    }
    Ok(())
}

/// A value a browser would run: a `javascript:` or `vbscript:` URL (also
/// spelled with white space or control characters inside, which browsers
/// skip), a `data:` URL other than an image, or a CSS `expression(`.
fn active_url(value: &str) -> bool {
    let v: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    v.contains("javascript:")
        || v.contains("vbscript:")
        || v.contains("expression(")
        || (v.starts_with("data:") && !v.starts_with("data:image/"))
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";

    fn div(body: &str) -> String {
        format!("<div {NS}>{body}</div>")
    }

    #[test]
    fn ordinary_narratives_pass() {
        for ok in [
            div("<p>x</p>"),
            div("A &amp; B &#160; &#xAE; <br/><!-- c --><![CDATA[ x ]]>"),
            div("<table class=\"grid\"><tr><td colspan=\"2\">1</td></tr></table>"),
            div("<a href=\"http://x.org/#y\" name=\"n\">l</a><img src=\"data:image/png;base64,AA==\" alt=\"i\"/>"),
            format!("\n <div {NS} xml:lang=\"ja\">\u{3042}</div>\n"),
            div("<pre xml:space=\"preserve\">a  b</pre>"),
            format!("<div {NS}/>"),
        ] {
            assert_eq!(check(&ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_is_not_xhtml_is_refused() {
        for bad in [
            "<p>x</p>".to_owned(),
            "plain text".to_owned(),
            "<div>no namespace</div>".to_owned(),
            "<div xmlns=\"http://example.org\">x</div>".to_owned(),
            div("<p>unclosed"),
            format!("<div {NS}><p>x</div>"),
            format!("<div {NS}>x"),
            div("a&nbsp;b"),
            div("<p title=\"&reg;\">x</p>"),
            div("&#1;"),
            div("\u{1}"),
            format!("{}<p>after</p>", div("x")),
            format!("{} text after", div("x")),
            format!("<!DOCTYPE html>{}", div("x")),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
        assert!(check(&div("a&nbsp;b")).is_err_and(|e| e.contains("&nbsp;")));
    }

    #[test]
    fn active_content_is_refused() {
        for bad in [
            div("<script>alert(1)</script>"),
            div("<img src=\"x\" onerror=\"alert(1)\"/>"),
            div("<p onclick=\"x()\">x</p>"),
            div("<a href=\"javascript:alert(1)\">x</a>"),
            div("<a href=\" JavaScript&#x3A;alert(1)\">x</a>"),
            div("<a href=\"java&#9;script:alert(1)\">x</a>"),
            div("<iframe src=\"http://x\"></iframe>"),
            div("<form><input/></form>"),
            div("<object data=\"x\"></object>"),
            div("<style>p{}</style>"),
            div("<a href=\"data:text/html,x\">x</a>"),
            div("<p style=\"width: expression(alert(1))\">x</p>"),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
    }
}
