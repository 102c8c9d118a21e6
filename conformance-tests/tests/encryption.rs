//! Encryption at rest (SQLCipher): data written with a key is not in the
//! file in plain text, the server reads it back with the key, and opening
//! the database without the key or with a wrong one fails at start with a
//! message that says so — for `import` and `serve` alike. A key given with
//! a PostgreSQL URL is refused (PostgreSQL's own encryption applies there).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use conformance_tests::http::Client;
use conformance_tests::server::{server_binary, unique_suffix};
use serde_json::json;

const MARKER: &str = "Qzyxwvutsrq";
const KEY: &str = "a passphrase only this test knows";

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fhir-enc-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `fhir-server import` of one transaction with a Patient named `family`.
fn import(dir: &Path, db: &str, key: Option<&str>, family: &str) -> Output {
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:5f8f2a0e-3c8e-4b7e-9a57-0d5c2f1e9b11",
        "resource": {"resourceType": "Patient", "name": [{"family": family}]},
        "request": {"method": "POST", "url": "Patient"}}]});
    let file = dir.join(format!("{family}.json"));
    std::fs::write(&file, bundle.to_string()).expect("write bundle");
    let mut cmd = Command::new(server_binary());
    cmd.args(["import", "--database", db])
        .arg(&file)
        .env_remove("FHIR_DATABASE_KEY")
        .env_remove("FHIR_DATABASE_KEY_FILE");
    if let Some(k) = key {
        cmd.env("FHIR_DATABASE_KEY", k);
    }
    cmd.output().expect("run fhir-server import")
}

fn stderr(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `fhir-server serve` on `db` with the key in a file; the child and its
/// base URL once it answers.
fn serve(dir: &Path, db: &str, key: &str) -> (Child, String) {
    let key_file = dir.join("db.key");
    std::fs::write(&key_file, format!("{key}\n")).expect("write key file");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(server_binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            db,
        ])
        .env_remove("FHIR_DATABASE_KEY")
        .env("FHIR_DATABASE_KEY_FILE", &key_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let base = format!("http://127.0.0.1:{port}/fhir");
    let client = Client::with_timeout(&base, Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if matches!(client.try_get("/metadata"), Ok(r) if r.status == 200) {
            return (child, base);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("encrypted server did not come up");
}

#[test]
fn sqlite_store_is_encrypted_with_the_key() {
    let dir = temp_dir();
    let path = dir.join("enc.db");
    let db = format!("sqlite:{}", path.display());

    let out = import(&dir, &db, Some(KEY), MARKER);
    assert!(out.status.success(), "import with key: {}", stderr(&out));

    // No page of the file (nor of its WAL) shows the data or SQLite's header.
    for file in [path.clone(), dir.join("enc.db-wal")] {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        assert!(
            !bytes.starts_with(b"SQLite format 3\0"),
            "{}",
            file.display()
        );
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "plain text in {}",
            file.display()
        );
    }

    let out = import(&dir, &db, None, "Other");
    assert!(!out.status.success(), "import without the key succeeded");
    assert!(stderr(&out).contains("encrypted"), "{}", stderr(&out));

    let out = import(&dir, &db, Some("not the key"), "Other");
    assert!(!out.status.success(), "import with a wrong key succeeded");
    assert!(stderr(&out).contains("key is wrong"), "{}", stderr(&out));

    let (mut child, base) = serve(&dir, &db, KEY);
    let found = Client::new(&base).get(&format!("/Patient?family={MARKER}"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["total"], 1, "{}", found.text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_with_postgres_is_refused() {
    let dir = temp_dir();
    let out = import(
        &dir,
        "postgres://postgres@127.0.0.1:5432/test",
        Some(KEY),
        "Pg",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SQLite only"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
