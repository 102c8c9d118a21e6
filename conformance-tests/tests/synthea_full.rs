//! The whole Synthea set over HTTP (issue #7): the two `0-*` batch
//! Bundles, then all 120 patient transactions (92,114 entries), each
//! `POST /fhir`; no entry may fail, and every resource type's
//! `_summary=count` must equal the count worked out from the files
//! (`synthea::Expected`, conditional creates deduped).
//!
//! `#[ignore]`d: a debug server on the two-core CI machine needs far too
//! long for it (a release server takes minutes). Run it by hand with
//!
//! ```text
//! cargo test --release -p conformance-tests --test synthea_full -- --ignored
//! ```
//!
//! `ingest_bench` makes the same check after every load it times.

use std::time::Duration;

use conformance_tests::synthea::{self, failed_entries, Expected, Files};
use conformance_tests::{backend_tests, Client, FHIR_JSON};

backend_tests! {
    #[ignore = "loads 92,114 resources; minutes even in release (see the file doc)"]
    fn all_synthea_bundles_load_and_every_type_counts_right(server) {
        let files = Files::load_default().expect("the Synthea set (../shared/data/synthea-120)");
        assert_eq!(files.batches.len(), 2, "{files:?}");
        let c = Client::with_timeout(server.base_url(), Duration::from_secs(1800));
        let mut expected = Expected::default();
        let mut failures = Vec::new();
        for path in files.in_load_order() {
            let bytes = synthea::read_bz2(&path).unwrap_or_else(|e| panic!("{e}"));
            let json: serde_json::Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let before = expected.entries;
            expected.add_bundle(&json);
            let r = c.request("POST", "", Some(FHIR_JSON), &bytes);
            let (_, lines) = failed_entries(r.status, &r.body, expected.entries - before);
            failures.extend(lines.into_iter().map(|l| format!("{}: {l}", path.display())));
        }
        assert!(failures.is_empty(), "failed entries:\n{}", failures.join("\n"));
        assert_eq!(expected.entries, 92_114, "the set's entry count changed");
        let mismatches = expected.mismatches(&c);
        assert!(mismatches.is_empty(), "per-type totals:\n{}", mismatches.join("\n"));
    }
}
