//! `CodeSystem/$validate-code` and `ValueSet/$validate-code`
//! (codesystem-operation-validate-code.html,
//! valueset-operation-validate-code.html): `code` + `system` (+ `display`,
//! `version`/`systemVersion`), or `coding`, or `codeableConcept` (valid
//! when any of its codings is). Answers `result`, `message` and `display`.
//! An unknown code or system is `result = false` with a message, not an
//! error; an unknown value set is a 404.

use serde_json::{json, Value};
use terminology::{CodingToCheck, Registry, ValidateOptions, Validation};

use super::expand::value_set;
use super::{coding_fields, instance_url, missing, parameters, Params, Target};
use crate::error::{Error, IssueCode};

/// The codings the request names, in the order given.
fn codings(
    params: &Params,
    system_param: &str,
    version_param: &str,
) -> Result<Vec<CodingToCheck>, Error> {
    let one = |c: &Value| -> Option<CodingToCheck> {
        let (system, version, code, display) = coding_fields(c);
        Some(CodingToCheck {
            system,
            version,
            code: code?,
            display,
        })
    };
    if let Some(c) = params.complex("coding", "valueCoding") {
        return one(c)
            .map(|c| vec![c])
            .ok_or_else(|| missing("the coding has no code"));
    }
    if let Some(cc) = params.complex("codeableConcept", "valueCodeableConcept") {
        let all: Vec<CodingToCheck> = cc["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(one)
            .collect();
        if all.is_empty() {
            return Err(missing("the codeableConcept has no coding with a code"));
        }
        return Ok(all);
    }
    let code = params
        .str("code")
        .ok_or_else(|| missing("$validate-code needs a code, a coding or a codeableConcept"))?;
    Ok(vec![CodingToCheck {
        system: params.str(system_param),
        version: params.str(version_param),
        code,
        display: params.str("display"),
    }])
}

fn answer(v: Validation) -> Value {
    let mut out = vec![json!({"name": "result", "valueBoolean": v.result})];
    if let Some(m) = v.message {
        out.push(json!({"name": "message", "valueString": m}));
    }
    if let Some(d) = v.display {
        out.push(json!({"name": "display", "valueString": d}));
    }
    parameters(out)
}

/// `CodeSystem/$validate-code`: the system is `url` (or the coding's
/// system, or the instance).
pub fn code_system(registry: &Registry, params: &Params, target: &Target) -> Result<Value, Error> {
    let mut list = codings(params, "url", "version")?;
    let mut url = params.str("url");
    let mut version = params.str("version");
    if let Target::Instance(body) = target {
        let (u, v) = instance_url(body)?;
        url = Some(u);
        version = version.or(v);
    }
    if let Some(u) = &url {
        for c in &mut list {
            c.system.get_or_insert_with(|| u.clone());
            if c.version.is_none() {
                c.version = version.clone();
            }
        }
    }
    let display_language = params.str("displayLanguage");
    let abstract_allowed = params.bool("abstract")?.unwrap_or(true);
    let mut messages = Vec::new();
    let mut first = None;
    for c in &list {
        let system = c.system.as_deref().ok_or_else(|| {
            missing("CodeSystem/$validate-code needs url (or a coding with a system)")
        })?;
        if url.as_deref().is_some_and(|u| u != system) && matches!(target, Target::Instance(_)) {
            return Err(Error::invalid(
                IssueCode::Invalid,
                format!("the coding's system {system} is not this CodeSystem's url"),
            ));
        }
        let v = registry.validate_code(
            system,
            c.version.as_deref(),
            &c.code,
            &ValidateOptions {
                display: c.display.as_deref(),
                display_language: display_language.as_deref(),
                abstract_allowed,
            },
        );
        if v.result {
            return Ok(answer(v));
        }
        messages.extend(v.message.clone());
        first.get_or_insert(v);
    }
    let mut v = first.ok_or_else(|| missing("nothing to validate"))?;
    v.message = (!messages.is_empty()).then(|| messages.join("; "));
    Ok(answer(v))
}

/// `ValueSet/$validate-code`: the value set by `url`, `valueSet` or the
/// instance.
pub fn value_set_code(
    registry: &Registry,
    params: &Params,
    target: &Target,
) -> Result<Value, Error> {
    let list = codings(params, "system", "systemVersion")?;
    // A value set named by url is the registry's own: its membership is
    // worked out on first use and kept, where a copy would work out all its
    // codes again on every request (a 100,000-code value set: ~100 ms).
    let owned;
    let vs = match (target, params.resource("valueSet"), params.str("url")) {
        (Target::Type, None, Some(url)) => {
            registry.value_set(&url, params.str("valueSetVersion").as_deref())?
        }
        _ => {
            owned = value_set(registry, params, target)?.0;
            &owned
        }
    };
    let display_language = params.str("displayLanguage");
    let v = registry.validate_in_value_set(
        vs,
        &list,
        display_language.as_deref(),
        params.bool("activeOnly")?.unwrap_or(false),
    )?;
    Ok(answer(v))
}
