//! Audit (`serve --audit`), black-box on both backends: every interaction
//! leaves an AuditEvent shaped by IHE BALP (subtype, action, outcome,
//! agent, entity, query), AuditEvents cannot be changed through the API,
//! whatever route or spelling, and `fhir-server audit verify` passes on
//! an intact chain and names the record that was modified (also when the
//! rest was re-hashed without the key), the sequence that was removed, an
//! unchained record, or, against the checkpoint file, records removed from
//! the end. Refused callers are recorded with their identity, a 406 too,
//! and an anonymous body is never read before its 401.

use std::io::{Read, Write};
use std::time::Duration;

use conformance_tests::audit::{
    audits, body_literal, head_seq, seq_of, verify_once, verify_sealed, KEY,
};
use conformance_tests::{assert_outcome, backend_tests, location, Backend, TestServer};
use serde_json::{json, Value};

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

/// The one record of `code` about resource `what` (BALP's domain-resource
/// entity; a record about an Observation names its patient too), with
/// its outcome.
#[track_caller]
fn find<'a>(all: &'a [Value], code: &str, what: &str) -> &'a Value {
    let about = |e: &Value| {
        e["entity"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["role"]["code"] == "4" && x["what"]["reference"] == what)
    };
    let found: Vec<&Value> = all
        .iter()
        .filter(|e| subtype(e) == code && about(e))
        .collect();
    assert_eq!(found.len(), 1, "{code} of {what}: {found:#?}");
    found[0]
}

fn verify(server: &TestServer) -> (bool, String) {
    verify_sealed(&server.database_url(), None)
}

fn sql(server: &TestServer, statement: &str) {
    conformance_tests::audit::sql(server.backend(), &server.database_url(), statement);
}

/// The id of the chained record at `seq`.
fn record_at(all: &[Value], seq: i64) -> String {
    all.iter()
        .find(|e| seq_of(e) == Some(seq))
        .and_then(|e| e["id"].as_str())
        .unwrap_or_else(|| panic!("no record at sequence {seq}"))
        .to_owned()
}

/// Every record, once all are sealed (the sealer chains them shortly
/// after commit).
fn sealed_audits(server: &TestServer) -> Vec<Value> {
    let (ok, text) = verify(server);
    assert!(ok, "{text}");
    let head = head_seq(&text).expect("a head");
    let all = audits(&server.client());
    assert!(all.iter().filter(|e| seq_of(e).is_some()).count() as i64 >= head);
    all
}

/// Replaces the stored body of AuditEvent `id` with `body`.
fn overwrite(server: &TestServer, id: &str, body: &Value) {
    sql(
        server,
        &format!(
            "UPDATE resource_versions SET body = {} WHERE resource_type = 'AuditEvent' \
         AND resource_id = '{id}'",
            body_literal(server.backend(), body)
        ),
    );
}

