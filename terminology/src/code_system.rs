//! The in-memory index of one CodeSystem resource.
//!
//! Read from the `fhir-model` JSON tree rather than the typed
//! `fhir_model::generated::CodeSystem`: the index keeps only what the
//! operations need (a loaded package's 1,062 CodeSystems carry narrative,
//! contacts and long descriptions that would be built and dropped), and a
//! concept's `property.value[x]` is read straight into [`PropertyValue`]
//! instead of through the generated choice enum. Primitive formats are the
//! store's job, checked when the resource is written; the index only
//! refuses what would make its answers wrong (a concept without a code, a
//! code twice).
//!
//! See codesystem.html, and concept-properties for the property URIs the
//! engine understands (`inactive`, `status`, `notSelectable`, `parent`,
//! `child`).

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::{self, Map, Value};

use crate::Error;

/// The URI prefix of the properties every code system may use
/// (http://hl7.org/fhir/concept-properties).
const CONCEPT_PROPERTIES: &str = "http://hl7.org/fhir/concept-properties#";

/// A coding as designations and property values carry it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coding {
    /// `Coding.system`.
    pub system: Option<String>,
    /// `Coding.version`.
    pub version: Option<String>,
    /// `Coding.code`.
    pub code: Option<String>,
    /// `Coding.display`.
    pub display: Option<String>,
}

/// `CodeSystem.concept.designation`: another name for a concept, often in
/// another language (`ja` beside an English display, or the reverse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Designation {
    /// A BCP-47 language tag (`ja`, `en-US`).
    pub language: Option<String>,
    /// What kind of name this is (a SNOMED CT designation type, say).
    pub use_: Option<Coding>,
    /// The name itself.
    pub value: String,
}

/// `CodeSystem.concept.property.value[x]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// `valueCode`: usually a code of the same system (`parent`, `status`).
    Code(String),
    /// `valueCoding`.
    Coding(Coding),
    /// `valueString`.
    String(String),
    /// `valueInteger`.
    Integer(i64),
    /// `valueBoolean`.
    Boolean(bool),
    /// `valueDateTime`, as written.
    DateTime(String),
    /// `valueDecimal`, its exact JSON text (FHIR decimals keep precision).
    Decimal(String),
}

/// One property of a concept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The property's code, as `CodeSystem.property.code` declares it.
    pub code: String,
    /// Its value.
    pub value: PropertyValue,
}

/// `CodeSystem.property`: the declaration of a property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyDefinition {
    /// The code concepts use for it.
    pub code: String,
    /// Its meaning, when it is one of the shared ones
    /// (`http://hl7.org/fhir/concept-properties#inactive`).
    pub uri: Option<String>,
    /// `code | Coding | string | integer | boolean | dateTime | decimal`.
    pub type_: Option<String>,
    /// What it means.
    pub description: Option<String>,
}

/// A concept, with its place in the hierarchy resolved to indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    /// The code.
    pub code: String,
    /// The display in the code system's own language.
    pub display: Option<String>,
    /// Its definition.
    pub definition: Option<String>,
    /// Other names, in other languages or uses.
    pub designations: Vec<Designation>,
    /// Its properties, in document order, except `parent` and `child`,
    /// which become [`CodeSystem::parents`] and [`CodeSystem::children`].
    pub properties: Vec<Property>,
    /// Inactive: property `inactive = true`, or `status` of `retired` or
    /// `inactive`. `deprecated` is not inactive: concept-properties says a
    /// deprecated concept may still be used.
    pub inactive: bool,
    /// Abstract: `notSelectable = true`; a grouper, not for use in data.
    pub abstract_: bool,
    parents: Vec<u32>,
    children: Vec<u32>,
}

