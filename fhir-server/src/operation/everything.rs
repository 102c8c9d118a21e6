//! `Patient/[id]/$everything` (patient-operation-everything.html) and
//! `Encounter/[id]/$everything` (encounter-operation-everything.html),
//! GET or POST with the parameters in the query string.
//!
//! The result is the compartment's resource itself plus every resource in
//! its compartment (the R4 CompartmentDefinition), plus what those
//! reference, one level (Practitioner, Organization, Location, the
//! Medication of a MedicationRequest, …; `search.mode` `include`), as the
//! operation's definition asks ("any resource referenced … from the
//! patient compartment"). Without `_count` the whole set is ONE Bundle,
//! streamed ([`super::searchset_stream`]: memory holds one page); with
//! `_count` it is a paged searchset run by the search engine, each page
//! carrying what its matches reference: the same keyset paging, so each
//! match appears once across pages however many writes happen meanwhile.
//! Parameters: `start` and `end` (care dates: applied to the types that
//! have a clinical date parameter, the others are not filtered), `_since`
//! (`meta.lastUpdated`), `_type` (a comma list), `_count` and the `_cursor`
//! of `next` links. Anything else is refused with 400: an operation has a
//! fixed parameter list. Authorization is the search's (the token's
//! compartment and scopes as criteria) and, for referenced resources too,
//! the answer filter that every response passes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::searchset_stream::{Pager, Streamed};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode, FHIR_JSON};
use crate::interaction::search::{answer, link};
use crate::interaction::{base_url, resource_type, url_id};
use crate::search::compartment;
use crate::search::query::{
    self, CompartmentFilter, Include, SearchRequest, DEFAULT_COUNT, MAX_COUNT,
};

/// The clinical date parameter of a type that `start`/`end` filter on,
/// first found in this order.
const CARE_DATE_PARAMS: &[&str] = &["date", "authoredon", "onset-date", "period", "created"];

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    rt: String,
    id: String,
    params: Vec<(String, String)>,
) -> Result<HttpResponse, Error> {
    let owner_type = resource_type(&rt)?;
    let owner = owner_type.as_str();
    let id = url_id(&id)?;
    let (mut search, paged) = search_of(&state.store.registry(), owner, &id, &params)?;
    // The owner must exist (404/410 otherwise), as for a read.
    {
        let store = state.store.clone();
        let id = id.clone();
        crate::interaction::run(move || store.read(owner_type, &id)).await?;
    }
    let self_path = format!("{owner}/{}/$everything", id.as_str());
    if paged {
        search.includes.push(referenced());
        return answer(&req, &state, search, &self_path).await;
    }
    crate::security::restrict_search(&req, &state.store, &mut search)?;
    let base = base_url(&req);
    let self_url = link(&base, &self_path, &search.used, None);
    let pager = Pager::new(state.store.clone(), search, base, self_url);
    let body = Streamed::start(pager).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body))
}

/// One level of references on each page, as `_include=*` would: what a
/// paged `$everything` adds to its matches.
pub(crate) fn referenced() -> Include {
    Include {
        source_type: "*".into(),
        param: None,
        target_type: None,
        iterate: false,
    }
}

