//! Quickstart: create, read, update a Patient and print its history.
//!
//! Start a server in one terminal:
//!
//! ```text
//! cargo run --release -p fhir-server -- serve
//! ```
//!
//! and run this in another:
//!
//! ```text
//! cargo run -p examples --bin quickstart
//! ```
//!
//! `FHIR_BASE` picks another server (default `http://127.0.0.1:8080/fhir`).
//! Every step is one plain HTTP call, as a FHIR client in any language makes it.

use std::io::Read;
use std::process::ExitCode;

use serde_json::{json, Value};

/// One answer: status, the headers we print, and the JSON body.
struct Answer {
    status: u16,
    location: Option<String>,
    etag: Option<String>,
    body: Value,
}

/// Sends one request; 4xx/5xx answers come back as `Answer`s too, so that an
/// OperationOutcome can be shown instead of a bare error.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let req = agent
        .request(method, url)
        .set("Accept", "application/fhir+json")
        .set("Content-Type", "application/fhir+json");
    let result = match body {
        Some(b) => req.send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => {
            return Err(format!(
                "{method} {url}: {e} (is the server running? see the README)"
            ))
        }
    };
    let status = resp.status();
    let location = resp.header("Location").map(str::to_string);
    let etag = resp.header("ETag").map(str::to_string);
    let mut text = String::new();
    resp.into_reader()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())?
    };
    Ok(Answer {
        status,
        location,
        etag,
        body,
    })
}

fn expect(answer: &Answer, status: &[u16], what: &str) -> Result<(), String> {
    if status.contains(&answer.status) {
        Ok(())
    } else {
        Err(format!(
            "{what} answered HTTP {}: {:#}",
            answer.status, answer.body
        ))
    }
}

fn run() -> Result<(), String> {
    let base =
        std::env::var("FHIR_BASE").unwrap_or_else(|_| "http://127.0.0.1:8080/fhir".to_string());
    let base = base.trim_end_matches('/');
    let agent = ureq::AgentBuilder::new().build();

    // 1. Create: POST [base]/Patient. The server picks the id and answers
    //    201 with Location [base]/Patient/{id}/_history/1.
    let patient = json!({
        "resourceType": "Patient",
        "name": [{"family": "山田", "given": ["太郎"], "text": "山田 太郎"}],
        "gender": "male",
        "birthDate": "1970-01-01"
    });
    let created = call(&agent, "POST", &format!("{base}/Patient"), Some(&patient))?;
    expect(&created, &[201], "create")?;
    let location = created
        .location
        .clone()
        .ok_or("create answered no Location header")?;
    let id = location
        .split("/Patient/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("unexpected Location {location}"))?
        .to_string();
    println!(
        "created   {location}  ETag {}",
        created.etag.as_deref().unwrap_or("-")
    );

    // 2. Read: GET [base]/Patient/{id}. meta.versionId and meta.lastUpdated
    //    are set by the server.
    let read = call(&agent, "GET", &format!("{base}/Patient/{id}"), None)?;
    expect(&read, &[200], "read")?;
    println!(
        "read      Patient/{id} version {} updated {}",
        read.body["meta"]["versionId"], read.body["meta"]["lastUpdated"]
    );

    // 3. Update: PUT [base]/Patient/{id} with the id in the body; 200 and a
    //    new version.
    let mut changed = read.body.clone();
    changed["telecom"] = json!([{"system": "phone", "value": "03-1234-5678", "use": "home"}]);
    let updated = call(
        &agent,
        "PUT",
        &format!("{base}/Patient/{id}"),
        Some(&changed),
    )?;
    expect(&updated, &[200], "update")?;
    println!(
        "updated   Patient/{id}  ETag {}",
        updated.etag.as_deref().unwrap_or("-")
    );

    // 4. History: GET [base]/Patient/{id}/_history, a Bundle of type
    //    `history`, newest version first.
    let history = call(
        &agent,
        "GET",
        &format!("{base}/Patient/{id}/_history"),
        None,
    )?;
    expect(&history, &[200], "history")?;
    println!(
        "history   {} version(s):",
        history.body["entry"].as_array().map_or(0, Vec::len)
    );
    for entry in history.body["entry"].as_array().into_iter().flatten() {
        println!(
            "  version {:<3} {:<6} {}  telecom: {}",
            entry["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap_or("-"),
            entry["request"]["method"].as_str().unwrap_or("-"),
            entry["resource"]["meta"]["lastUpdated"]
                .as_str()
                .unwrap_or("-"),
            entry["resource"]["telecom"][0]["value"]
                .as_str()
                .unwrap_or("(none)")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart: {e}");
            ExitCode::FAILURE
        }
    }
}