/// JSON with object keys sorted and no whitespace.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn sha256_hex(data: &str) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// Sets a chain extension (`sequence`, `previous`, `hash`) of a record.
fn set_link(e: &mut Value, name: &str, value: &str) {
    for x in e["extension"].as_array_mut().into_iter().flatten() {
        if x["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("audit-chain-{name}")))
        {
            x["valueString"] = json!(value);
        }
    }
}

backend_tests! {
    /// create, read, vread, update, search (with its query), history,
    /// delete, a failed read, batch and transaction each leave one record
    /// with the BALP subtype, action, outcome, agent and entities.
    fn every_interaction_leaves_an_audit_event(server) with ["--audit", "--audit-key-file", KEY] {
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
    /// 405, whatever the spelling of the path; a transaction or batch
    /// entry writing one is refused by the store (405, the transaction
    /// rolled back); the record stays as it was.
    fn audit_events_cannot_be_changed(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        c.get("/metadata").expect_status(200);
        let all = audits(&c);
        let first = all[0].clone();
        let id = first["id"].as_str().unwrap().to_owned();
        let path = format!("/AuditEvent/{id}");
        assert_outcome(&c.put(&path, &first), 405, &["not-supported"], None);
        assert_outcome(&c.delete(&path), 405, &["not-supported"], None);
        assert_outcome(&c.delete(&format!("/AuditEven%74/{id}")), 405, &["not-supported"], None);
        assert_outcome(&c.delete("/AuditEvent?_id=x"), 405, &["not-supported"], None);
        let patch = c.request("PATCH", &path, Some("application/json-patch+json"),
            br#"[{"op": "replace", "path": "/outcome", "value": "8"}]"#);
        assert_outcome(&patch, 405, &["not-supported"], None);
        let mut fake = first.clone();
        fake.as_object_mut().unwrap().remove("id");
        assert_outcome(&c.post("/AuditEvent", &fake), 405, &["not-supported"], None);
        let meta = c.post(&format!("{path}/$meta-delete"), &json!({"resourceType": "Parameters"}));
        assert_outcome(&meta, 405, &["not-supported"], None);
        let tag = json!({"resourceType": "Parameters", "parameter": [{"name": "meta",
            "valueMeta": {"tag": [{"system": "urn:x", "code": "forged"}]}}]});
        let meta = c.post(&format!("{path}/%24meta-add"), &tag);
        assert_outcome(&meta, 405, &["not-supported"], None);
        let p = conformance_tests::create_patient(&c);
        for request in [
            json!({"method": "DELETE", "url": format!("AuditEvent/{id}")}),
            json!({"method": "DELETE", "url": format!("AuditEven%74/{id}")}),
            json!({"method": "DELETE", "url": "AuditEvent?_id=x"}),
        ] {
            // The first entry would delete a Patient: rolled back too.
            let tx = c.post("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"request": {"method": "DELETE", "url": format!("Patient/{p}")}},
                {"request": request}]}));
            assert!(tx.status == 405 || tx.status == 400, "{request}: {}", tx.text());
            c.get(&format!("/Patient/{p}")).expect_status(200);
        }
        let mut forged = first.clone();
        forged["outcome"] = json!("8");
        let batch = c.post("", &json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": forged, "request": {"method": "PUT", "url": format!("AuditEvent/{id}")}}]}));
        batch.expect_status(200);
        let status = batch.json()["entry"][0]["response"]["status"].as_str().unwrap_or("").to_owned();
        assert!(status.starts_with("405"), "{status}");
        let now = c.get(&path);
        now.expect_status(200);
        assert_eq!(now.json()["meta"]["versionId"], "1");
        assert_eq!(now.json()["outcome"], first["outcome"]);
        assert!(now.json()["meta"].get("tag").is_none(), "{}", now.json());
        // The refusals were recorded too, as failures, with the resource
        // they named whatever its spelling.
        let refused = audits(&c).into_iter()
            .filter(|e| e["outcome"] == "4" && references(e).contains(&format!("AuditEvent/{id}")))
            .count();
        assert!(refused >= 5, "{refused}");
        let (ok, text) = verify(server);
        assert!(ok, "{text}");
    }

    /// `audit verify` passes, then names a record whose body was changed
    /// with SQL, then the sequence number of a record deleted with SQL.
    fn audit_verify_detects_tampering(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        for _ in 0..3 {
            c.get("/metadata").expect_status(200);
        }
        let pid = conformance_tests::create_patient(&c);
        c.get(&format!("/Patient/{pid}")).expect_status(200);
        let (ok, text) = verify(server);
        assert!(ok, "{text}");
        assert!(text.contains("intact"), "{text}");

        let all = sealed_audits(server);
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
        let (ok, text) = verify_once(&server.database_url(), None);
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
        let (ok, text) = verify_once(&server.database_url(), None);
        assert!(!ok, "{text}");
        assert!(text.contains("sequence 4") && text.contains("missing"), "{text}");
    }

    /// A changed record whose hash, and every later record's links, are
    /// recomputed by someone without the key (with the unkeyed SHA-256
    /// chain of before, which `audit verify` then accepted) is detected
    /// at the changed record.
    fn rehashing_without_the_key_is_detected(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        for _ in 0..4 {
            c.get("/metadata").expect_status(200);
        }
        let mut all = sealed_audits(server);
        all.retain(|e| seq_of(e).is_some());
        all.sort_by_key(seq_of);
        let target = 2;
        let mut previous = String::new();
        for e in all.iter_mut().filter(|e| seq_of(e) >= Some(target)) {
            if seq_of(e) == Some(target) {
                e["outcome"] = json!("8");
                previous = e["extension"].as_array().unwrap().iter()
                    .find(|x| x["url"].as_str().unwrap().ends_with("previous"))
                    .and_then(|x| x["valueString"].as_str()).unwrap().to_owned();
            }
            set_link(e, "previous", &previous);
            let mut unhashed = e.clone();
            unhashed.as_object_mut().unwrap().remove("meta");
            unhashed["extension"].as_array_mut().unwrap()
                .retain(|x| !x["url"].as_str().unwrap().ends_with("hash"));
            let hash = sha256_hex(&format!("{previous}{}", canonical(&unhashed)));
            set_link(e, "hash", &hash);
            previous = hash;
            let id = e["id"].as_str().unwrap().to_owned();
            overwrite(server, &id, e);
        }
        let changed = all.iter().find(|e| seq_of(e) == Some(target)).unwrap()["id"]
            .as_str().unwrap().to_owned();
        let (ok, text) = verify_once(&server.database_url(), None);
        assert!(!ok, "{text}");
        assert!(text.contains(&changed) && text.contains("keyed hash"), "{text}");
    }

    /// An AuditEvent put into the database without chain links (not
    /// written by the server's trail) makes `audit verify` fail, also when
    /// it was queued for the sealer without the server's MAC (the sealer
    /// does not chain it).
    fn an_unchained_record_is_an_error(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        c.get("/metadata").expect_status(200);
        let (ok, text) = verify(server);
        assert!(ok, "{text}");
        let insert = |id: &str| {
            let forged = json!({"resourceType": "AuditEvent", "id": id,
                "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000Z"},
                "type": {"code": "rest"}, "recorded": "2026-01-01T00:00:00.000Z",
                "agent": [{"requestor": true}], "source": {"observer": {"display": "x"}}});
            sql(server, &format!(
                "INSERT INTO resource_versions (resource_type, resource_id, version, last_updated, \
                 deleted, method, body) VALUES ('AuditEvent', '{id}', 1, \
                 '2026-01-01T00:00:00.000Z', false, 'POST', {})",
                body_literal(server.backend(), &forged)));
        };
        insert("queued");
        sql(server, "INSERT INTO audit_pending (resource_id, mac, recorded) \
            VALUES ('queued', 'not-the-mac', '2026-01-01T00:00:00.000Z')");
        std::thread::sleep(Duration::from_secs(1));
        c.get("/metadata").expect_status(200);
        let (ok, text) = verify_sealed(&server.database_url(), None);
        assert!(!ok, "{text}");
        assert!(text.contains("queued") && text.contains("unchained"), "{text}");
        sql(server, "DELETE FROM resource_versions WHERE resource_id = 'queued'");
        sql(server, "DELETE FROM audit_pending WHERE resource_id = 'queued'");
        let (ok, text) = verify(server);
        assert!(ok, "{text}");

        insert("forged");
        let (ok, text) = verify_once(&server.database_url(), None);
        assert!(!ok, "{text}");
        assert!(text.contains("forged") && text.contains("unchained"), "{text}");
    }

    /// The sealer indexes the records it seals (in batches, with their
    /// sealed bodies): once sealed, searches by AuditEvent parameters find
    /// every record of a read, and each found record carries its links.
    fn sealed_records_are_searchable(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        let id = conformance_tests::create_patient(&c);
        for _ in 0..3 {
            c.get(&format!("/Patient/{id}")).expect_status(200);
        }
        let (ok, text) = verify(server);
        assert!(ok, "{text}");
        let page = c.get(&format!("/AuditEvent?entity=Patient/{id}&subtype=read&_count=50"));
        page.expect_status(200);
        let found: Vec<Value> = page.json()["entry"].as_array().into_iter().flatten()
            .map(|e| e["resource"].clone()).collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found.iter().all(|e| subtype(e) == "read" && seq_of(e).is_some()), "{found:#?}");
        let about = c.get(&format!("/AuditEvent?patient=Patient/{id}&action=C"));
        about.expect_status(200);
        let creates = about.json()["entry"].as_array().map_or(0, Vec::len);
        assert_eq!(creates, 1, "{}", about.text());
    }

    /// A 406 is recorded, and a request whose path spells its resource
    /// with percent-encoding is recorded with the resource it named.
    fn every_answer_is_recorded_with_its_resource(server) with ["--audit", "--audit-key-file", KEY] {
        let c = server.client();
        c.get("/Patient/not-acceptable?_format=text/csv").expect_status(406);
        let odd = c.get("/Patien%74/oddly-spelled");
        assert!(odd.status == 404 || odd.status == 400, "{}", odd.status);
        let all = audits(&c);
        let refused = find(&all, "read", "Patient/not-acceptable");
        assert_eq!(refused["outcome"], "4");
        assert!(all.iter().any(|e| references(e).contains(&"Patient/oddly-spelled".to_owned())),
            "no record names Patient/oddly-spelled");
    }
}

