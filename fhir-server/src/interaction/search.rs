//! search (<https://hl7.org/fhir/R4/http.html#search>,
//! <https://hl7.org/fhir/R4/search.html>): `GET [base]/[type]?…`,
//! `POST [base]/[type]/_search`, the system search `GET|POST [base]?…`
//! / `[base]/_search` (with `_type`), and compartment searches
//! `GET [base]/[Compartment]/[id]/[type]` (or `*`).
//!
//! The handler parses the parameters ([`crate::search::query`]), runs the
//! search ([`crate::store::Store::search`]) and writes a `searchset`
//! Bundle with stored bodies spliced in. Parameters it cannot use are
//! ignored and reported in an OperationOutcome entry (`search.mode`
//! `outcome`) under `Prefer: handling=lenient`, the default, or refused
//! with 400 under `handling=strict` (search.html#errors).

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::history::{bundle_head, encode_query_value, push_field, to_json};
use super::{base_url, read_bytes, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode, FHIR_JSON};
use crate::search::compartment;
use crate::search::query::{self, SearchRequest};
use crate::store::{Found, SearchPage};
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

type Params = web::Query<Vec<(String, String)>>;

/// `GET [base]/[type]`
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: Params,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let types = vec![rt.as_str().to_owned()];
    respond(req, state, types, params.into_inner(), None).await
}

/// `POST [base]/[type]/_search`: the parameters in the query string and
/// in an `application/x-www-form-urlencoded` body.
pub async fn post_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: Params,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let mut all = params.into_inner();
    all.extend(form_body(&req, payload, state.max_body_bytes).await?);
    respond(req, state, vec![rt.as_str().to_owned()], all, None).await
}

/// `GET [base]?_type=…` (no `_type`: every type).
pub async fn system(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, Error> {
    let params = params.into_inner();
    let types = system_types(&state.store.registry(), &params)?;
    respond(req, state, types, params, None).await
}

/// `POST [base]/_search`
pub async fn post_system(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let mut all = params.into_inner();
    all.extend(form_body(&req, payload, state.max_body_bytes).await?);
    let types = system_types(&state.store.registry(), &all)?;
    respond(req, state, types, all, None).await
}

/// `GET [base]/[Compartment]/[id]/[type]`: the resources of `type` (or
/// all, for `*`) in the compartment, as the R4 CompartmentDefinitions
/// define it: those whose listed parameters refer to the compartment's
/// resource (compartmentdefinition.html#search).
pub async fn compartment(
    req: HttpRequest,
    state: web::Data<AppState>,
    comp: String,
    id: String,
    target: String,
    params: Vec<(String, String)>,
) -> Result<HttpResponse, Error> {
    let comp_type = resource_type(&comp)?;
    let id = url_id(&id)?;
    let target = match target.as_str() {
        "*" => None,
        t => Some(resource_type(t)?),
    };
    let (scope, types) = CompartmentScope::of(comp_type, &id, target)?;
    respond(req, state, types, params, Some(scope)).await
}

/// The compartment a compartment search is bound to.
pub(crate) struct CompartmentScope {
    compartment: String,
    id: String,
}

impl CompartmentScope {
    /// The scope of `[Compartment]/[id]/[target]` (`None`: `*`) and the
    /// types it searches; 404 when `comp` is no compartment. Also what a
    /// Bundle entry's compartment search uses.
    pub(crate) fn of(
        comp: ResourceType,
        id: &Id,
        target: Option<ResourceType>,
    ) -> Result<(CompartmentScope, Vec<String>), Error> {
        let all = compartment::compartment_types(comp.as_str());
        if all.is_empty() {
            return Err(Error::NotFound(format!(
                "{} is not a compartment (compartments: Patient, Encounter, RelatedPerson, \
                 Practitioner, Device)",
                comp.as_str()
            )));
        }
        let types = match target {
            None => all.into_iter().map(str::to_owned).collect(),
            Some(t) => vec![t.as_str().to_owned()],
        };
        let scope = CompartmentScope {
            compartment: comp.as_str().to_owned(),
            id: id.as_str().to_owned(),
        };
        Ok((scope, types))
    }

    /// The path `self` and `next` links use for a search of `types`.
    pub(crate) fn self_path(&self, types: &[String]) -> String {
        match types {
            [one] => format!("{}/{}/{one}", self.compartment, self.id),
            _ => format!("{}/{}/*", self.compartment, self.id),
        }
    }
}

/// The types a system search (`[base]?_type=…`) covers: those `_type`
/// names, or every type. Also what a Bundle entry's system search uses.
pub(crate) fn system_types(
    registry: &crate::search::param::ParamRegistry,
    params: &[(String, String)],
) -> Result<Vec<String>, Error> {
    let named: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "_type")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if named.is_empty() {
        return Ok(registry.resource_types());
    }
    named
        .into_iter()
        .map(|t| {
            fhir_model::ResourceType::parse(t)
                .map(|rt| rt.as_str().to_owned())
                .ok_or_else(|| {
                    Error::invalid(
                        IssueCode::Value,
                        format!("_type: {t:?} is not a FHIR R4 resource type"),
                    )
                })
        })
        .collect()
}

