//! Reading FHIR XML into the JSON tree FHIR JSON would give.
//!
//! The reader walks the document once with quick-xml, looking every element
//! up in the type tables of [`crate::meta`]: that says whether it repeats,
//! whether it is a primitive (`value` attribute, `_name` extensions), a
//! resource wrapped in its holder, the XHTML narrative (kept as the exact
//! markup it was sent as), or a complex type to descend into. Like the JSON
//! reader it records every problem with its path and goes on.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{IssueKind, ParseError, ParseIssue};
use crate::json::tree::{Map, Value};
use crate::meta::{type_info, ElementInfo, Kind, TypeInfo};
use crate::primitives::Decimal;

use super::{is_attribute, is_json_number, is_primitive, FHIR_NS, XHTML_NS};

/// Deeper than this is an attack, not a resource.
const MAX_DEPTH: usize = 200;
const MAX_ISSUES: usize = 100;

/// Reads a resource from FHIR XML into its JSON tree; the caller reads the
/// tree into the model, which checks everything XML does not.
pub fn read(bytes: &[u8]) -> Result<Value, ParseError> {
    match read_lenient(bytes)? {
        (tree, issues) if issues.is_empty() => Ok(tree),
        (_, issues) => Err(ParseError { issues }),
    }
}

/// Like [`read`], but a well-formed document gives its tree along with the
/// problems found (elements out of order, unknown elements, bad values),
/// as validators do when loading definitions written by hand. `Err` only
/// when the XML is not well-formed.
pub fn read_lenient(bytes: &[u8]) -> Result<(Value, Vec<ParseIssue>), ParseError> {
    let mut r = XmlReader {
        r: Reader::from_reader(bytes),
        src: bytes,
        issues: Vec::new(),
        depth: 0,
    };
    r.r.config_mut().trim_text(false);
    match r.document() {
        Ok(map) => Ok((Value::Object(map), r.issues)),
        Err(Fatal) => Err(ParseError { issues: r.issues }),
    }
}

/// The document is not well-formed XML; the issue is already recorded.
struct Fatal;

struct XmlReader<'a> {
    r: Reader<&'a [u8]>,
    src: &'a [u8],
    issues: Vec<ParseIssue>,
    depth: usize,
}

/// An element start: its tag, whether it is empty (`<a/>`), and the offset
/// of its `<` in the source (for the narrative, kept verbatim).
struct Child<'a> {
    tag: BytesStart<'a>,
    empty: bool,
    at: usize,
}

/// What a repeating or single element has gathered: for each occurrence its
/// value and, for primitives, its `_name` object.
struct Gathered {
    json: String,
    many: bool,
    primitive: bool,
    items: Vec<(Option<Value>, Option<Value>)>,
}

