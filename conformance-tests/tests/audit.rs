//! Audit (`serve --audit`), black-box on both backends: every interaction
//! leaves an AuditEvent shaped by IHE BALP (subtype, action, outcome,
//! agent, entity, query), AuditEvents cannot be changed through the API,
//! and `fhir-server audit verify` passes on an intact chain and names the
//! record that was modified, or the sequence that was removed, directly in
//! the database.

use std::process::Command;

use conformance_tests::server::server_binary;
use conformance_tests::{assert_outcome, backend_tests, location, Backend, Client, TestServer};
use serde_json::{json, Value};

/// Every stored AuditEvent (following `next` links). Searching is itself
/// audited, so the answer includes records of these searches.
fn audits(c: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some("/AuditEvent?_count=200".to_owned());
    while let Some(url) = next.take() {
        let page = c.get(&url);
        page.expect_status(200);
        let b = page.json();
        for e in b["entry"].as_array().into_iter().flatten() {
            out.push(e["resource"].clone());
        }
        next = b["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str().map(str::to_owned));
    }
    out
}

fn subtype(e: &Value) -> &str {
    e["subtype"][0]["code"].as_str().unwrap_or("")
}

fn references(e: &Value) -> Vec<String> {
    e["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["what"]["reference"].as_str().map(str::to_owned))
        .collect()
}

/// The one record of `code` about `what`, with its outcome.
#[track_caller]
fn find<'a>(all: &'a [Value], code: &str, what: &str) -> &'a Value {
    let found: Vec<&Value> = all
        .iter()
        .filter(|e| subtype(e) == code && references(e).iter().any(|r| r == what))
        .collect();
    assert_eq!(found.len(), 1, "{code} of {what}: {found:#?}");
    found[0]
}