/// One CodeSystem, indexed: concepts by code in a hash map, the
/// hierarchy as parent and child index lists.
///
/// **Invariant:** every code maps to exactly one concept, and every
/// parent/child index points into `concepts`; no operation scans the
/// concepts to find a code.
#[derive(Debug, Clone)]
pub struct CodeSystem {
    url: String,
    version: Option<String>,
    name: Option<String>,
    title: Option<String>,
    language: Option<String>,
    case_sensitive: bool,
    content: Option<String>,
    hierarchy_meaning: Option<String>,
    property_definitions: Vec<PropertyDefinition>,
    concepts: Vec<Concept>,
    by_code: HashMap<String, u32>,
    /// Lower-cased codes, only for `caseSensitive = false`.
    folded: Option<HashMap<String, u32>>,
}

/// Concept edges named by code, resolved once every code is indexed
/// (a `parent` property may name a concept that comes later).
struct PendingEdges {
    /// (parent index, child code).
    child_codes: Vec<(u32, String)>,
    /// (child index, parent code).
    parent_codes: Vec<(u32, String)>,
    /// (parent index, child index) from nesting.
    nested: Vec<(u32, u32)>,
}

impl CodeSystem {
    /// Indexes a CodeSystem from its JSON.
    pub fn from_json(bytes: &[u8]) -> Result<CodeSystem, Error> {
        let value = tree::parse(bytes).map_err(|e| Error::Syntax(e.to_string()))?;
        CodeSystem::from_tree(value)
    }

    /// Indexes a CodeSystem from a `fhir-model` JSON tree.
    pub fn from_tree(value: Value) -> Result<CodeSystem, Error> {
        let Value::Object(mut map) = value else {
            return Err(invalid("CodeSystem", "not a JSON object"));
        };
        match tree::take(&mut map, "resourceType") {
            Some(Value::String(t)) if t == "CodeSystem" => {}
            _ => return Err(invalid("CodeSystem", "resourceType is not CodeSystem")),
        }
        let url = opt_string(&mut map, "url", "CodeSystem")?
            .ok_or_else(|| invalid("CodeSystem.url", "a CodeSystem needs a url to be found by"))?;
        let case_sensitive = match tree::take(&mut map, "caseSensitive") {
            // codesystem.html leaves a missing caseSensitive unspecified;
            // exact matching is the answer that never accepts a wrong code.
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(invalid("CodeSystem.caseSensitive", "not a boolean")),
        };
        let mut cs = CodeSystem {
            version: opt_string(&mut map, "version", "CodeSystem")?,
            name: opt_string(&mut map, "name", "CodeSystem")?,
            title: opt_string(&mut map, "title", "CodeSystem")?,
            language: opt_string(&mut map, "language", "CodeSystem")?,
            content: opt_string(&mut map, "content", "CodeSystem")?,
            hierarchy_meaning: opt_string(&mut map, "hierarchyMeaning", "CodeSystem")?,
            property_definitions: Vec::new(),
            concepts: Vec::new(),
            by_code: HashMap::new(),
            folded: None,
            case_sensitive,
            url,
        };
        for (i, p) in array(&mut map, "property", "CodeSystem")?
            .into_iter()
            .enumerate()
        {
            let path = format!("CodeSystem.property[{i}]");
            let mut p = object(p, &path)?;
            let code = opt_string(&mut p, "code", &path)?
                .ok_or_else(|| invalid(&path, "a property definition needs a code"))?;
            cs.property_definitions.push(PropertyDefinition {
                code,
                uri: opt_string(&mut p, "uri", &path)?,
                type_: opt_string(&mut p, "type", &path)?,
                description: opt_string(&mut p, "description", &path)?,
            });
        }
        let roles = PropertyRoles::new(&cs.property_definitions);
        let mut pending = PendingEdges {
            child_codes: Vec::new(),
            parent_codes: Vec::new(),
            nested: Vec::new(),
        };
        let concepts = array(&mut map, "concept", "CodeSystem")?;
        cs.add_concepts(concepts, None, "CodeSystem", &roles, &mut pending)?;
        cs.resolve(pending);
        if !cs.case_sensitive {
            let mut folded = HashMap::with_capacity(cs.by_code.len());
            for (code, &i) in &cs.by_code {
                folded.entry(code.to_lowercase()).or_insert(i);
            }
            cs.folded = Some(folded);
        }
        Ok(cs)
    }

