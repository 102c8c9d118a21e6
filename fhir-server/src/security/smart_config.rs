//! `GET /.well-known/smart-configuration` (also under the FHIR base):
//! the SMART App Launch discovery document
//! (<https://hl7.org/fhir/smart-app-launch/conformance.html>), and the
//! CapabilityStatement `rest.security` that says the same, so clients find
//! the authorization and token endpoints and the scopes understood.
//! Public, as the spec requires. Without authorization configured there is
//! nothing to describe: 404.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::Security;
use crate::error::Error;

/// The scopes this server understands (examples of each form).
const SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "patient/*.read",
    "patient/*.rs",
    "patient/*.cruds",
    "user/*.read",
    "user/*.cruds",
    "system/*.read",
    "system/*.cruds",
];

pub async fn handle(security: web::Data<Security>) -> Result<HttpResponse, Error> {
    let Some(doc) = document(&security) else {
        return Err(Error::NotFound(
            "authorization is not configured on this server (serve --auth-issuer …)".into(),
        ));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(doc.to_string()))
}

/// The discovery document, when authorization is on.
pub fn document(security: &Security) -> Option<Value> {
    let v = security.verifier.as_ref()?;
    let mut doc = json!({
        "issuer": v.issuer,
        "authorization_endpoint": security.authorize_endpoint(),
        "token_endpoint": security.token_endpoint(),
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-ehr", "launch-standalone", "client-public",
            "client-confidential-symmetric", "client-confidential-asymmetric",
            "context-ehr-patient", "context-standalone-patient",
            "permission-patient", "permission-user", "permission-v1", "permission-v2"
        ],
    });
    if let Some(uri) = &security.jwks_url {
        doc["jwks_uri"] = json!(uri);
    }
    Some(doc)
}

/// The CapabilityStatement `rest.security` element
/// (<https://hl7.org/fhir/smart-app-launch/conformance.html#using-cors>:
/// the `SMART-on-FHIR` service and the `oauth-uris` extension), when
/// authorization is on.
pub fn capability_security(security: &Security) -> Option<Value> {
    security.verifier.as_ref()?;
    Some(json!({
        "cors": true,
        "service": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR"
            }],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"
        }],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": security.authorize_endpoint()},
                {"url": "token", "valueUri": security.token_endpoint()}
            ]
        }],
        "description": "Bearer JWTs (RS256, ES256) from the configured issuer; SMART scopes v1 \
                        and v2; a patient launch context limits every interaction to that \
                        patient's compartment."
    }))
}