backend_tests! {
    /// A server without `--audit` on a database that never held an audit
    /// trail stores AuditEvents like any resource (clients may report
    /// their own events to it).
    fn audit_events_are_writable_without_a_trail(server) {
        let c = server.client();
        let e = json!({"resourceType": "AuditEvent", "type": {"code": "rest"},
            "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": true}],
            "source": {"observer": {"display": "a client"}}});
        c.post("/AuditEvent", &e).expect_status(201);
    }
}

/// Deleting the last records leaves a shorter chain that verifies on its
/// own; against the signed checkpoints the server appended to a file
/// outside the database, `audit verify` reports them missing.
fn truncation_is_detected_with_checkpoints(backend: Backend) {
    if backend.skipped() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "audit-cp-{}",
        conformance_tests::server::unique_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cp = dir.join("checkpoints");
    let cp_arg = cp.display().to_string();
    let server = TestServer::start_with_args(
        backend,
        &[
            "--audit",
            "--audit-key-file",
            KEY,
            "--audit-checkpoint-file",
            &cp_arg,
        ],
    );
    let c = server.client();
    for _ in 0..6 {
        c.get("/metadata").expect_status(200);
    }
    let db = server.database_url();
    // Wait until everything is sealed and the head is checkpointed.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let head = loop {
        if !cp.exists() {
            // The first checkpoint follows the first sealed records.
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint written"
            );
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let (ok, text) = verify_sealed(&db, Some(&cp));
        assert!(ok, "{text}");
        let head = head_seq(&text).unwrap();
        let last = std::fs::read_to_string(&cp)
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.split(' ').next()?.parse::<i64>().ok());
        if last == Some(head) && head >= 6 {
            break head;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {head}: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The two newest records (highest write positions) go.
    for stmt in [
        "DELETE FROM resource_versions WHERE seq IN (SELECT seq FROM resource_versions \
         WHERE resource_type = 'AuditEvent' ORDER BY seq DESC LIMIT 2)",
        "DELETE FROM resources WHERE resource_type = 'AuditEvent' AND resource_id NOT IN \
         (SELECT resource_id FROM resource_versions WHERE resource_type = 'AuditEvent')",
    ] {
        conformance_tests::audit::sql(backend, &db, stmt);
    }
    // `fhir-server import` cannot write AuditEvents into an audited
    // database either.
    let ndjson = dir.join("audit.ndjson");
    let event = json!({"resourceType": "AuditEvent", "id": "imported", "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": true}],
        "source": {"observer": {"display": "x"}}});
    std::fs::write(&ndjson, format!("{event}\n")).unwrap();
    let import = std::process::Command::new(conformance_tests::server::server_binary())
        .args(["import", "--database", &db])
        .arg(&ndjson)
        .output()
        .unwrap();
    // Refused; had it been stored, the unchained record would fail the
    // verification below.
    let said = String::from_utf8_lossy(&import.stderr).into_owned();
    assert!(!import.status.success(), "{said}");
    let (ok, text) = verify_once(&db, None);
    assert!(
        ok,
        "without checkpoints a truncated chain looks intact: {text}"
    );
    assert_eq!(head_seq(&text), Some(head - 2), "{text}");
    let (ok, text) = verify_once(&db, Some(&cp));
    assert!(!ok, "{text}");
    assert!(text.contains("last 2 record(s) are missing"), "{text}");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn truncation_is_detected_with_checkpoints_sqlite() {
    truncation_is_detected_with_checkpoints(Backend::Sqlite);
}