    fn add_concepts(
        &mut self,
        concepts: Vec<Value>,
        parent: Option<u32>,
        at: &str,
        roles: &PropertyRoles,
        pending: &mut PendingEdges,
    ) -> Result<(), Error> {
        // Depth is bounded by the JSON reader (200 levels), so recursion here
        // cannot exhaust the stack.
        for (i, c) in concepts.into_iter().enumerate() {
            let path = format!("{at}.concept[{i}]");
            let mut c = object(c, &path)?;
            let code = opt_string(&mut c, "code", &path)?
                .ok_or_else(|| invalid(&path, "a concept needs a code"))?;
            let index = u32::try_from(self.concepts.len())
                .map_err(|_| invalid(&path, "more than 4 billion concepts"))?;
            if self.by_code.insert(code.clone(), index).is_some() {
                return Err(Error::DuplicateCode {
                    system: self.url.clone(),
                    code,
                });
            }
            let mut concept = Concept {
                display: opt_string(&mut c, "display", &path)?,
                definition: opt_string(&mut c, "definition", &path)?,
                designations: Vec::new(),
                properties: Vec::new(),
                inactive: false,
                abstract_: false,
                parents: Vec::new(),
                children: Vec::new(),
                code,
            };
            for (j, d) in array(&mut c, "designation", &path)?.into_iter().enumerate() {
                let dpath = format!("{path}.designation[{j}]");
                let mut d = object(d, &dpath)?;
                let use_ = match tree::take(&mut d, "use") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(coding(v, &format!("{dpath}.use"))?),
                };
                concept.designations.push(Designation {
                    language: opt_string(&mut d, "language", &dpath)?,
                    value: opt_string(&mut d, "value", &dpath)?
                        .ok_or_else(|| invalid(&dpath, "a designation needs a value"))?,
                    use_,
                });
            }
            for (j, p) in array(&mut c, "property", &path)?.into_iter().enumerate() {
                let ppath = format!("{path}.property[{j}]");
                let property = property(p, &ppath)?;
                match (roles.role(&property.code), &property.value) {
                    (Role::Parent, PropertyValue::Code(v)) => {
                        pending.parent_codes.push((index, v.clone()));
                        continue;
                    }
                    (Role::Child, PropertyValue::Code(v)) => {
                        pending.child_codes.push((index, v.clone()));
                        continue;
                    }
                    (Role::Inactive, PropertyValue::Boolean(b)) => concept.inactive |= *b,
                    (Role::Status, PropertyValue::Code(s)) => {
                        concept.inactive |= s == "retired" || s == "inactive";
                    }
                    (Role::NotSelectable, PropertyValue::Boolean(b)) => concept.abstract_ |= *b,
                    _ => {}
                }
                concept.properties.push(property);
            }
            if let Some(p) = parent {
                pending.nested.push((p, index));
            }
            let nested = array(&mut c, "concept", &path)?;
            self.concepts.push(concept);
            self.add_concepts(nested, Some(index), &path, roles, pending)?;
        }
        Ok(())
    }

    /// Turns the collected edges into parent and child lists. A `parent` or
    /// `child` property naming a code the system does not define makes no
    /// edge (it cannot be walked to); the resource is accepted, because
    /// published code systems do carry such references.
    fn resolve(&mut self, pending: PendingEdges) {
        let mut edges: Vec<(u32, u32)> = pending.nested;
        for (child, code) in pending.parent_codes {
            if let Some(&p) = self.by_code.get(&code) {
                edges.push((p, child));
            }
        }
        for (parent, code) in pending.child_codes {
            if let Some(&c) = self.by_code.get(&code) {
                edges.push((parent, c));
            }
        }
        let mut seen = HashSet::with_capacity(edges.len());
        for (p, c) in edges {
            if p != c && seen.insert((p, c)) {
                self.concepts[p as usize].children.push(c);
                self.concepts[c as usize].parents.push(p);
            }
        }
    }

    /// The canonical url.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The business version, if stated.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `name`, else `title`, else the url: `$lookup` must return a name.
    pub fn name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.title.as_deref())
            .unwrap_or(&self.url)
    }

    /// The language of displays (`CodeSystem.language`).
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// Whether codes match exactly (`true` when the resource does not say).
    pub fn case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// `content`: `complete`, `fragment`, `example`, `not-present`,
    /// `supplement`.
    pub fn content(&self) -> Option<&str> {
        self.content.as_deref()
    }

    /// `hierarchyMeaning`: `is-a`, `part-of`, ….
    pub fn hierarchy_meaning(&self) -> Option<&str> {
        self.hierarchy_meaning.as_deref()
    }

    /// The declared properties.
    pub fn property_definitions(&self) -> &[PropertyDefinition] {
        &self.property_definitions
    }

    /// How many concepts.
    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    /// No concepts (`content = not-present`, for example).
    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    /// All concepts, in document order (depth first).
    pub fn concepts(&self) -> impl Iterator<Item = &Concept> {
        self.concepts.iter()
    }

    /// The concept with this code: one hash lookup, and a second on the
    /// lower-cased code when the system is case-insensitive.
    pub fn concept(&self, code: &str) -> Option<&Concept> {
        self.index_of(code).map(|i| &self.concepts[i as usize])
    }

    fn index_of(&self, code: &str) -> Option<u32> {
        if let Some(&i) = self.by_code.get(code) {
            return Some(i);
        }
        self.folded
            .as_ref()
            .and_then(|f| f.get(&code.to_lowercase()).copied())
    }

    /// The direct parents of a concept of this system.
    pub fn parents<'a>(&'a self, concept: &'a Concept) -> impl Iterator<Item = &'a Concept> {
        concept.parents.iter().map(|&i| &self.concepts[i as usize])
    }

    /// The direct children of a concept of this system.
    pub fn children<'a>(&'a self, concept: &'a Concept) -> impl Iterator<Item = &'a Concept> {
        concept.children.iter().map(|&i| &self.concepts[i as usize])
    }

    /// Whether `ancestor` is a proper ancestor of `descendant`, walking up
    /// from the descendant (a concept has few parents, a grouper many
    /// descendants). The seen set makes a cyclic `parent` graph terminate.
    pub(crate) fn is_ancestor(&self, ancestor: u32, descendant: u32) -> bool {
        let mut stack: Vec<u32> = self.concepts[descendant as usize].parents.clone();
        let mut seen = HashSet::new();
        while let Some(i) = stack.pop() {
            if i == ancestor {
                return true;
            }
            if seen.insert(i) {
                stack.extend(&self.concepts[i as usize].parents);
            }
        }
        false
    }

    /// The index of a code, if the system has it.
    pub(crate) fn find(&self, code: &str) -> Option<u32> {
        self.index_of(code)
    }

    /// The proper descendants of a concept (children, their children, …),
    /// each once, whatever the shape of the graph.
    pub(crate) fn descendants(&self, index: u32) -> Vec<u32> {
        self.walk(index, |c| &c.children)
    }

    /// The proper ancestors of a concept, each once.
    pub(crate) fn ancestors(&self, index: u32) -> Vec<u32> {
        self.walk(index, |c| &c.parents)
    }

    fn walk(&self, index: u32, next: impl Fn(&Concept) -> &Vec<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        seen.insert(index);
        let mut stack = next(&self.concepts[index as usize]).clone();
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                out.push(i);
                stack.extend(next(&self.concepts[i as usize]));
            }
        }
        out
    }

    pub(crate) fn index(&self, code: &str) -> Result<u32, Error> {
        self.index_of(code).ok_or_else(|| Error::UnknownCode {
            system: self.url.clone(),
            code: code.to_owned(),
        })
    }

    pub(crate) fn get(&self, index: u32) -> &Concept {
        &self.concepts[index as usize]
    }
}

