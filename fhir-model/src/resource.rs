//! [`Resource`], the enum over every R4 resource, and [`ResourceType`].
//!
//! Both are spelled out by `for_each_resource!`, which the generator emits
//! with the 146 resource names: the list lives in generated code, the
//! behaviour here, so adding a method does not mean regenerating.

use crate::error::{IssueKind, ParseError};
use crate::generated::*;
use crate::json::parse::{self, Cx, FromJson};
use crate::json::tree::{self, Map, Value};
use crate::json::write::{JsonWriter, ToJson};
use crate::primitives::{Id, Instant};

macro_rules! define_resources {
    ($($name:ident),* $(,)?) => {
        /// Any R4 resource. Each variant is boxed so the enum stays two
        /// words wide whatever resource it holds.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Resource {
            $($name(Box<$name>),)*
        }

        /// The name of an R4 resource type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType {
            $($name,)*
        }

        impl ResourceType {
            /// Every R4 resource type, in alphabetical order.
            pub const ALL: &'static [ResourceType] = &[$(ResourceType::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ResourceType::$name => stringify!($name),)*
                }
            }

            /// The type named `name` exactly (case matters, as in FHIR).
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(ResourceType::$name),)*
                    _ => None,
                }
            }
        }

        impl Resource {
            pub fn resource_type(&self) -> ResourceType {
                match self {
                    $(Resource::$name(_) => ResourceType::$name,)*
                }
            }

            /// Reads the properties of a resource whose `resourceType`
            /// (already removed from `map`) is `name`; `None` when no R4
            /// resource has that name.
            pub(crate) fn from_map(name: &str, map: Map, cx: &mut Cx) -> Option<Self> {
                Some(match name {
                    $(stringify!($name) => Resource::$name(Box::new($name::from_map(map, cx))),)*
                    _ => return None,
                })
            }

            pub(crate) fn write_json(&self, w: &mut JsonWriter) {
                match self {
                    $(Resource::$name(r) => r.write_json(w),)*
                }
            }

            /// The logical id (`Resource.id`).
            pub fn id(&self) -> Option<&Id> {
                match self {
                    $(Resource::$name(r) => r.id.as_ref(),)*
                }
            }

            pub fn id_mut(&mut self) -> &mut Option<Id> {
                match self {
                    $(Resource::$name(r) => &mut r.id,)*
                }
            }

            pub fn meta(&self) -> Option<&Meta> {
                match self {
                    $(Resource::$name(r) => r.meta.as_deref(),)*
                }
            }

            pub fn meta_mut(&mut self) -> &mut Option<Box<Meta>> {
                match self {
                    $(Resource::$name(r) => &mut r.meta,)*
                }
            }
        }
    };
}

crate::generated::for_each_resource!(define_resources);

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Resource {
    /// Reads a resource from FHIR JSON, reporting every problem found.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        let value = tree::parse(bytes).map_err(|e| ParseError {
            issues: vec![crate::ParseIssue {
                kind: IssueKind::Syntax,
                expression: String::new(),
                message: format!("malformed JSON: {e}"),
            }],
        })?;
        Self::from_tree(value)
    }

    /// Reads a resource from a serde_json value. Numbers keep the text
    /// serde_json gives them, which normalises exponents; read from bytes
    /// with [`Resource::from_json_slice`] to keep them exactly.
    pub fn from_json_value(value: serde_json::Value) -> Result<Self, ParseError> {
        Self::from_tree(value.into())
    }

    fn from_tree(value: Value) -> Result<Self, ParseError> {
        let root = match &value {
            Value::Object(m) => match m.iter().find(|(k, _)| k == "resourceType") {
                Some((_, Value::String(s))) if ResourceType::parse(s).is_some() => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        let mut cx = Cx::default();
        let resource = parse::resource(value, &mut cx);
        cx.finish(&root)?;
        match resource {
            Some(r) => Ok(r),
            // `resource` returns None only after recording an issue, so
            // `finish` has already returned; this arm is for the compiler.
            None => Err(ParseError { issues: Vec::new() }),
        }
    }

    /// Reads a resource from FHIR XML. The XML becomes the JSON tree FHIR
    /// JSON would give, which is then read like JSON, so both formats accept
    /// exactly the same resources.
    pub fn from_xml_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        Self::from_tree(crate::xml::read(bytes)?)
    }

    /// FHIR XML, with an XML declaration.
    pub fn to_xml_vec(&self) -> Vec<u8> {
        match tree::parse(&self.to_json_vec()) {
            Ok(t) => crate::xml::write(&t, false),
            // The writer only produces valid JSON.
            Err(_) => Vec::new(),
        }
    }

    /// Compact FHIR JSON.
    pub fn to_json_vec(&self) -> Vec<u8> {
        let mut w = JsonWriter::new();
        self.write_json(&mut w);
        w.into_bytes()
    }

    pub fn set_id(&mut self, id: Option<Id>) {
        *self.id_mut() = id;
    }

    /// Sets `meta.versionId` and `meta.lastUpdated`, which only the server
    /// may set (http.html#update), keeping the rest of `meta`.
    pub fn set_version_meta(&mut self, version_id: &Id, last_updated: &Instant) {
        let meta = self.meta_mut().get_or_insert_with(Default::default);
        meta.version_id = Some(crate::json::Primitive::new(version_id.clone()));
        meta.last_updated = Some(crate::json::Primitive::new(last_updated.clone()));
    }
}