async fn form_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<(String, String)>, Error> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        if req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v == "0")
        {
            return Ok(Vec::new());
        }
        return Err(Error::invalid(
            IssueCode::NotSupported,
            "POST _search takes its parameters as application/x-www-form-urlencoded",
        ));
    }
    let bytes = match read_bytes(req, payload, limit).await {
        Ok(b) => b,
        // An empty form is no parameters.
        Err(Error::Invalid(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        Error::invalid(
            IssueCode::Invalid,
            format!("cannot read the form body: {e}"),
        )
    })
}

/// `Prefer: handling=strict` (search.html#errors); lenient otherwise.
fn strict(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"))
}

async fn respond(
    req: HttpRequest,
    state: web::Data<AppState>,
    types: Vec<String>,
    mut params: Vec<(String, String)>,
    scope: Option<CompartmentScope>,
) -> Result<HttpResponse, Error> {
    let base = base_url(&req);
    // References to this server may be written absolute.
    let own = format!("{base}/");
    for (_, v) in params.iter_mut() {
        if v.contains(&own) {
            *v = v.replace(&own, "");
        }
    }
    let registry = state.store.registry();
    // `:in`, `:not-in`, `:above`, `:below` are expanded at parse time.
    let tx = crate::operation::terminology::search_expander(&state, &params).await?;
    let tx = tx.as_ref().map(|t| t as &dyn query::TokenExpander);
    let mut search = query::parse_with(&registry, types, &params, tx);
    if let Some(scope) = &scope {
        add_compartment(&mut search, scope)?;
    }
    if !search.ignored.is_empty() && strict(&req) {
        let issues = search
            .ignored
            .iter()
            .map(|i| Issue::new(IssueCode::NotSupported, i.reason.clone()).at(i.name.clone()))
            .collect();
        return Err(Error::Invalid(issues));
    }
    let self_path = match &scope {
        Some(s) => s.self_path(&search.types),
        None if req.path().trim_end_matches('/').ends_with("/fhir")
            || req.path().ends_with("/fhir/_search") =>
        {
            String::new()
        }
        None => search.types[0].clone(),
    };
    if scope.is_none() && self_path.is_empty() && params.iter().any(|(k, _)| k == "_type") {
        let listed = search.types.join(",");
        search.used.insert(0, ("_type".into(), listed));
    }
    answer(&req, &state, search, &self_path).await
}

/// Runs a parsed search and answers the searchset; `self_path` is the
/// path after the base that `self` and `next` links use. Also the back
/// end of `$everything`.
pub(crate) async fn answer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    mut search: SearchRequest,
    self_path: &str,
) -> Result<HttpResponse, Error> {
    // The token's patient compartment and scope constraints, as criteria.
    crate::security::restrict_search(req, &state.store, &mut search)?;
    let base = base_url(req);
    let store = state.store.clone();
    let request = search.clone();
    let page = run(move || store.search(&request)).await?;
    let body = searchset(&base, self_path, &search, &page)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body))
}

/// The searchset Bundle of one page, its `self` and `next` links on
/// `self_path` (the path after the base); also what a Bundle entry's
/// search answers.
pub(crate) fn searchset(
    base: &str,
    self_path: &str,
    search: &SearchRequest,
    page: &SearchPage,
) -> Result<Vec<u8>, Error> {
    let self_url = link(base, self_path, &search.used, None);
    let next_url = page
        .next_cursor
        .as_ref()
        .map(|c| link(base, self_path, &search.used, Some(c)));
    bundle(base, &self_url, next_url.as_deref(), search, page)
}

/// Limits the search to the compartment: for each type, a resource is in
/// the compartment when one of the type's compartment parameters refers
/// to the compartment's resource. Types not in the compartment match
/// nothing.
pub(crate) fn add_compartment(
    search: &mut SearchRequest,
    scope: &CompartmentScope,
) -> Result<(), Error> {
    let mut kept = Vec::new();
    let mut per_type = Vec::new();
    for t in &search.types {
        let params = compartment::compartment_params(&scope.compartment, t);
        if params.is_empty() {
            continue;
        }
        kept.push(t.clone());
        per_type.push((t.clone(), params));
    }
    if kept.is_empty() {
        return Err(Error::invalid(
            IssueCode::NotFound,
            format!(
                "{} is not in the {} compartment",
                search.types.join(", "),
                scope.compartment
            ),
        ));
    }
    search.types = kept;
    search.compartment = Some(crate::search::query::CompartmentFilter {
        compartment: scope.compartment.clone(),
        id: scope.id.clone(),
        params: per_type.into_iter().map(|(t, p)| (t, p.to_vec())).collect(),
        include_owner: false,
    });
    Ok(())
}