/// The search `$everything` runs over the compartment of `owner`/`id`
/// (`Patient` or `Encounter`), from the operation's parameters, and
/// whether it is paged (`_count` or a `next` link's `_cursor` given).
/// Shared by the REST operation and a Bundle entry's
/// (`interaction::bundle`). Unknown parameters are a 400.
pub(crate) fn search_of(
    registry: &crate::search::param::ParamRegistry,
    owner: &str,
    id: &fhir_model::primitives::Id,
    params: &[(String, String)],
) -> Result<(SearchRequest, bool), Error> {
    if owner != "Patient" && owner != "Encounter" {
        return Err(Error::NotFound(format!(
            "$everything is defined on Patient and Encounter, not {owner}"
        )));
    }
    let mut types: Vec<String> = compartment::compartment_types(owner)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if !types.iter().any(|t| t == owner) {
        types.push(owner.to_owned());
    }
    let mut search = SearchRequest {
        count: DEFAULT_COUNT,
        ..SearchRequest::default()
    };
    let mut issues = Vec::new();
    let mut used = Vec::new();
    // Without `_count` (or a `next` link's cursor) the whole set is one
    // streamed Bundle.
    let paged = params.iter().any(|(k, _)| k == "_count" || k == "_cursor");
    let (mut start, mut end) = (None, None);
    for (k, v) in params {
        match k.as_str() {
            "start" => start = Some(v.clone()),
            "end" => end = Some(v.clone()),
            "_since" => {
                match query::criterion(registry, owner, "_lastUpdated", &format!("ge{v}"), 0) {
                    Ok(c) => search.criteria.push(c),
                    Err(e) => issues.push(Issue::new(IssueCode::Value, e).at("_since")),
                }
            }
            "_type" => {
                let wanted: Vec<&str> = v.split(',').map(str::trim).collect();
                for w in &wanted {
                    if !types.iter().any(|t| t == w) {
                        issues.push(
                            Issue::new(
                                IssueCode::Value,
                                format!("_type: {w:?} is not in the {owner} compartment"),
                            )
                            .at("_type"),
                        );
                    }
                }
                types.retain(|t| wanted.contains(&t.as_str()));
            }
            "_count" => match v.parse::<usize>() {
                Ok(n) => search.count = n.min(MAX_COUNT),
                Err(_) => issues.push(
                    Issue::new(IssueCode::Value, format!("_count {v:?} is not a number"))
                        .at("_count"),
                ),
            },
            "_cursor" => {
                search.cursor = Some(v.clone());
                continue;
            }
            "_format" | "_pretty" => continue,
            other => issues.push(
                Issue::new(
                    IssueCode::NotSupported,
                    format!("{other:?} is not a parameter of $everything"),
                )
                .at(other),
            ),
        }
        used.push((k.clone(), v.clone()));
    }
    for (bound, prefix) in [(start, "ge"), (end, "le")] {
        let Some(value) = bound else { continue };
        for t in &types {
            let Some(code) = CARE_DATE_PARAMS
                .iter()
                .find(|c| registry.get(t, c).is_some())
            else {
                continue;
            };
            match query::criterion(registry, t, code, &format!("{prefix}{value}"), 0) {
                Ok(c) => search.type_criteria.push((t.clone(), c)),
                Err(e) => {
                    issues.push(Issue::new(IssueCode::Value, e).at(if prefix == "ge" {
                        "start"
                    } else {
                        "end"
                    }));
                    break;
                }
            }
        }
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    let per_type = types
        .iter()
        .map(|t| {
            (
                t.clone(),
                compartment::compartment_params(owner, t).to_vec(),
            )
        })
        .collect();
    search.types = types;
    search.compartment = Some(CompartmentFilter {
        compartment: owner.to_owned(),
        id: id.as_str().to_owned(),
        params: per_type,
        include_owner: true,
    });
    search.used = used;
    Ok((search, paged))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::{json, Value};

    use crate::interaction::testutil::{app, backends, send, with_json};

    fn ids(b: &Value) -> Vec<String> {
        entries(b, |_| true)
    }

    fn matches(b: &Value) -> Vec<String> {
        entries(b, |e| e["search"]["mode"] == "match")
    }

    fn entries(b: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| keep(e))
            .filter_map(|e| {
                let r = &e["resource"];
                Some(format!(
                    "{}/{}",
                    r["resourceType"].as_str()?,
                    r["id"].as_str()?
                ))
            })
            .collect()
    }

    #[actix_web::test]
    async fn everything_pages_through_the_compartment_once() {
        for db in backends() {
            let app = app(&db.store).await;
            let label = db.label;
            let resources = [
                json!({"resourceType": "Patient", "id": "p1"}),
                json!({"resourceType": "Patient", "id": "p2"}),
                json!({"resourceType": "Encounter", "id": "e1", "status": "finished",
                    "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                    "period": {"start": "2020-01-01"}}),
                json!({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "a"},
                    "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
                    "effectiveDateTime": "2020-01-01"}),
                json!({"resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "b"},
                    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2010-01-01"}),
                json!({"resourceType": "Observation", "id": "o3", "status": "final", "code": {"text": "c"},
                    "subject": {"reference": "Patient/p2"}}),
                json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}),
                json!({"resourceType": "Organization", "id": "org1"}),
            ];
            for r in &resources {
                let url = format!(
                    "/fhir/{}/{}",
                    r["resourceType"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                );
                send(&app, with_json(TestRequest::put().uri(&url), r)).await;
            }
            let mut url = "/fhir/Patient/p1/$everything?_count=2".to_owned();
            let mut seen = Vec::new();
            for _ in 0..10 {
                let r = send(&app, TestRequest::get().uri(&url)).await;
                assert_eq!(
                    r.status,
                    200,
                    "{label}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                let b = r.json();
                assert_eq!(b["total"], 5, "{label}");
                seen.extend(matches(&b));
                match b["link"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|l| l["relation"] == "next")
                {
                    Some(l) => {
                        let n = l["url"].as_str().unwrap_or("");
                        url = n[n.find("/fhir/").unwrap_or(0)..].to_owned();
                    }
                    None => break,
                }
            }
            seen.sort();
            assert_eq!(
                seen,
                [
                    "Condition/c1",
                    "Encounter/e1",
                    "Observation/o1",
                    "Observation/o2",
                    "Patient/p1"
                ],
                "{label}"
            );
            let b = send(
                &app,
                TestRequest::get().uri("/fhir/Patient/p1/$everything?_type=Observation"),
            )
            .await
            .json();
            assert_eq!(b["total"], 2, "{label}");
            let b = send(
                &app,
                TestRequest::get().uri("/fhir/Patient/p1/$everything?start=2015-01-01"),
            )
            .await
            .json();
            let mut got = ids(&b);
            got.sort();
            assert_eq!(
                got,
                [
                    "Condition/c1",
                    "Encounter/e1",
                    "Observation/o1",
                    "Patient/p1"
                ],
                "{label}: o2 is before start"
            );
            let b = send(
                &app,
                TestRequest::post().uri("/fhir/Encounter/e1/$everything"),
            )
            .await
            .json();
            let mut got = ids(&b);
            got.sort();
            assert_eq!(
                got,
                ["Encounter/e1", "Observation/o1", "Patient/p1"],
                "{label}: the Patient both reference is included"
            );
            send(
                &app,
                TestRequest::get().uri("/fhir/Patient/none/$everything"),
            )
            .await
            .assert_outcome(404, "not-found");
            send(
                &app,
                TestRequest::get().uri("/fhir/Patient/p1/$everything?bogus=1"),
            )
            .await
            .assert_outcome(400, "not-supported");
            send(
                &app,
                TestRequest::get().uri("/fhir/Organization/org1/$everything"),
            )
            .await
            .assert_outcome(404, "not-found");
        }
    }
}
