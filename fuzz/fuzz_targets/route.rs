//! The decoded route: any method and request path is either refused, or
//! decoded to a canonical path that the router matches with exactly the
//! type, id, version and operation the authorization layer judged
//! (`fhir_server::route::check_consistent`). The first byte picks the
//! method; the rest is the path.
#![no_main]

use actix_web::http::Method;
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = &METHODS[usize::from(*first) % METHODS.len()];
    if let Err(e) = fhir_server::route::check_consistent(method, path) {
        panic!("{method} {e}");
    }
});