/// An absolute link to this search with the parameters it used (and a
/// cursor for `next`).
pub(crate) fn link(
    base: &str,
    path: &str,
    used: &[(String, String)],
    cursor: Option<&str>,
) -> String {
    let mut url = if path.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut sep = '?';
    for (k, v) in used {
        url.push(sep);
        url.push_str(
            &encode_query_value(k)
                .replace("%3A", ":")
                .replace("%2E", "."),
        );
        url.push('=');
        url.push_str(&encode_query_value(v));
        sep = '&';
    }
    if let Some(c) = cursor {
        url.push(sep);
        url.push_str("_cursor=");
        url.push_str(&encode_query_value(c));
    }
    url
}

/// Serialises the searchset by hand so stored bodies go in unchanged
/// (unless `_summary`/`_elements` cut them down).
fn bundle(
    base: &str,
    self_url: &str,
    next_url: Option<&str>,
    search: &SearchRequest,
    page: &SearchPage,
) -> Result<Vec<u8>, Error> {
    let mut links = vec![json!({"relation": "self", "url": self_url})];
    if let Some(n) = next_url {
        links.push(json!({"relation": "next", "url": n}));
    }
    let mut out = Vec::with_capacity(
        512 + page
            .matches
            .iter()
            .chain(&page.included)
            .map(|e| e.body.len() + 128)
            .sum::<usize>(),
    );
    let mut first = true;
    bundle_head(&mut out, &mut first, "searchset");
    if let Some(total) = page.total {
        push_field(&mut out, &mut first, "total", total.to_string().as_bytes());
    }
    push_field(&mut out, &mut first, "link", &to_json(&Value::Array(links)));
    // The entries go straight into `out`: the stored bodies are copied
    // once, from the rows into the answer.
    let mut n = 0;
    let mut next_entry = |out: &mut Vec<u8>| {
        out.extend_from_slice(if n == 0 { b",\"entry\":[" } else { b"," });
        n += 1;
    };
    for (found, mode) in page
        .matches
        .iter()
        .map(|f| (f, "match"))
        .chain(page.included.iter().map(|f| (f, "include")))
    {
        next_entry(&mut out);
        entry(&mut out, base, found, mode, search);
    }
    let mut notes: Vec<Value> = search
        .ignored
        .iter()
        .map(|i| {
            json!({"severity": "warning", "code": "not-supported",
                   "diagnostics": format!("ignored: {}", i.reason), "expression": [i.name]})
        })
        .collect();
    if page.included_truncated {
        notes.push(json!({"severity": "warning", "code": "too-costly",
            "diagnostics": format!("_include/_revinclude stopped at {} resources", crate::store::MAX_INCLUDED)}));
    }
    if !notes.is_empty() {
        next_entry(&mut out);
        let outcome = json!({
            "resource": {"resourceType": "OperationOutcome", "issue": notes},
            "search": {"mode": "outcome"},
        });
        out.extend_from_slice(&to_json(&outcome));
    }
    if n > 0 {
        out.push(b']');
    }
    out.push(b'}');
    Ok(out)
}

/// One searchset entry (`fullUrl`, the resource, `search.mode`) written
/// onto `out`: the stored bytes go in unchanged unless `_summary` or
/// `_elements` cut them down.
pub(crate) fn entry(out: &mut Vec<u8>, base: &str, f: &Found, mode: &str, search: &SearchRequest) {
    out.extend_from_slice(b"{\"fullUrl\":");
    // A string always serialises.
    let _ = serde_json::to_writer(&mut *out, &format!("{base}/{}/{}", f.resource_type, f.id));
    out.extend_from_slice(b",\"resource\":");
    out.extend_from_slice(&subset(&f.body, search, mode == "match"));
    out.extend_from_slice(b",\"search\":{\"mode\":\"");
    out.extend_from_slice(mode.as_bytes());
    out.extend_from_slice(b"\"}}");
}

/// `_summary` / `_elements` on one entry (search.html#summary: `_elements`
/// applies to matches, not to included resources); the stored bytes
/// themselves, not a copy, when neither applies.
fn subset<'a>(body: &'a [u8], search: &SearchRequest, is_match: bool) -> Cow<'a, [u8]> {
    let summary = search
        .summary
        .as_deref()
        .filter(|s| *s != "false" && *s != "count")
        .and_then(fhir_model::subset::Summary::parse);
    let elements = search.elements.as_deref().filter(|_| is_match);
    match super::apply_subset(body, summary, elements) {
        Some(cut) => Cow::Owned(cut),
        None => Cow::Borrowed(body),
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fulltext_tests.rs"]
mod fulltext_tests;
