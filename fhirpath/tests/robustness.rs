//! No input panics the engine: expressions stitched together from random
//! pieces of the grammar, evaluated on an official example. A panic fails
//! the test; errors are fine.

use fhirpath::{Context, Expression};

const PIECES: &[&str] = &[
    "Patient",
    "name",
    "given",
    "family",
    "birthDate",
    "telecom",
    "extension",
    "value",
    "id",
    "contact",
    "active",
    "gender",
    ".",
    ".",
    ".",
    "(",
    ")",
    "[0]",
    "[",
    "]",
    "{}",
    "1",
    "0",
    "-1",
    "2147483647",
    "-2147483648",
    "9223372036854775807",
    "1.5",
    "0.0",
    "1e400",
    "'a'",
    "'\\u0041'",
    "@2020",
    "@2020-02-29",
    "@2020-01-01T10:00:00Z",
    "@T10:00",
    "1 'mg'",
    "3 days",
    "1000000000 years",
    "+",
    "-",
    "*",
    "/",
    "div",
    "mod",
    "&",
    "|",
    "=",
    "!=",
    "~",
    "!~",
    "<",
    ">",
    "<=",
    ">=",
    "and",
    "or",
    "xor",
    "implies",
    "in",
    "contains",
    "is",
    "as",
    "Quantity",
    "String",
    "$this",
    "$index",
    "$total",
    "%resource",
    "%context",
    "%ucum",
    ",",
    "where(",
    "select(",
    "repeat(",
    "all(",
    "exists(",
    "empty()",
    "count()",
    "first()",
    "last()",
    "tail()",
    "skip(",
    "take(",
    "single()",
    "distinct()",
    "iif(",
    "not()",
    "toString()",
    "toInteger()",
    "toDecimal()",
    "toQuantity(",
    "toDateTime()",
    "substring(",
    "indexOf(",
    "matches(",
    "replaceMatches(",
    "split(",
    "join(",
    "length()",
    "upper()",
    "power(",
    "sqrt()",
    "ln()",
    "log(",
    "exp()",
    "round(",
    "abs()",
    "lowBoundary(",
    "highBoundary(",
    "precision()",
    "children()",
    "descendants()",
    "aggregate(",
    "sort(",
    "ofType(",
    "type()",
    "resolve()",
    "extension(",
    "hasValue()",
    "getValue()",
    "encode(",
    "decode(",
    "trace(",
    "now()",
    "today()",
    "combine(",
    "union(",
    "intersect(",
    "exclude(",
    "subsetOf(",
    "isDistinct()",
    "convertsToQuantity()",
    "'[a-z]+'",
    "'('",
    "'hex'",
];

#[test]
fn random_expressions_never_panic() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tests/fhirpath/patient-example.json");
    let bytes = std::fs::read(&path).expect("patient example");
    let patient = fhir_model::json::tree::parse(&bytes).expect("json");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compiled = 0;
    // FHIRPATH_FUZZ_ITERS runs longer, e.g. before a release.
    let iters: usize = std::env::var("FHIRPATH_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    for _ in 0..iters {
        let len = 1 + (next() % 12) as usize;
        let expr: Vec<&str> = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let expr = expr.join(" ");
        if let Ok(e) = Expression::compile(&expr) {
            compiled += 1;
            let _ = e.evaluate(&Context::new(&patient));
            let _ = e.evaluate(&Context::new(&patient).strict(true));
        }
    }
    assert!(compiled > 1000, "only {compiled} expressions compiled");
}
