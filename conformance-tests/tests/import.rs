//! `fhir-server import` (issue #7): NDJSON (plain, .gz, .bz2) and Bundles
//! load through the same code as the REST API, into the store a running
//! server then answers from; bad lines are reported and cost only
//! themselves.

use std::io::Write;
use std::process::Command;

use conformance_tests::backend_tests;
use conformance_tests::server::server_binary;

const NDJSON: &str = concat!(
    r#"{"resourceType":"Patient","id":"imp-1","active":true}"#,
    "\n",
    r#"{"resourceType":"Observation","id":"imp-2","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/imp-1"}}"#,
    "\n",
    "\n",
    r#"{"resourceType":"Patient","id":"imp-bad","birthDate":"1990-13-01"}"#,
    "\n",
);

backend_tests! {
    fn import_loads_ndjson_and_bundles(server) {
        let dir = std::env::temp_dir().join(format!("fhir-import-{}", conformance_tests::server::unique_suffix()));
        std::fs::create_dir_all(dir.join("nested")).expect("temp dir");
        std::fs::write(dir.join("a.ndjson"), NDJSON).expect("write");
        let gz = std::fs::File::create(dir.join("nested/b.ndjson.gz")).expect("gz");
        let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
        enc.write_all(NDJSON.replace("imp-", "gz-").as_bytes()).expect("gz write");
        enc.finish().expect("gz finish");
        let bundle = serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:0b8a4f2c-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Patient", "id": "tx-1"},
             "request": {"method": "PUT", "url": "Patient/tx-1"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                          "subject": {"reference": "urn:uuid:0b8a4f2c-0000-4000-8000-000000000001"}},
             "request": {"method": "POST", "url": "Observation"}}]});
        std::fs::write(dir.join("c.json"), serde_json::to_vec(&bundle).expect("json")).expect("write");

        let out = Command::new(server_binary())
            .args(["import", "--database", &server.database_url()])
            .arg(&dir)
            .output()
            .expect("run import");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "the two bad lines make the import fail: {stdout}");
        assert!(stdout.contains("imported 6 resources from 3 files"), "{stdout}");
        assert!(stdout.contains("2 failed"), "{stdout}");
        assert!(stdout.contains("a.ndjson:4: Patient.birthDate"), "{stdout}");

        let c = server.client();
        for id in ["imp-1", "gz-1", "tx-1"] {
            c.get(&format!("/Patient/{id}")).expect_status(200);
        }
        c.get("/Observation/imp-2").expect_status(200);
        c.get("/Patient/imp-bad").expect_status(404);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
