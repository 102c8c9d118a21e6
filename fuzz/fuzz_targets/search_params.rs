//! Search parameters: any query string, for any resource type, is parsed
//! into criteria (or reports of what could not be used) and planned into
//! SQL for both backends without panicking. The input's first line names the
//! resource type; the rest is the query string.
#![no_main]

use fhir_store::search::{query, registry, sql};
use fhir_store::store::Backend;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (rtype, qs) = text.split_once('\n').unwrap_or(("Observation", text));
    let Ok(params) = serde_urlencoded::from_str::<Vec<(String, String)>>(qs) else {
        return;
    };
    let reg = registry::core();
    let req = query::parse(&reg, vec![rtype.to_owned()], &params);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let mut q = sql::Sql::new(backend);
        sql::criteria(&mut q, rtype, "r.id", &req.criteria);
    }
});
