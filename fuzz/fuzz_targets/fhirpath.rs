//! FHIRPath: any expression text either fails to compile with an error or
//! evaluates (to a value or an error) over a sample Patient without
//! panicking or overflowing the stack.
#![no_main]

use fhirpath::{Context, Expression};
use libfuzzer_sys::fuzz_target;

const PATIENT: &str = r#"{"resourceType":"Patient","id":"p1",
 "meta":{"lastUpdated":"2024-01-01T10:00:00Z"},
 "extension":[{"url":"http://example.org/x","valueDecimal":1.50}],
 "identifier":[{"system":"urn:oid:1.2.392","value":"12345"}],
 "name":[{"family":"Yamada","given":["Taro","T"]},{"text":"山田 太郎"}],
 "gender":"male","birthDate":"1970-01-01","active":true,
 "telecom":[{"system":"phone","value":"03-1234-5678"}],
 "contact":[{"name":{"family":"Yamada"},"period":{"start":"2000-01"}}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = Expression::compile(text) else {
        return;
    };
    let Ok(tree) = fhir_model::json::tree::parse(PATIENT.as_bytes()) else {
        return;
    };
    let _ = expr.evaluate(&Context::new(&tree));
});
