//! TLS and mutual TLS with a real client (`curl`), and the refusal to
//! listen on a non-loopback address unprotected.
//!
//! The certificates (a CA, a server certificate for 127.0.0.1 and a client
//! certificate, all signed by the CA) are made per test with the `openssl`
//! CLI in a temporary directory. TLS sits below storage, so these tests
//! run on SQLite only.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conformance_tests::server::server_binary;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ca.pem, server.pem/server.key (127.0.0.1), client.pem/client.key.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=fhir-test-ca",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    for (name, ext) in [("server", Some("server.ext")), ("client", None)] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let subject = format!("/CN=fhir-test-{name}");
        openssl(
            dir,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
                &subject,
            ],
        );
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "1",
        ];
        if let Some(e) = ext {
            args.extend(["-extfile", e]);
        }
        openssl(dir, &args);
    }
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server log kept in {}", self.dir.display());
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fhir-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` with TLS (and `extra`), waiting until curl gets an
/// answer over HTTPS.
fn start(dir: &Path, extra: &[&str], client_cert: bool) -> Server {
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(server_binary())
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--database")
        .arg(format!("sqlite:{}", dir.join("fhir.db").display()))
        .arg("--tls-cert")
        .arg(dir.join("server.pem"))
        .arg("--tls-key")
        .arg(dir.join("server.key"))
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start fhir-server");
    let server = Server {
        child,
        port,
        dir: dir.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if curl(&server, "/fhir/metadata", client_cert).0 == Some(200) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the TLS server did not answer: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `curl` over HTTPS trusting the test CA: the HTTP status (or `None`
/// when the connection failed) and curl's stderr.
fn curl(server: &Server, path: &str, client_cert: bool) -> (Option<u16>, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
    ])
    .arg("--cacert")
    .arg(server.dir.join("ca.pem"));
    if client_cert {
        cmd.arg("--cert")
            .arg(server.dir.join("client.pem"))
            .arg("--key")
            .arg(server.dir.join("client.key"));
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{}{path}", server.port))
        .output()
        .expect("curl is needed for this test");
    let code = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
    let code = code.filter(|c| *c != 0 && out.status.success());
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn https_with_a_real_client() {
    let dir = temp_dir("tls");
    certificates(&dir);
    let server = start(&dir, &[], false);
    assert_eq!(curl(&server, "/fhir/Patient", false).0, Some(200));
    // Plain HTTP to the TLS port gets no FHIR answer.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(format!("http://127.0.0.1:{}/fhir/metadata", server.port))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "200");
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate() {
    let dir = temp_dir("mtls");
    certificates(&dir);
    let ca = dir.join("ca.pem").display().to_string();
    let server = start(&dir, &["--tls-client-ca", &ca], true);
    assert_eq!(curl(&server, "/fhir/Patient", true).0, Some(200));
    let (status, err) = curl(&server, "/fhir/Patient", false);
    assert_eq!(status, None, "a client without a certificate got through");
    assert!(!err.is_empty());
    // A certificate from another CA is refused too.
    let other = temp_dir("mtls-other");
    certificates(&other);
    for f in ["client.pem", "client.key"] {
        std::fs::copy(other.join(f), dir.join(f)).unwrap();
    }
    assert_eq!(curl(&server, "/fhir/Patient", true).0, None);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn non_loopback_without_protection_is_refused() {
    let dir = temp_dir("insecure");
    let db = format!("sqlite:{}", dir.join("fhir.db").display());
    let out = Command::new(server_binary())
        .args(["serve", "--listen", "0.0.0.0:0", "--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
    assert!(err.contains("--insecure"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `curl --http1.1` over HTTPS with the URL's bytes as given: the status
/// and the body.
fn curl_bytes(server: &Server, path: &[u8]) -> (Option<u16>, String) {
    use std::os::unix::ffi::OsStrExt;
    let mut url = format!("https://127.0.0.1:{}", server.port).into_bytes();
    url.extend_from_slice(path);
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--path-as-is", "-w", "\n%{http_code}"])
        .args(["--max-time", "30", "--cacert"])
        .arg(server.dir.join("ca.pem"))
        .arg(std::ffi::OsStr::from_bytes(&url))
        .output()
        .expect("curl is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().ok(), body.to_owned())
}

/// Issue #17 item 23 over TLS: the connection layer reads the decrypted
/// stream, so raw UTF-8 in the target works, and bytes that are not UTF-8
/// or a 100 KB target get an OperationOutcome (HTTP/1.1: under HTTP/2 the
/// target travels HPACK-encoded, not as a request line).
#[test]
fn raw_utf8_and_long_targets_over_https() {
    let dir = temp_dir("tls-raw");
    certificates(&dir);
    let server = start(&dir, &[], false);
    let (status, body) = curl_bytes(&server, "/fhir/Patient?family=山田".as_bytes());
    assert_eq!(status, Some(200), "{body}");
    assert!(body.contains("searchset"), "{body}");
    let (status, body) = curl_bytes(&server, b"/fhir/Patient?family=\xFF");
    assert_eq!(status, Some(400), "{body}");
    assert!(
        body.contains("OperationOutcome") && body.contains("UTF-8"),
        "{body}"
    );
    let long = format!("/fhir/Patient?name={}", "a".repeat(100_000));
    let (status, body) = curl_bytes(&server, long.as_bytes());
    assert_eq!(status, Some(414), "{body}");
    assert!(body.contains("OperationOutcome"), "{body}");
    // The base URL the server writes still says https.
    let (_, body) = curl_bytes(&server, b"/fhir/Patient");
    assert!(body.contains("https://127.0.0.1"), "{body}");
}
