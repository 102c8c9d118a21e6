//! Runnable examples for new users of the FHIR server; each is a binary under
//! `src/bin/` (start with `quickstart`). This library is empty on purpose.