impl<'a> XmlReader<'a> {
    fn issue(&mut self, kind: IssueKind, path: &str, message: impl Into<String>) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(ParseIssue {
                kind,
                expression: path.to_owned(),
                message: message.into(),
            });
        }
    }

    fn syntax(&mut self, message: impl std::fmt::Display) -> Fatal {
        let at = usize::try_from(self.r.error_position())
            .unwrap_or(0)
            .min(self.src.len());
        let before = &self.src[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        self.issues.clear();
        self.issue(
            IssueKind::Syntax,
            "",
            format!("malformed XML: {message} at line {line} column {column}"),
        );
        Fatal
    }

    fn position(&self) -> usize {
        usize::try_from(self.r.buffer_position()).unwrap_or(0)
    }

    /// The next child element of the current one, or `None` at its end.
    /// Text between elements must be white space: FHIR XML has no mixed
    /// content outside the narrative.
    fn next_child(&mut self, path: &str) -> Result<Option<Child<'a>>, Fatal> {
        loop {
            let at = self.position();
            let event = match self.r.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.syntax(e)),
            };
            match event {
                Event::Start(tag) => {
                    return Ok(Some(Child {
                        tag,
                        empty: false,
                        at,
                    }))
                }
                Event::Empty(tag) => {
                    return Ok(Some(Child {
                        tag,
                        empty: true,
                        at,
                    }))
                }
                Event::End(_) => return Ok(None),
                Event::Eof => return Err(self.syntax("unexpected end of document")),
                Event::Text(t) => {
                    if !t.as_ref().bytes().all(|b: u8| b.is_ascii_whitespace()) {
                        self.issue(IssueKind::Structure, path, "text is not allowed here");
                    }
                }
                Event::GeneralRef(_) | Event::CData(_) => {
                    self.issue(IssueKind::Structure, path, "text is not allowed here");
                }
                Event::DocType(_) => return Err(self.syntax("a DOCTYPE is not allowed")),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            }
        }
    }

    /// Skips the rest of an element already started.
    fn skip(&mut self, child: &Child) -> Result<(), Fatal> {
        if !child.empty {
            if let Err(e) = self.r.read_to_end(child.tag.name()) {
                return Err(self.syntax(e));
            }
        }
        Ok(())
    }

    fn document(&mut self) -> Result<Map, Fatal> {
        let Some(root) = self.next_child("")? else {
            return Err(self.syntax("no root element"));
        };
        let ns = attr(self, &root.tag, "xmlns")?;
        if ns.as_deref() != Some(FHIR_NS) {
            self.issue(
                IssueKind::Structure,
                "",
                format!("the root element must be in the FHIR namespace {FHIR_NS}"),
            );
        }
        let map = self.resource(&root, "")?;
        // Only comments, processing instructions and white space may follow.
        loop {
            match self.r.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(Event::Text(t)) if t.as_ref().bytes().all(|b: u8| b.is_ascii_whitespace()) => {}
                Ok(_) => return Err(self.syntax("content after the root element")),
                Err(e) => return Err(self.syntax(e)),
            }
        }
        Ok(map.unwrap_or_default())
    }

    /// A resource element (`<Patient>`); `None` when it names no resource.
    fn resource(&mut self, child: &Child, path: &str) -> Result<Option<Map>, Fatal> {
        let name = child.tag.name().as_ref().to_owned();
        let info = match type_info(&name) {
            Some(i) if i.kind == Kind::Resource => i,
            _ => {
                let at = if path.is_empty() {
                    String::new()
                } else {
                    path.to_owned()
                };
                self.issue(
                    IssueKind::UnknownResourceType,
                    &at,
                    format!("unknown resource type '{name}'"),
                );
                self.skip(child)?;
                return Ok(None);
            }
        };
        let path = if path.is_empty() {
            name.clone()
        } else {
            path.to_owned()
        };
        for a in child.tag.attributes() {
            let Ok(a) = a else {
                return Err(self.syntax("malformed attribute"));
            };
            if !is_namespace_attribute(a.key.as_ref()) {
                self.issue(
                    IssueKind::UnknownElement,
                    &path,
                    format!("unknown attribute '{}'", a.key.as_ref()),
                );
            }
        }
        let mut map = vec![("resourceType".to_owned(), Value::String(name))];
        if !child.empty {
            self.children(info, &mut map, &path)?;
        }
        Ok(Some(map))
    }

    fn children(&mut self, info: &TypeInfo, map: &mut Map, path: &str) -> Result<(), Fatal> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.syntax(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut gathered: Vec<Gathered> = Vec::new();
        let mut last = 0;
        while let Some(child) = self.next_child(path)? {
            let local = child.tag.name().as_ref().to_owned();
            let Some((index, el, type_code)) = find_element(info, &local) else {
                self.issue(
                    IssueKind::UnknownElement,
                    &format!("{path}.{local}"),
                    format!("unknown element '{local}'"),
                );
                self.skip(&child)?;
                continue;
            };
            if index < last {
                self.issue(
                    IssueKind::Structure,
                    &format!("{path}.{local}"),
                    "element out of order: FHIR XML keeps the order of the definition",
                );
            }
            last = index;
            let slot = match gathered.iter().position(|g| g.json == local) {
                Some(i) => i,
                None => {
                    gathered.push(Gathered {
                        json: local.clone(),
                        many: el.many,
                        primitive: is_primitive(type_code) && type_code != "xhtml",
                        items: Vec::new(),
                    });
                    gathered.len() - 1
                }
            };
            let n = gathered[slot].items.len();
            let here = if el.many {
                format!("{path}.{local}[{n}]")
            } else {
                format!("{path}.{local}")
            };
            if !el.many && n > 0 {
                self.issue(IssueKind::Structure, &here, "this element does not repeat");
            }
            let item = self.element(&child, type_code, &here)?;
            gathered[slot].items.push(item);
        }
        self.depth -= 1;
        for g in gathered {
            emit(map, g);
        }
        Ok(())
    }

    /// One occurrence of an element: its JSON value and, for a primitive,
    /// its `_name` object.
    fn element(
        &mut self,
        child: &Child,
        type_code: &str,
        path: &str,
    ) -> Result<(Option<Value>, Option<Value>), Fatal> {
        if type_code == "xhtml" {
            return self.narrative(child, path).map(|v| (v, None));
        }
        if type_code == "Resource" {
            if child.empty {
                self.issue(IssueKind::Structure, path, "expected a resource inside");
                return Ok((None, None));
            }
            let mut found = None;
            while let Some(inner) = self.next_child(path)? {
                if found.is_some() {
                    self.issue(
                        IssueKind::Structure,
                        path,
                        "only one resource is allowed here",
                    );
                    self.skip(&inner)?;
                    continue;
                }
                found = self.resource(&inner, path)?;
            }
            return Ok((found.map(Value::Object), None));
        }
        if is_primitive(type_code) {
            return self.primitive(child, type_code, path);
        }
        let Some(info) = type_info(type_code) else {
            self.skip(child)?;
            return Ok((None, None));
        };
        let mut map = Map::new();
        for a in child.tag.attributes() {
            let Ok(a) = a else {
                return Err(self.syntax("malformed attribute"));
            };
            let key = a.key.as_ref().to_owned();
            if is_attribute(false, info.name, &key) {
                let v = attr_value(self, &a)?;
                map.push((key, Value::String(v)));
            } else if !is_namespace_attribute(&key) {
                self.issue(
                    IssueKind::UnknownElement,
                    path,
                    format!("unknown attribute '{key}'"),
                );
            }
        }
        if !child.empty {
            self.children(info, &mut map, path)?;
        }
        Ok((Some(Value::Object(map)), None))
    }

    fn primitive(
        &mut self,
        child: &Child,
        type_code: &str,
        path: &str,
    ) -> Result<(Option<Value>, Option<Value>), Fatal> {
        let mut value = None;
        let mut ext = Map::new();
        for a in child.tag.attributes() {
            let Ok(a) = a else {
                return Err(self.syntax("malformed attribute"));
            };
            let key = a.key.as_ref().to_owned();
            let text = attr_value(self, &a)?;
            match key.as_str() {
                "value" => value = self.json_value(type_code, text, path),
                "id" => ext.push(("id".to_owned(), Value::String(text))),
                k if is_namespace_attribute(k) => {}
                _ => self.issue(
                    IssueKind::UnknownElement,
                    path,
                    format!("unknown attribute '{key}'"),
                ),
            }
        }
        if !child.empty {
            let mut extensions = Vec::new();
            let info = type_info("Extension");
            while let Some(inner) = self.next_child(path)? {
                let name = inner.tag.name().as_ref().to_owned();
                match (name.as_str(), info) {
                    ("extension", Some(info)) => {
                        let here = format!("{path}.extension[{}]", extensions.len());
                        let mut map = Map::new();
                        for a in inner.tag.attributes() {
                            let Ok(a) = a else {
                                return Err(self.syntax("malformed attribute"));
                            };
                            if a.key.as_ref() == "url" {
                                map.push(("url".to_owned(), Value::String(attr_value(self, &a)?)));
                            } else {
                                self.issue(
                                    IssueKind::UnknownElement,
                                    &here,
                                    format!("unknown attribute '{}'", a.key.as_ref()),
                                );
                            }
                        }
                        if !inner.empty {
                            self.children(info, &mut map, &here)?;
                        }
                        extensions.push(Value::Object(map));
                    }
                    _ => {
                        self.issue(
                            IssueKind::UnknownElement,
                            &format!("{path}.{name}"),
                            format!("unknown element '{name}'"),
                        );
                        self.skip(&inner)?;
                    }
                }
            }
            if !extensions.is_empty() {
                ext.push(("extension".to_owned(), Value::Array(extensions)));
            }
        }
        let ext = if ext.is_empty() {
            None
        } else {
            Some(Value::Object(ext))
        };
        Ok((value, ext))
    }

    /// The JSON form of a `value` attribute: numbers and booleans bare.
    fn json_value(&mut self, type_code: &str, text: String, path: &str) -> Option<Value> {
        if type_code == "boolean" {
            match text.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => {
                    self.issue(
                        IssueKind::Value,
                        path,
                        format!("invalid boolean value {text:?}"),
                    );
                    None
                }
            }
        } else if is_json_number(type_code) {
            // A decimal's pattern is exactly JSON's number grammar.
            if Decimal::new(text.as_str()).is_ok() {
                Some(Value::Number(text))
            } else {
                self.issue(
                    IssueKind::Value,
                    path,
                    format!("invalid {type_code} value {text:?}"),
                );
                None
            }
        } else {
            Some(Value::String(text))
        }
    }

    /// The narrative `div`, kept as the exact markup of the source, which
    /// is what FHIR JSON carries.
    fn narrative(&mut self, child: &Child, path: &str) -> Result<Option<Value>, Fatal> {
        let ns = attr(self, &child.tag, "xmlns")?;
        if ns.as_deref() != Some(XHTML_NS) {
            self.issue(
                IssueKind::Structure,
                path,
                format!("the narrative div must be in the XHTML namespace {XHTML_NS}"),
            );
        }
        self.skip(child)?;
        let end = self.position().min(self.src.len());
        let raw = self.src.get(child.at..end).unwrap_or_default();
        match std::str::from_utf8(raw) {
            Ok(s) => match undeclared_entity(s) {
                // Without a DTD XML knows five named entities; the reader
                // skipped the narrative, so it says so here.
                Some(name) => Err(self.syntax(format!(
                    "The entity \"{name}\" was referenced, but not declared."
                ))),
                None => Ok(Some(Value::String(s.to_owned()))),
            },
            Err(_) => Err(self.syntax("the narrative is not UTF-8")),
        }
    }
}

