//! What a request asks for, in the terms scopes speak: which interaction on
//! which type (and instance). Read from the method and the path alone,
//! mirroring the route table of [`crate::app`], so the authorization
//! check runs before any handler and batch/transaction entries are read the
//! same way as REST requests.

use actix_web::http::Method;

use super::scopes::Interaction;

/// One request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Answered without a token: `metadata`, the SMART configuration.
    Public,
    /// `GET [base]/[type]`, `POST [base]/[type]/_search`; `None`: the
    /// system search (`[base]?_type=`, `[base]/_search`).
    Search(Option<String>),
    /// `GET [base]/[Compartment]/[id]/[type or *]`.
    CompartmentSearch {
        target: Option<String>,
    },
    Create(String),
    /// `PUT|DELETE [base]/[type]?criteria`.
    Conditional(String, Interaction),
    /// read, vread, instance history, `$meta`, instance `$validate` and
    /// terminology operations on an instance.
    Read(String, String),
    Update {
        rt: String,
        id: String,
        patch: bool,
    },
    Delete(String, String),
    /// `$meta-add`, `$meta-delete`: change a stored resource.
    MetaChange(String, String),
    TypeHistory(String),
    SystemHistory,
    Everything(String, String),
    /// `[base]/[type]/$op` (`$validate`, terminology operations).
    TypeOperation(String, String),
    /// `$reindex`.
    Admin,
    /// `POST [base]`: batch or transaction.
    Bundle,
    /// Not a route of this server (the handler answers 404 or 405).
    Other,
}

/// Classifies `method path`, `path` starting at the FHIR base
/// (`/fhir/...`).
pub fn classify(method: &Method, path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/fhir") else {
        return if path.ends_with("/.well-known/smart-configuration") {
            Route::Public
        } else {
            Route::Other
        };
    };
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let s = |x: &str| x.to_owned();
    match parts.as_slice() {
        [] if post => Route::Bundle,
        [] => Route::Search(None),
        ["metadata"] | [".well-known", "smart-configuration"] => Route::Public,
        ["_history"] => Route::SystemHistory,
        ["_search"] => Route::Search(None),
        [op] if op.starts_with('$') => Route::Admin,
        [t] if post => Route::Create(s(t)),
        [t] if method == Method::PUT => Route::Conditional(s(t), Interaction::Update),
        [t] if method == Method::DELETE => Route::Conditional(s(t), Interaction::Delete),
        [t] => Route::Search(Some(s(t))),
        [t, "_search"] => Route::Search(Some(s(t))),
        [t, "_history"] => Route::TypeHistory(s(t)),
        [_, "$reindex"] => Route::Admin,
        [t, op] if op.starts_with('$') => Route::TypeOperation(s(t), s(op)),
        [t, id] if get => Route::Read(s(t), s(id)),
        [t, id] if method == Method::DELETE => Route::Delete(s(t), s(id)),
        [t, id] if method == Method::PUT || method == Method::PATCH => Route::Update {
            rt: s(t),
            id: s(id),
            patch: method == Method::PATCH,
        },
        [t, id, "_history"] | [t, id, "_history", _] => Route::Read(s(t), s(id)),
        [t, id, "_history", _, op] | [t, id, op] if op.starts_with("$meta-") => {
            Route::MetaChange(s(t), s(id))
        }
        [t, id, "$everything"] => Route::Everything(s(t), s(id)),
        [t, id, "_history", _, _] => Route::Read(s(t), s(id)),
        [t, id, op] if op.starts_with('$') => Route::Read(s(t), s(id)),
        [_, _, target] if get => Route::CompartmentSearch {
            target: (*target != "*").then(|| s(target)),
        },
        _ => Route::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let c = |m: Method, p: &str| classify(&m, p);
        assert_eq!(c(Method::GET, "/fhir/metadata"), Route::Public);
        assert_eq!(c(Method::POST, "/fhir"), Route::Bundle);
        assert_eq!(c(Method::GET, "/fhir"), Route::Search(None));
        assert_eq!(
            c(Method::GET, "/fhir/Observation"),
            Route::Search(Some("Observation".into()))
        );
        assert_eq!(
            c(Method::PUT, "/fhir/Observation"),
            Route::Conditional("Observation".into(), Interaction::Update)
        );
        assert_eq!(
            c(Method::GET, "/fhir/Observation/1/_history/2"),
            Route::Read("Observation".into(), "1".into())
        );
        assert_eq!(
            c(Method::POST, "/fhir/Observation/1/_history/2/$meta-add"),
            Route::MetaChange("Observation".into(), "1".into())
        );
        assert_eq!(
            c(Method::GET, "/fhir/Patient/1/$everything"),
            Route::Everything("Patient".into(), "1".into())
        );
        assert_eq!(
            c(Method::GET, "/fhir/Patient/1/*"),
            Route::CompartmentSearch { target: None }
        );
        assert_eq!(c(Method::POST, "/fhir/$reindex"), Route::Admin);
        assert_eq!(
            c(Method::GET, "/.well-known/smart-configuration"),
            Route::Public
        );
        assert_eq!(c(Method::GET, "/elsewhere"), Route::Other);
    }
}
