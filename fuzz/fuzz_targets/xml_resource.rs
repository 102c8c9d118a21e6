//! FHIR XML reading: any bytes either fail with a `ParseError` or give a
//! resource whose XML and JSON forms read back to the same resource.
#![no_main]

use fhir_model::Resource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(resource) = Resource::from_xml_slice(data) else {
        return;
    };
    let json = resource.to_json_vec();
    let xml = resource.to_xml_vec();
    let again = match Resource::from_xml_slice(&xml) {
        Ok(r) => r,
        Err(e) => panic!(
            "written XML does not read back: {e:?}\n{}",
            String::from_utf8_lossy(&xml)
        ),
    };
    assert_eq!(again.to_json_vec(), json, "XML round trip changed the resource");
});
