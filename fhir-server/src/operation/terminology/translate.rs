//! `ConceptMap/$translate` (conceptmap-operation-translate.html): the map
//! by `url` (+ `conceptMapVersion`), given whole as `conceptMap`, or the
//! stored instance; otherwise every stored map whose `source`/`target`
//! value sets and group systems fit. The code by `code` + `system`
//! (+ `version`), `coding` or `codeableConcept` (each coding translated);
//! `targetsystem`, `reverse`. Answers `result`, `message` and `match`
//! (`equivalence`, `concept`, `source`).

use serde_json::{json, Map, Value};
use terminology::{ConceptMap, Registry, TranslateRequest, Translation};

use super::{coding_fields, instance_url, missing, parameters, Params, Target};
use crate::error::Error;

pub fn answer(
    shared: &std::sync::Arc<Registry>,
    params: &Params,
    target: &Target,
) -> Result<Value, Error> {
    let mut url = params.str("url");
    let mut map_version = params.str("conceptMapVersion");
    let mut local;
    let mut registry: &Registry = shared;
    if let Target::Instance(body) = target {
        let (u, v) = instance_url(body)?;
        url = Some(u);
        map_version = v;
    } else if let Some(cm) = params.resource("conceptMap") {
        let bytes = serde_json::to_vec(cm).map_err(|e| Error::Fault(e.to_string()))?;
        let cm = ConceptMap::from_json(&bytes)
            .map_err(|e| Error::from(e).context("the conceptMap cannot be used"))?;
        // A map given with the request: translate with it alone, over the
        // registry's code systems.
        local = Registry::over(shared.clone());
        let key = cm.url().unwrap_or("urn:request:conceptMap").to_owned();
        local.insert_concept_map(cm);
        url = Some(key);
        map_version = None;
        registry = &local;
    }
    let mut codings: Vec<(Option<String>, Option<String>, String)> = Vec::new();
    // R5 names (sourceCode, sourceSystem, sourceCoding, targetSystem) are
    // accepted beside R4's, as the tx ecosystem tests send them.
    if let Some(c) = params
        .complex("coding", "valueCoding")
        .or_else(|| params.complex("sourceCoding", "valueCoding"))
    {
        let (s, v, k, _) = coding_fields(c);
        codings.extend(k.map(|k| (s, v, k)));
    } else if let Some(cc) = params.complex("codeableConcept", "valueCodeableConcept") {
        for c in cc["coding"].as_array().into_iter().flatten() {
            let (s, v, k, _) = coding_fields(c);
            codings.extend(k.map(|k| (s, v, k)));
        }
    } else if let Some(code) = params.str("code").or_else(|| params.str("sourceCode")) {
        codings.push((
            params.str("system").or_else(|| params.str("sourceSystem")),
            params.str("version"),
            code,
        ));
    }
    if codings.is_empty() {
        return Err(missing(
            "$translate needs a code (with system), a coding or a codeableConcept",
        ));
    }
    let source = params.str("source");
    let target_vs = params.str("target");
    let target_system = params
        .str("targetsystem")
        .or_else(|| params.str("targetSystem"));
    let reverse = params.bool("reverse")?.unwrap_or(false);
    let mut all = Translation {
        result: false,
        message: None,
        matches: Vec::new(),
    };
    let mut messages = Vec::new();
    for (system, version, code) in &codings {
        let t = registry.translate(&TranslateRequest {
            url: url.as_deref(),
            map_version: map_version.as_deref(),
            system: system.as_deref(),
            version: version.as_deref(),
            code,
            source: source.as_deref(),
            target: target_vs.as_deref(),
            target_system: target_system.as_deref(),
            reverse,
        })?;
        all.result |= t.result;
        messages.extend(t.message);
        all.matches.extend(t.matches);
    }
    let mut out = vec![json!({"name": "result", "valueBoolean": all.result})];
    if !all.result && !messages.is_empty() {
        out.push(json!({"name": "message", "valueString": messages.join("; ")}));
    }
    for m in &all.matches {
        let mut parts = vec![json!({"name": "equivalence", "valueCode": m.equivalence})];
        if m.code.is_some() {
            let mut c = Map::new();
            for (k, v) in [
                ("system", &m.system),
                ("version", &m.version),
                ("code", &m.code),
                ("display", &m.display),
            ] {
                if let Some(v) = v {
                    c.insert(k.into(), Value::String(v.clone()));
                }
            }
            parts.push(json!({"name": "concept", "valueCoding": Value::Object(c)}));
        }
        if let Some(s) = &m.source {
            parts.push(json!({"name": "source", "valueUri": s}));
        }
        out.push(json!({"name": "match", "part": parts}));
    }
    Ok(parameters(out))
}