/// The first named entity reference (`&reg;`) in markup that is not one
/// of XML's five; comments and CDATA sections are not markup.
fn undeclared_entity(markup: &str) -> Option<&str> {
    let mut rest = markup;
    while let Some(i) = rest.find(['&', '<']) {
        let after = &rest[i + 1..];
        if rest[i..].starts_with("<!--") {
            rest = after.find("-->").map_or("", |j| &after[j + 3..]);
            continue;
        }
        if rest[i..].starts_with("<![CDATA[") {
            rest = after.find("]]>").map_or("", |j| &after[j + 3..]);
            continue;
        }
        if rest[i..].starts_with('&') {
            let end = after.find(';')?;
            let name = &after[..end];
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
            if is_name
                && !name.starts_with('#')
                && !matches!(name, "lt" | "gt" | "amp" | "quot" | "apos")
            {
                return Some(name);
            }
        }
        rest = after;
    }
    None
}

/// Namespace declarations and `xsi:schemaLocation` may stand on any
/// element; they are XML's business, not FHIR content.
fn is_namespace_attribute(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:") || key == "xsi:schemaLocation"
}

fn attr_value(
    r: &mut XmlReader,
    a: &quick_xml::events::attributes::Attribute,
) -> Result<String, Fatal> {
    match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
        Ok(v) => Ok(v.into_owned()),
        Err(e) => Err(r.syntax(e)),
    }
}