/// What a property code means to the engine, from its declared URI or,
/// when undeclared, its conventional code.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Parent,
    Child,
    Inactive,
    Status,
    NotSelectable,
    Other,
}

struct PropertyRoles(HashMap<String, Role>);

impl PropertyRoles {
    fn new(definitions: &[PropertyDefinition]) -> PropertyRoles {
        let mut roles = HashMap::new();
        for d in definitions {
            let role = d
                .uri
                .as_deref()
                .and_then(|u| u.strip_prefix(CONCEPT_PROPERTIES))
                .map(role_of)
                .unwrap_or(Role::Other);
            roles.insert(d.code.clone(), role);
        }
        PropertyRoles(roles)
    }

    fn role(&self, code: &str) -> Role {
        // A declaration with another URI wins over the conventional code:
        // a system may define its own `status` with other values.
        match self.0.get(code) {
            Some(&role) if role != Role::Other => role,
            Some(_) => Role::Other,
            None => role_of(code),
        }
    }
}

fn role_of(name: &str) -> Role {
    match name {
        "parent" => Role::Parent,
        "child" => Role::Child,
        "inactive" => Role::Inactive,
        "status" => Role::Status,
        "notSelectable" => Role::NotSelectable,
        _ => Role::Other,
    }
}

pub(crate) fn invalid(path: &str, message: &str) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

