//! STUB until the generated model lands: same public API, JSON-backed.

use serde_json::{Map, Value};

use crate::error::{IssueKind, ParseError, ParseIssue};
use crate::primitives::{Id, Instant};
use crate::ResourceType;

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    rt: ResourceType,
    json: Map<String, Value>,
}

fn err(kind: IssueKind, expression: &str, message: impl Into<String>) -> ParseError {
    ParseError {
        issues: vec![ParseIssue { kind, expression: expression.into(), message: message.into() }],
    }
}

impl Resource {
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| err(IssueKind::Syntax, "", format!("malformed JSON: {e}")))?;
        Self::from_json_value(v)
    }

    pub fn from_json_value(v: Value) -> Result<Self, ParseError> {
        let Value::Object(json) = v else {
            return Err(err(IssueKind::Structure, "", "a resource must be a JSON object"));
        };
        let rt = match json.get("resourceType") {
            Some(Value::String(s)) => ResourceType::parse(s).ok_or_else(|| {
                err(IssueKind::UnknownResourceType, "resourceType", format!("unknown resource type {s:?}"))
            })?,
            _ => return Err(err(IssueKind::UnknownResourceType, "", "missing resourceType")),
        };
        if let Some(id) = json.get("id") {
            match id.as_str().map(Id::new) {
                Some(Ok(_)) => {}
                _ => return Err(err(IssueKind::Value, &format!("{}.id", rt.as_str()), "invalid id")),
            }
        }
        Ok(Self { rt, json })
    }

    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).unwrap_or_default()
    }

    pub fn resource_type(&self) -> ResourceType {
        self.rt
    }

    pub fn id(&self) -> Option<Id> {
        self.json.get("id").and_then(Value::as_str).and_then(|s| Id::new(s).ok())
    }

    pub fn set_id(&mut self, id: Option<Id>) {
        match id {
            Some(id) => {
                self.json.insert("id".into(), Value::String(id.into_string()));
            }
            None => {
                self.json.remove("id");
            }
        }
    }

    pub fn set_version_meta(&mut self, version_id: &Id, last_updated: &Instant) {
        let meta = self.json.entry("meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            m.insert("versionId".into(), Value::String(version_id.to_string()));
            m.insert("lastUpdated".into(), Value::String(last_updated.to_string()));
        }
    }
}
