//! Black-box harness: starts the real fhir-server binary and talks HTTP.
