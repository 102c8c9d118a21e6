//! One import of a code master, for the CLI (`import-codes`) and the REST
//! operation (`CodeSystem/$import-codes`) alike: the resources
//! `terminology::local_codes::build` makes are stored by conditional
//! update on their `url` (a re-import replaces the previous version), all
//! in one transaction, so a server never maps with half a master.

use fhir_model::{Resource, ResourceType};
use serde_json::{json, Value};
use terminology::local_codes::{build, Kind};

use crate::error::Error;
use crate::store::{CondOutcome, Conditional, Store};

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub system: String,
    pub concepts: usize,
    /// (target system name, its url, the ConceptMap url, mappings).
    pub maps: Vec<(String, String, String, usize)>,
    /// Local codes with no standard code.
    pub without_mapping: Vec<String>,
}

impl Summary {
    /// The summary as the CLI prints it.
    pub fn text(&self) -> String {
        let mut s = format!("{}: {} concepts\n", self.system, self.concepts);
        for (name, _, url, n) in &self.maps {
            s.push_str(&format!("  {name}: {n} mappings ({url})\n"));
        }
        s.push_str(&format!(
            "  {} rows without any mapping{}\n",
            self.without_mapping.len(),
            if self.without_mapping.is_empty() {
                String::new()
            } else {
                format!(": {}", self.without_mapping.join(", "))
            }
        ));
        s
    }

    /// The summary as the REST operation answers it (a Parameters).
    pub fn parameters(&self) -> Value {
        let mut p = vec![
            json!({"name": "system", "valueUri": self.system}),
            json!({"name": "concepts", "valueInteger": self.concepts}),
        ];
        for (name, target, url, n) in &self.maps {
            p.push(json!({"name": "conceptMap", "part": [
                {"name": "target", "valueString": name},
                {"name": "targetSystem", "valueUri": target},
                {"name": "url", "valueUri": url},
                {"name": "mappings", "valueInteger": n},
            ]}));
        }
        for code in &self.without_mapping {
            p.push(json!({"name": "withoutMapping", "valueCode": code}));
        }
        json!({"resourceType": "Parameters", "parameter": p})
    }
}

/// Reads `csv` as a master of `kind` for the local system `system` and
/// stores its CodeSystem and ConceptMaps. Blocking.
pub fn run(store: &Store, kind: Kind, system: &str, csv: &[u8]) -> Result<Summary, Error> {
    let imported = build(kind, system, csv)?;
    let mut writes: Vec<(ResourceType, String, &[u8])> = vec![(
        ResourceType::CodeSystem,
        system.to_owned(),
        &imported.code_system,
    )];
    for m in &imported.concept_maps {
        writes.push((ResourceType::ConceptMap, m.url.clone(), &m.json));
    }
    let registry = store.registry();
    let mut ops = Vec::new();
    for (rt, url, json) in writes {
        let resource = Resource::from_json_slice(json)
            .map_err(|e| Error::Fault(format!("import-codes built an invalid {rt}: {e}")))?;
        let query = serde_urlencoded::to_string([("url", url.as_str())])
            .map_err(|e| Error::Fault(e.to_string()))?;
        let criteria = crate::interaction::create::criteria(&registry, rt, &query, "")?;
        ops.push(Conditional::Update(resource, criteria));
    }
    let keys: Vec<i64> = ops.iter().map(|o| o.criteria().lock_key()).collect();
    store.transaction_with(&keys, |tx| {
        for op in &ops {
            let mut op = op.clone();
            match tx.conditional(&mut op)? {
                CondOutcome::Created { .. } | CondOutcome::Updated { .. } => {}
                other => {
                    return Err(crate::store::TxError::Store(
                        crate::store::StoreError::Fault(format!(
                            "a conditional update ended as {other:?}"
                        )),
                    ))
                }
            }
        }
        Ok(())
    })?;
    Ok(Summary {
        system: system.to_owned(),
        concepts: imported.concepts,
        maps: imported
            .concept_maps
            .iter()
            .map(|m| {
                (
                    m.target.name.to_owned(),
                    m.target.system().to_owned(),
                    m.url.clone(),
                    m.mappings,
                )
            })
            .collect(),
        without_mapping: imported.without_mapping,
    })
}
