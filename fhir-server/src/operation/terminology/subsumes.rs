//! `CodeSystem/$subsumes` (codesystem-operation-subsumes.html): `codeA` and
//! `codeB` with `system`, or `codingA` and `codingB`; answers `outcome`
//! (`equivalent`, `subsumes`, `subsumed-by`, `not-subsumed`).

use serde_json::{json, Value};
use terminology::Registry;

use super::{coding_fields, instance_url, missing, parameters, term_error, Params, Target};
use crate::error::{Error, IssueCode};

pub fn answer(registry: &Registry, params: &Params, target: &Target) -> Result<Value, Error> {
    let mut system = params.str("system");
    let mut version = params.str("version");
    let mut code = |name: &str, coding: &str| -> Result<Option<String>, Error> {
        let Some(c) = params.complex(coding, "valueCoding") else {
            return Ok(params.str(name));
        };
        let (s, v, k, _) = coding_fields(c);
        match (&system, s) {
            (Some(a), Some(b)) if *a != b => {
                return Err(Error::invalid(
                    IssueCode::NotSupported,
                    format!(
                        "$subsumes compares codes of one system; {coding} is from {b}, not {a}"
                    ),
                ))
            }
            (None, s) => system = s,
            _ => {}
        }
        version = version.clone().or(v);
        Ok(k)
    };
    let a = code("codeA", "codingA")?;
    let b = code("codeB", "codingB")?;
    if let Target::Instance(body) = target {
        let (url, v) = instance_url(body)?;
        system = Some(url);
        version = version.or(v);
    }
    let system = system.ok_or_else(|| missing("$subsumes needs a system (or codings)"))?;
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(missing(
                "$subsumes needs codeA and codeB (or codingA and codingB)",
            ))
        }
    };
    let outcome = registry
        .subsumes(&system, version.as_deref(), &a, &b)
        .map_err(term_error)?;
    Ok(parameters(vec![
        json!({"name": "outcome", "valueCode": outcome.code()}),
    ]))
}
