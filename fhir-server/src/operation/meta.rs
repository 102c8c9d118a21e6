//! `$meta`, `$meta-add` and `$meta-delete` on a resource or one of its
//! versions (<https://hl7.org/fhir/R4/resource-operations.html#meta>).
//!
//! `$meta` returns the resource's `meta`; `$meta-add` and `$meta-delete`
//! change its profiles, tags and security labels in place: the spec says
//! these "do not cause a new version of the resource to be created", so the
//! stored version is rewritten ([`crate::store::Store::change_meta`]). Tags
//! and security labels are sets keyed by system and code; profiles by URL.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::generated::{AnyValue, Coding, Meta};
use fhir_model::json::write::{JsonWriter, ToJson};
use fhir_model::Resource;

use crate::app::AppState;
use crate::error::{Error, IssueCode, FHIR_JSON};
use crate::interaction::{parse_resource, read_body, resource_type, run, url_id};

/// Which of the three operations a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Add,
    Delete,
}

fn op_of(name: &str) -> Result<Op, Error> {
    match name {
        "$meta" => Ok(Op::Read),
        "$meta-add" => Ok(Op::Add),
        "$meta-delete" => Ok(Op::Delete),
        other => Err(Error::NotFound(format!(
            "no operation {other:?} on a resource instance"
        ))),
    }
}

/// `[type]/[id]/$meta…`
pub async fn instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let (rt, id, op) = path.into_inner();
    handle(req, state, (rt, id, None, op), payload).await
}

/// `[type]/[id]/_history/[vid]/$meta…`
pub async fn version(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let (rt, id, vid, op) = path.into_inner();
    let version = vid
        .parse::<i32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::NotFound(format!("{rt}/{id}/_history/{vid} is not known")))?;
    handle(req, state, (rt, id, Some(version), op), payload).await
}

pub(crate) async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    (rt, id, version, op): (String, String, Option<i32>, String),
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let op = op_of(&op)?;
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let store = state.store.clone();
    if op == Op::Read {
        let v = run(move || store.read_version(rt, &id, version)).await?;
        let body = run(move || meta_parameters(v.body.as_deref().unwrap_or_default())).await?;
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, FHIR_JSON))
            .body(body));
    }
    if req.method() != actix_web::http::Method::POST {
        return Err(Error::MethodNotAllowed {
            method: req.method().to_string(),
            allow: "POST",
        });
    }
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let stored = run(move || {
        let given = meta_parameter(&parse_resource(
            &body,
            fhir_model::ResourceType::Parameters,
        )?)?;
        let v = store.change_meta(rt, &id, version, |meta| match op {
            Op::Add => add(meta, &given),
            _ => remove(meta, &given),
        })?;
        stored_meta(v.body.as_deref().unwrap_or_default())
    })
    .await?;
    Ok(parameters_response(&stored))
}

/// `$meta`'s answer for a stored body: the REST operation's and a Bundle
/// entry's (`interaction::bundle`).
pub(crate) fn meta_parameters(body: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(parameters_json(&stored_meta(body)?))
}

fn stored_meta(body: &[u8]) -> Result<Meta, Error> {
    let r = Resource::from_json_slice(body)
        .map_err(|e| Error::Fault(format!("stored resource: {e}")))?;
    Ok(r.meta().cloned().unwrap_or_default())
}

/// The `meta` parameter of the operation's input.
fn meta_parameter(input: &Resource) -> Result<Meta, Error> {
    let Resource::Parameters(p) = input else {
        return Err(Error::invalid(
            IssueCode::Invalid,
            "the body must be a Parameters resource",
        ));
    };
    p.parameter
        .iter()
        .find(|param| param.name.as_ref().and_then(|n| n.value.as_deref()) == Some("meta"))
        .and_then(|param| match &param.value {
            Some(AnyValue::Meta(m)) => Some((**m).clone()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::Invalid(vec![crate::error::Issue::new(
                IssueCode::Required,
                "the Parameters must have a parameter 'meta' with a valueMeta",
            )
            .at("Parameters.parameter")])
        })
}

/// Tags and security labels are the same when system and code are.
fn same_coding(a: &Coding, b: &Coding) -> bool {
    let key = |c: &Coding| {
        (
            c.system
                .as_ref()
                .and_then(|s| s.value.as_ref().map(|v| v.as_str().to_owned())),
            c.code
                .as_ref()
                .and_then(|s| s.value.as_ref().map(|v| v.as_str().to_owned())),
        )
    };
    key(a) == key(b)
}

fn add(meta: &mut Meta, given: &Meta) {
    for p in &given.profile {
        if !meta.profile.iter().any(|q| q.value == p.value) {
            meta.profile.push(p.clone());
        }
    }
    for t in &given.tag {
        if !meta.tag.iter().any(|u| same_coding(u, t)) {
            meta.tag.push(t.clone());
        }
    }
    for s in &given.security {
        if !meta.security.iter().any(|u| same_coding(u, s)) {
            meta.security.push(s.clone());
        }
    }
}

fn remove(meta: &mut Meta, given: &Meta) {
    meta.profile
        .retain(|p| !given.profile.iter().any(|q| q.value == p.value));
    meta.tag
        .retain(|t| !given.tag.iter().any(|u| same_coding(u, t)));
    meta.security
        .retain(|s| !given.security.iter().any(|u| same_coding(u, s)));
}

fn parameters_response(meta: &Meta) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(parameters_json(meta))
}

/// `Parameters { parameter: [{ name: "return", valueMeta: … }] }`.
fn parameters_json(meta: &Meta) -> Vec<u8> {
    let mut w = JsonWriter::new();
    meta.write_json(&mut w);
    let meta_json = String::from_utf8(w.into_bytes()).unwrap_or_default();
    format!(
        r#"{{"resourceType":"Parameters","parameter":[{{"name":"return","valueMeta":{meta_json}}}]}}"#
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::Primitive;
    use fhir_model::primitives::{Canonical, Code, Uri};

    fn coding(system: &str, code: &str) -> Coding {
        Coding {
            system: Some(Primitive::new(Uri::new(system).expect("uri"))),
            code: Some(Primitive::new(Code::new(code).expect("code"))),
            ..Default::default()
        }
    }

    #[test]
    fn tags_and_profiles_are_sets() {
        let mut meta = Meta {
            tag: vec![coding("s", "a")],
            ..Default::default()
        };
        let given = Meta {
            tag: vec![coding("s", "a"), coding("s", "b")],
            profile: vec![Primitive::new(Canonical::new("http://p").expect("url"))],
            ..Default::default()
        };
        add(&mut meta, &given);
        add(&mut meta, &given);
        assert_eq!(meta.tag.len(), 2);
        assert_eq!(meta.profile.len(), 1);
        remove(
            &mut meta,
            &Meta {
                tag: vec![coding("s", "a")],
                ..Default::default()
            },
        );
        assert_eq!(meta.tag, vec![coding("s", "b")]);
        assert_eq!(meta.profile.len(), 1);
    }
}