pub(crate) fn object(v: Value, path: &str) -> Result<Map, Error> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(invalid(path, "not an object")),
    }
}

pub(crate) fn array(map: &mut Map, key: &str, at: &str) -> Result<Vec<Value>, Error> {
    match tree::take(map, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(&format!("{at}.{key}"), "not an array")),
    }
}

pub(crate) fn opt_string(map: &mut Map, key: &str, at: &str) -> Result<Option<String>, Error> {
    match tree::take(map, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(&format!("{at}.{key}"), "not a string")),
    }
}

pub(crate) fn coding(v: Value, path: &str) -> Result<Coding, Error> {
    let mut m = object(v, path)?;
    Ok(Coding {
        system: opt_string(&mut m, "system", path)?,
        version: opt_string(&mut m, "version", path)?,
        code: opt_string(&mut m, "code", path)?,
        display: opt_string(&mut m, "display", path)?,
    })
}

fn property(v: Value, path: &str) -> Result<Property, Error> {
    let mut m = object(v, path)?;
    let code = opt_string(&mut m, "code", path)?
        .ok_or_else(|| invalid(path, "a property needs a code"))?;
    let mut value = None;
    for (key, v) in m {
        let vpath = format!("{path}.{key}");
        let parsed = match (key.as_str(), v) {
            ("valueCode", Value::String(s)) => PropertyValue::Code(s),
            ("valueString", Value::String(s)) => PropertyValue::String(s),
            ("valueDateTime", Value::String(s)) => PropertyValue::DateTime(s),
            ("valueBoolean", Value::Bool(b)) => PropertyValue::Boolean(b),
            ("valueInteger", Value::Number(n)) => {
                PropertyValue::Integer(n.parse().map_err(|_| invalid(&vpath, "not an integer"))?)
            }
            ("valueDecimal", Value::Number(n)) => PropertyValue::Decimal(n),
            ("valueCoding", v) => PropertyValue::Coding(coding(v, &vpath)?),
            (k, _) if k.starts_with("value") => {
                return Err(invalid(
                    &vpath,
                    "not a value[x] a concept property may have",
                ))
            }
            // id, extension, _valueCode …: not part of the index.
            _ => continue,
        };
        if value.replace(parsed).is_some() {
            return Err(invalid(path, "more than one value[x]"));
        }
    }
    let value = value.ok_or_else(|| invalid(path, "a property needs a value[x]"))?;
    Ok(Property { code, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(json: &str) -> Result<CodeSystem, Error> {
        CodeSystem::from_json(json.as_bytes())
    }

    const HIERARCHY: &str = r#"{"resourceType":"CodeSystem","url":"http://ex/cs","caseSensitive":false,
      "property":[{"code":"parent","uri":"http://hl7.org/fhir/concept-properties#parent","type":"code"},
                  {"code":"retired","uri":"http://hl7.org/fhir/concept-properties#inactive","type":"boolean"}],
      "concept":[
        {"code":"A","display":"a","concept":[{"code":"B","display":"b"}]},
        {"code":"C","display":"c","property":[{"code":"parent","valueCode":"B"},{"code":"parent","valueCode":"A"}]},
        {"code":"D","property":[{"code":"retired","valueBoolean":true},{"code":"weight","valueDecimal":1.50}]}
      ]}"#;

    #[test]
    fn nesting_and_parent_properties_make_one_hierarchy() {
        let cs = cs(HIERARCHY).unwrap();
        let c = cs.concept("C").unwrap();
        let parents: Vec<_> = cs.parents(c).map(|p| p.code.as_str()).collect();
        assert_eq!(parents, ["B", "A"]);
        let a = cs.concept("A").unwrap();
        let children: Vec<_> = cs.children(a).map(|p| p.code.as_str()).collect();
        assert_eq!(children, ["B", "C"]);
        assert!(cs.is_ancestor(cs.index("A").unwrap(), cs.index("C").unwrap()));
        assert!(!cs.is_ancestor(cs.index("C").unwrap(), cs.index("A").unwrap()));
        // parent properties become edges, not properties.
        assert!(c.properties.is_empty());
    }

    #[test]
    fn inactive_by_declared_uri_and_decimal_text_kept() {
        let cs = cs(HIERARCHY).unwrap();
        let d = cs.concept("D").unwrap();
        assert!(d.inactive);
        assert_eq!(d.properties[1].value, PropertyValue::Decimal("1.50".into()));
    }

    #[test]
    fn case_insensitive_system_folds_codes() {
        let cs = cs(HIERARCHY).unwrap();
        assert_eq!(cs.concept("a").unwrap().code, "A");
        let sensitive = HIERARCHY.replace("\"caseSensitive\":false", "\"caseSensitive\":true");
        assert!(super::CodeSystem::from_json(sensitive.as_bytes())
            .unwrap()
            .concept("a")
            .is_none());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(cs("{"), Err(Error::Syntax(_))));
        assert!(matches!(cs("[]"), Err(Error::Invalid { .. })));
        assert!(matches!(
            cs(r#"{"resourceType":"ValueSet","url":"x"}"#),
            Err(Error::Invalid { .. })
        ));
        let no_code = r#"{"resourceType":"CodeSystem","url":"x","concept":[{"display":"d"}]}"#;
        assert_eq!(
            cs(no_code).unwrap_err(),
            Error::Invalid {
                path: "CodeSystem.concept[0]".into(),
                message: "a concept needs a code".into()
            }
        );
        let dup = r#"{"resourceType":"CodeSystem","url":"x","concept":[{"code":"a","concept":[{"code":"a"}]}]}"#;
        assert!(matches!(cs(dup), Err(Error::DuplicateCode { .. })));
        let two_values = r#"{"resourceType":"CodeSystem","url":"x","concept":[{"code":"a",
            "property":[{"code":"p","valueCode":"x","valueString":"y"}]}]}"#;
        assert!(matches!(cs(two_values), Err(Error::Invalid { .. })));
        let big_int = r#"{"resourceType":"CodeSystem","url":"x","concept":[{"code":"a",
            "property":[{"code":"p","valueInteger":99999999999999999999999}]}]}"#;
        assert!(matches!(cs(big_int), Err(Error::Invalid { .. })));
    }

    #[test]
    fn parent_cycles_terminate() {
        let cyc = r#"{"resourceType":"CodeSystem","url":"x","concept":[
            {"code":"a","property":[{"code":"parent","valueCode":"b"}]},
            {"code":"b","property":[{"code":"parent","valueCode":"a"},{"code":"parent","valueCode":"zz"}]},
            {"code":"c"}]}"#;
        let cs = cs(cyc).unwrap();
        assert!(!cs.is_ancestor(cs.index("c").unwrap(), cs.index("a").unwrap()));
        assert!(cs.is_ancestor(cs.index("a").unwrap(), cs.index("a").unwrap()));
    }
}
