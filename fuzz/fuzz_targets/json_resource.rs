//! FHIR JSON reading: any bytes either fail with a `ParseError` or give a
//! resource that writes back to JSON which reads again to the same bytes
//! (the server stores what it wrote and serves it without re-reading, so a
//! write that does not read back would be a stored resource no one can
//! parse). Accepted resources also go through search-index extraction, which
//! runs every core search parameter's FHIRPath over them, as every write
//! does.
#![no_main]

use fhir_model::Resource;
use fhir_store::search::{extract, registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(resource) = Resource::from_json_slice(data) else {
        return;
    };
    let written = resource.to_json_vec();
    let again = match Resource::from_json_slice(&written) {
        Ok(r) => r,
        Err(e) => panic!(
            "written JSON does not read back: {e:?}\n{}",
            String::from_utf8_lossy(&written)
        ),
    };
    assert_eq!(again.to_json_vec(), written, "JSON round trip is not stable");
    if let Ok(tree) = fhir_model::json::tree::parse(&written) {
        let rtype = resource.resource_type();
        let _ = extract::extract(&registry::core(), rtype.as_str(), &tree);
    }
});