#[test]
fn truncation_is_detected_with_checkpoints_postgres() {
    truncation_is_detected_with_checkpoints(Backend::Postgres);
}

/// With authorization on, the record names the token's user (`sub`) as
/// the requestor, also when the token is refused for its scopes, and a
/// request refused for want of a token is recorded as a failure by
/// `unauthenticated`.
fn agents_come_from_the_token(backend: Backend) {
    conformance_tests::smart::run_with_auth(
        backend,
        &["--audit", "--audit-key-file", KEY],
        |server| {
            let c = conformance_tests::smart::client(server, "system/*.cruds", None);
            c.get("/Patient/nobody").expect_status(404);
            server.client().get("/Patient/anyone").expect_status(401);
            // A verified token refused for its scopes is recorded with its
            // identity, not as `unauthenticated`.
            let narrow = conformance_tests::smart::client(server, "system/Observation.rs", None);
            narrow.get("/Patient/out-of-scope").expect_status(403);
            let all = audits(&c);
            let denied = find(&all, "read", "Patient/out-of-scope");
            assert_eq!(denied["outcome"], "4");
            assert_ne!(
                denied["agent"][0]["who"]["identifier"]["value"],
                "unauthenticated"
            );
            assert!(
                denied["agent"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["requestor"] == true && a["who"]["identifier"]["value"] == "tester"),
                "{denied}"
            );
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
        },
    );
}

#[test]
fn agents_come_from_the_token_sqlite() {
    agents_come_from_the_token(Backend::Sqlite);
}

#[test]
fn agents_come_from_the_token_postgres() {
    agents_come_from_the_token(Backend::Postgres);
}

/// With `--audit` and authorization, an anonymous request's body is never
/// read: its 401 comes while the client is still holding back most of a
/// large body (a server that read the body first would wait for it).
fn anonymous_bodies_are_not_read(backend: Backend) {
    conformance_tests::smart::run_with_auth(
        backend,
        &["--audit", "--audit-key-file", KEY],
        |server| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let head = format!(
                "POST /fhir HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\n\
             Content-Length: {}\r\n\r\n{{\"resourceType\":\"Bundle\",",
                48 * 1024 * 1024
            );
            s.write_all(head.as_bytes()).unwrap();
            let mut buf = [0u8; 64];
            let n = s
                .read(&mut buf)
                .expect("an answer before the body was sent");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        },
    );
}

#[test]
fn anonymous_bodies_are_not_read_sqlite() {
    anonymous_bodies_are_not_read(Backend::Sqlite);
}

#[test]
fn anonymous_bodies_are_not_read_postgres() {
    anonymous_bodies_are_not_read(Backend::Postgres);
}