fn attr(r: &mut XmlReader, tag: &BytesStart, name: &str) -> Result<Option<String>, Fatal> {
    for a in tag.attributes() {
        let Ok(a) = a else {
            return Err(r.syntax("malformed attribute"));
        };
        if a.key.as_ref() == name {
            return attr_value(r, &a).map(Some);
        }
    }
    Ok(None)
}

/// The element of `info` an XML element name stands for: its position,
/// definition and, for a choice, the type its suffix names. Elements that
/// XML writes as attributes (`Element.id`, `Extension.url`) are not
/// element names.
fn find_element(
    info: &TypeInfo,
    local: &str,
) -> Option<(usize, &'static ElementInfo, &'static str)> {
    info.element_named(local)
        .filter(|(_, el, _)| !is_attribute(info.kind == Kind::Resource, info.name, el.name))
}

/// Adds what one element gathered to the JSON object: `name` (an array for
/// a repeating element, with `null` where an item has only extensions) and,
/// for primitives with extensions, `_name` alike.
fn emit(map: &mut Map, g: Gathered) {
    let Gathered {
        json,
        many,
        primitive,
        items,
    } = g;
    if !primitive {
        let values: Vec<Value> = items.into_iter().filter_map(|(v, _)| v).collect();
        if values.is_empty() {
            return;
        }
        if many {
            map.push((json, Value::Array(values)));
        } else if let Some(v) = values.into_iter().last() {
            map.push((json, v));
        }
        return;
    }
    let has_value = items.iter().any(|(v, _)| v.is_some());
    let has_ext = items.iter().any(|(_, e)| e.is_some());
    let ext_key = format!("_{json}");
    if many {
        let (values, exts): (Vec<_>, Vec<_>) = items
            .into_iter()
            .map(|(v, e)| (v.unwrap_or(Value::Null), e.unwrap_or(Value::Null)))
            .unzip();
        if has_value {
            map.push((json, Value::Array(values)));
        }
        if has_ext {
            map.push((ext_key, Value::Array(exts)));
        }
    } else if let Some((v, e)) = items.into_iter().last() {
        if let Some(v) = v {
            map.push((json, v));
        }
        if let Some(e) = e {
            map.push((ext_key, e));
        }
    }
}
