//! `CodeSystem/$subsumes` (codesystem-operation-subsumes.html): `codeA` and
//! `codeB` with `system`, or `codingA` and `codingB`; answers `outcome`
//! (`equivalent`, `subsumes`, `subsumed-by`, `not-subsumed`).
//!
//! The two codings name one system, except HOT drug codes: their levels
//! (HOT7, HOT9, HOT11, HOT13) are separate code systems that nest by
//! prefix, so `codingA` may be a HOT7 code and `codingB` a HOT13 code
//! (`terminology::Registry::subsumes_codings`).

use serde_json::{json, Value};
use terminology::Registry;

use super::{coding_fields, instance_url, missing, parameters, Params, Target};
use crate::error::{Error, IssueCode};

pub fn answer(registry: &Registry, params: &Params, target: &Target) -> Result<Value, Error> {
    let system = params.str("system");
    let mut version = params.str("version");
    // (system, code) of one side: its coding's, or the plain code.
    let mut side = |name: &str, coding: &str| -> Result<(Option<String>, Option<String>), Error> {
        let Some(c) = params.complex(coding, "valueCoding") else {
            return Ok((None, params.str(name)));
        };
        let (s, v, k, _) = coding_fields(c);
        if let (Some(a), Some(b)) = (&system, &s) {
            if a != b {
                return Err(Error::invalid(
                    IssueCode::NotSupported,
                    format!(
                        "$subsumes compares codes of one system; {coding} is from {b}, not {a}"
                    ),
                ));
            }
        }
        version = version.clone().or(v);
        Ok((s, k))
    };
    let (system_a, a) = side("codeA", "codingA")?;
    let (system_b, b) = side("codeB", "codingB")?;
    let (system_a, system_b) = match target {
        Target::Instance(body) => {
            let (url, v) = instance_url(body)?;
            version = version.or(v);
            (Some(url.clone()), Some(url))
        }
        Target::Type => {
            let a = system_a.or_else(|| system.clone());
            let b = system_b.or_else(|| system.clone()).or_else(|| a.clone());
            (a.or_else(|| b.clone()), b)
        }
    };
    let (Some(system_a), Some(system_b)) = (system_a, system_b) else {
        return Err(missing("$subsumes needs a system (or codings)"));
    };
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(missing(
                "$subsumes needs codeA and codeB (or codingA and codingB)",
            ))
        }
    };
    let outcome = registry.subsumes_codings(&system_a, &a, &system_b, &b, version.as_deref())?;
    Ok(parameters(vec![
        json!({"name": "outcome", "valueCode": outcome.code()}),
    ]))
}