fn verify(server: &TestServer) -> (bool, String) {
    let out = Command::new(server_binary())
        .args(["audit", "verify", "--database", &server.database_url()])
        .output()
        .expect("fhir-server audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs SQL against the server's database with the backend's CLI.
fn sql(server: &TestServer, statement: &str) {
    let url = server.database_url();
    let out = match server.backend() {
        Backend::Sqlite => Command::new("sqlite3")
            .arg(url.trim_start_matches("sqlite:"))
            .arg(statement)
            .output(),
        Backend::Postgres => Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", statement])
            .output(),
    }
    .expect("database CLI");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The id of the chained record at `seq`.
fn record_at(all: &[Value], seq: i64) -> String {
    all.iter()
        .find(|e| {
            e["extension"].as_array().into_iter().flatten().any(|x| {
                x["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("audit-chain-sequence"))
                    && x["valueInteger"] == seq
            })
        })
        .and_then(|e| e["id"].as_str())
        .unwrap_or_else(|| panic!("no record at sequence {seq}"))
        .to_owned()
}

backend_tests! {
    /// create, read, vread, update, search (with its query), history,
    /// delete, a failed read, batch and transaction each leave one record
    /// with the BALP subtype, action, outcome, agent and entities.
    fn every_interaction_leaves_an_audit_event(server) with ["--audit"] {
        let c = server.client();
        let created = c.post("/Patient", &json!({"resourceType": "Patient", "name": [{"family": "Audit"}]}));
        created.expect_status(201);
        let id = location(&created).id;
        let p = format!("Patient/{id}");
        c.get(&format!("/{p}")).expect_status(200);
        c.get(&format!("/{p}/_history/1")).expect_status(200);
        c.put(&format!("/{p}"), &json!({"resourceType": "Patient", "id": id, "active": true}))
            .expect_status(200);
        c.get("/Patient?family=Audit").expect_status(200);
        c.get(&format!("/{p}/_history")).expect_status(200);
        c.get("/Patient/no-such-patient").expect_status(404);
        let obs = json!({"resourceType": "Observation", "status": "final",
                         "code": {"text": "x"}, "subject": {"reference": p}});
        c.post("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": obs, "request": {"method": "POST", "url": "Observation"}}]}))
            .expect_status(200);
        c.post("", &json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": p}}]}))
            .expect_status(200);
        c.delete(&format!("/{p}")).expect_status(204);

        let all = audits(&c);
        let create = find(&all, "create", &p);
        assert_eq!(create["action"], "C");
        assert_eq!(create["outcome"], "0");
        assert_eq!(create["type"]["code"], "rest");
        assert_eq!(create["subtype"][0]["system"], "http://hl7.org/fhir/restful-interaction");
        assert_eq!(create["agent"][0]["who"]["identifier"]["value"], "anonymous");
        assert_eq!(create["agent"][0]["network"]["address"], "127.0.0.1");
        assert!(create["recorded"].as_str().is_some_and(|r| r.starts_with("20")));
        assert_eq!(find(&all, "read", &p)["action"], "R");
        assert_eq!(find(&all, "vread", &format!("{p}/_history/1"))["action"], "R");
        assert_eq!(find(&all, "update", &p)["action"], "U");
        assert_eq!(find(&all, "history-instance", &p)["action"], "R");
        assert_eq!(find(&all, "delete", &p)["action"], "D");
        let failed = find(&all, "read", "Patient/no-such-patient");
        assert_eq!(failed["outcome"], "4");
        assert!(failed["outcomeDesc"].as_str().is_some());
        let search: Vec<&Value> = all.iter().filter(|e| subtype(e) == "search-type"
            && e["entity"].as_array().into_iter().flatten().any(|x| x["query"].is_string()))
            .collect();
        // base64 of `family=Audit`.
        let query = search.iter().find(|e| {
            e["entity"].as_array().into_iter().flatten().any(|x| x["query"] == "ZmFtaWx5PUF1ZGl0")
        });
        assert_eq!(query.expect("the search's record")["action"], "E");
        assert!(all.iter().any(|e| subtype(e) == "transaction"));
        assert!(all.iter().any(|e| subtype(e) == "batch"));
        // The records of the reads name the patient as BALP's patient entity.
        let read = find(&all, "read", &p);
        assert!(read["entity"].as_array().unwrap().iter()
            .any(|x| x["role"]["code"] == "1" && x["what"]["reference"] == p.as_str()));
    }

    /// PUT, PATCH, DELETE, POST and `$meta-delete` of AuditEvents answer
    /// 405, a transaction deleting one 403; the record stays as it was.
    fn audit_events_cannot_be_changed(server) with ["--audit"] {
        let c = server.client();
        c.get("/metadata").expect_status(200);
        let all = audits(&c);
        let first = all[0].clone();
        let id = first["id"].as_str().unwrap().to_owned();
        let path = format!("/AuditEvent/{id}");
        assert_outcome(&c.put(&path, &first), 405, &["not-supported"], None);
        assert_outcome(&c.delete(&path), 405, &["not-supported"], None);
        assert_outcome(&c.delete("/AuditEvent?_id=x"), 405, &["not-supported"], None);
        let patch = c.request("PATCH", &path, Some("application/json-patch+json"),
            br#"[{"op": "replace", "path": "/outcome", "value": "8"}]"#);
        assert_outcome(&patch, 405, &["not-supported"], None);
        let mut fake = first.clone();
        fake.as_object_mut().unwrap().remove("id");
        assert_outcome(&c.post("/AuditEvent", &fake), 405, &["not-supported"], None);
        let meta = c.post(&format!("{path}/$meta-delete"), &json!({"resourceType": "Parameters"}));
        assert_outcome(&meta, 405, &["not-supported"], None);
        let tx = c.post("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "DELETE", "url": format!("AuditEvent/{id}")}}]}));
        assert_outcome(&tx, 403, &["forbidden"], None);
        let now = c.get(&path);
        now.expect_status(200);
        assert_eq!(now.json()["meta"]["versionId"], "1");
        assert_eq!(now.json()["outcome"], first["outcome"]);
        // The refusals were recorded too, as failures.
        let refused = audits(&c).into_iter()
            .filter(|e| e["outcome"] == "4" && references(e).contains(&format!("AuditEvent/{id}")))
            .count();
        assert!(refused >= 3, "{refused}");
    }

    /// `audit verify` passes, then names a record whose body was changed
    /// with SQL, then the sequence number of a record deleted with SQL.
    fn audit_verify_detects_tampering(server) with ["--audit"] {
        let c = server.client();
        for _ in 0..3 {
            c.get("/metadata").expect_status(200);
        }
        let pid = conformance_tests::create_patient(&c);
        c.get(&format!("/Patient/{pid}")).expect_status(200);
        let (ok, text) = verify(server);
        assert!(ok, "{text}");
        assert!(text.contains("intact"), "{text}");

        let all = audits(&c);
        let second = record_at(&all, 2);
        let modify = match server.backend() {
            Backend::Sqlite => format!(
                "UPDATE resource_versions SET body = CAST(replace(CAST(body AS TEXT), \
                 '\"outcome\":\"0\"', '\"outcome\":\"8\"') AS BLOB) \
                 WHERE resource_type = 'AuditEvent' AND resource_id = '{second}'"),
            Backend::Postgres => format!(
                "UPDATE resource_versions SET body = convert_to(replace(convert_from(body, 'UTF8'), \
                 '\"outcome\":\"0\"', '\"outcome\":\"8\"'), 'UTF8') \
                 WHERE resource_type = 'AuditEvent' AND resource_id = '{second}'"),
        };
        sql(server, &modify);
        assert_eq!(c.get(&format!("/AuditEvent/{second}")).json()["outcome"], "8");
        let (ok, text) = verify(server);
        assert!(!ok, "{text}");
        assert!(text.contains(&second) && text.contains("content"), "{text}");

        let fourth = record_at(&all, 4);
        for table in ["resource_versions", "resources"] {
            sql(server, &format!(
                "DELETE FROM {table} WHERE resource_type = 'AuditEvent' AND resource_id = '{fourth}'"));
        }
        // Undo the change of the second record: only the removal is left.
        let restore = modify.replace("\"outcome\":\"0\"", "@@").replace("\"outcome\":\"8\"", "\"outcome\":\"0\"").replace("@@", "\"outcome\":\"8\"");
        sql(server, &restore);
        let (ok, text) = verify(server);
        assert!(!ok, "{text}");
        assert!(text.contains("sequence 4") && text.contains("missing"), "{text}");
    }
}

/// With authorization on, the record names the token's user (`sub`) as
/// the requestor, and a request refused for want of a token is recorded
/// as a failure by `unauthenticated`.
fn agents_come_from_the_token(backend: Backend) {
    conformance_tests::smart::run_with_auth(backend, &["--audit"], |server| {
        let c = conformance_tests::smart::client(server, "system/*.cruds", None);
        c.get("/Patient/nobody").expect_status(404);
        server.client().get("/Patient/anyone").expect_status(401);
        let all = audits(&c);
        let read = find(&all, "read", "Patient/nobody");
        let user = read["agent"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["requestor"] == true)
            .expect("a requestor");
        assert_eq!(user["who"]["identifier"]["value"], "tester");
        let refused = find(&all, "read", "Patient/anyone");
        assert_eq!(refused["outcome"], "4");
        assert_eq!(
            refused["agent"][0]["who"]["identifier"]["value"],
            "unauthenticated"
        );
    });
}

#[test]
fn agents_come_from_the_token_sqlite() {
    agents_come_from_the_token(Backend::Sqlite);
}

#[test]
fn agents_come_from_the_token_postgres() {
    agents_come_from_the_token(Backend::Postgres);
}
