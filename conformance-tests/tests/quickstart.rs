//! The README's quickstart example (`examples/src/bin/quickstart.rs`) runs
//! as written against a real server, so the first thing a new user tries
//! keeps working.

use std::process::Command;

use conformance_tests::backend_tests;
use conformance_tests::server::cargo_build_bin;

backend_tests! {
    fn quickstart_example_runs(server) {
        let bin = cargo_build_bin("examples", "quickstart");
        let out = Command::new(bin).env("FHIR_BASE", server.base_url()).output().expect("run quickstart");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "quickstart failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("created"), "{stdout}");
        assert!(stdout.contains("history   2 version(s)"), "{stdout}");
        assert!(stdout.contains("03-1234-5678"), "{stdout}");
    }
}
