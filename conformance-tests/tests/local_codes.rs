//! Local lab and drug codes mapped to standard codes, end to end (issue
//! #9): a hospital's lab master (CLI `import-codes`) and drug master (REST
//! `CodeSystem/$import-codes`) imported; Observations and
//! MedicationRequests written with local codes (REST and transaction);
//! found by LOINC, JLAC10, HOT9 and YJ; `$translate` both ways; unmapped
//! codes warned about and reported. In `index` mode (the default) the
//! stored resources stay as sent; in `enrich` mode they carry the standard
//! codings, marked as the server's.
//!
//! The masters in `data/local-codes/` are invented local codes mapped to
//! real LOINC codes (those of the Synthea set) and to JLAC10, HOT and YJ
//! codes of the right shape.

use std::process::Command;

use conformance_tests::server::server_binary;
use conformance_tests::{backend_tests, TestServer, FHIR_JSON};
use serde_json::{json, Value};

const LAB: &str = "http://hospital.example/fhir/CodeSystem/lab";
const DRUG: &str = "http://hospital.example/fhir/CodeSystem/drug";
const LOINC: &str = "http://loinc.org";
const JLAC10: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
const HOT9: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
const YJ: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
const MAPPED_FROM: &str =
    "http://fhir-server.local/fhir/StructureDefinition/mapped-from-conceptmap";

fn master(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/local-codes")
        .join(name)
}

/// The rows of a fixture master (no quoted cells in these files).
fn rows(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(master(name)).expect("fixture");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn cli_import(server: &TestServer, kind: &str, system: &str, file: &str) -> String {
    let out = Command::new(server_binary())
        .args(["import-codes", "--kind", kind, "--system", system])
        .args(["--database", &server.database_url()])
        .arg(master(file))
        .output()
        .expect("run import-codes");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "import-codes failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn rest_import(server: &TestServer, kind: &str, system: &str, file: &str) -> Value {
    let csv = std::fs::read(master(file)).expect("fixture");
    let r = server.client().request(
        "POST",
        &format!("/CodeSystem/$import-codes?kind={kind}&system={system}"),
        Some("text/csv"),
        &csv,
    );
    r.expect_status(200);
    r.json()
}

fn param<'a>(p: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let name = name.to_owned();
    p["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |x| x["name"] == name.as_str())
}

fn part<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["part"]
        .as_array()
        .and_then(|parts| parts.iter().find(|x| x["name"] == name))
        .unwrap_or(&Value::Null)
}

/// A POST with `Prefer: return=OperationOutcome`.
fn post_for_outcome(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = server
        .client()
        .post_with(path, body, &[("Prefer", "return=OperationOutcome")]);
    (r.status, r.json())
}

fn warnings(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "warning")
        .map(|i| i["diagnostics"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn observation(system: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": system, "code": code}]},
           "valueQuantity": {"value": 4.1, "unit": "mmol/L"}})
}

fn medication_request(code: &str) -> Value {
    json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
           "medicationCodeableConcept": {"coding": [{"system": DRUG, "code": code}]},
           "subject": {"display": "患者 太郎"}})
}

/// The ids a search finds.
fn found(server: &TestServer, query: &str) -> Vec<String> {
    let r = server.client().get(query);
    r.expect_status(200);
    let b = r.json();
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["resource"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A")
        .replace('/', "%2F")
        .replace('|', "%7C")
}

/// Imports both masters (drug by CLI first, lab by REST: the REST write
/// makes the server rebuild its mappings at once, covering both) and
/// checks the summaries against the fixture files.
fn import_both(server: &TestServer) {
    let drug = rows("drug-master.csv");
    let text = cli_import(server, "drug", DRUG, "drug-master.csv");
    assert!(
        text.contains(&format!("{DRUG}: {} concepts", drug.len())),
        "{text}"
    );
    let hot9 = drug.iter().filter(|r| !r[2].is_empty()).count();
    assert!(text.contains(&format!("hot9: {hot9} mappings")), "{text}");
    let yj = drug.iter().filter(|r| !r[4].is_empty()).count();
    assert!(text.contains(&format!("yj: {yj} mappings")), "{text}");
    let none = drug
        .iter()
        .filter(|r| r[2..].iter().all(String::is_empty))
        .count();
    assert_eq!(none, 8);
    assert!(
        text.contains(&format!("{none} rows without any mapping: D0233")),
        "{text}"
    );

    let lab = rows("lab-master.csv");
    let summary = rest_import(server, "lab", LAB, "lab-master.csv");
    assert_eq!(
        param(&summary, "concepts")
            .next()
            .map(|p| &p["valueInteger"]),
        Some(&json!(lab.len()))
    );
    let loinc = lab.iter().filter(|r| !r[6].is_empty()).count();
    let jlac10 = lab.iter().filter(|r| !r[4].is_empty()).count();
    let maps: Vec<(String, i64)> = param(&summary, "conceptMap")
        .map(|m| {
            (
                part(m, "target")["valueString"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                part(m, "mappings")["valueInteger"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert!(maps.contains(&("loinc".into(), loinc as i64)), "{maps:?}");
    assert!(maps.contains(&("jlac10".into(), jlac10 as i64)), "{maps:?}");
    let without: Vec<&str> = param(&summary, "withoutMapping")
        .filter_map(|p| p["valueCode"].as_str())
        .collect();
    assert_eq!(without.len(), 10, "{without:?}");
    assert!(without.contains(&"L0243"));
    assert!(
        loinc > 200 && lab.len() > 200 && drug.len() > 200,
        "a few hundred rows each"
    );
}

/// Writes the locally coded records: two Observations by REST (one
/// mapped, one unmapped, with their warnings), and a transaction of an
/// Observation and two MedicationRequests (one unmapped). Returns the ids
/// of the potassium Observation, the hemoglobin one and the loxoprofen
/// MedicationRequest.
fn write_records(server: &TestServer) -> (String, String, String) {
    let (status, ok) = post_for_outcome(server, "/Observation", &observation(LAB, "L0001"));
    assert_eq!(status, 201, "{ok}");
    assert!(
        warnings(&ok).is_empty(),
        "a mapped code is no warning: {ok}"
    );
    let (status, unmapped) = post_for_outcome(server, "/Observation", &observation(LAB, "L0240"));
    assert_eq!(
        status, 201,
        "an unmapped code is stored, never refused: {unmapped}"
    );
    let w = warnings(&unmapped);
    assert_eq!(w.len(), 1, "{unmapped}");
    assert!(w[0].contains("L0240") && w[0].contains(LAB), "{w:?}");
    // A code of a system that was never imported is not ours to judge.
    let (_, other) = post_for_outcome(
        server,
        "/Observation",
        &observation("http://other.example/codes", "L0240"),
    );
    assert!(warnings(&other).is_empty(), "{other}");

    let potassium = found(
        server,
        &format!("/Observation?code={}", enc(&format!("{LAB}|L0001"))),
    );
    assert_eq!(potassium.len(), 1);

    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": observation(LAB, "L0003"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": medication_request("D0001"), "request": {"method": "POST", "url": "MedicationRequest"}},
        {"resource": medication_request("D0240"), "request": {"method": "POST", "url": "MedicationRequest"}}]});
    let r = server.client().post("", &tx);
    r.expect_status(200);
    let out = r.json();
    let entries = out["entry"].as_array().expect("entries");
    assert!(entries[0]["response"].get("outcome").is_none(), "{out}");
    assert!(entries[1]["response"].get("outcome").is_none(), "{out}");
    let w = warnings(&entries[2]["response"]["outcome"]);
    assert_eq!(w.len(), 1, "{out}");
    assert!(w[0].contains("D0240"), "{w:?}");
    let id = |e: &Value| e["resource"]["id"].as_str().unwrap_or_default().to_owned();
    (potassium[0].clone(), id(&entries[0]), id(&entries[1]))
}

/// The searches by standard codes, `$translate` and the report: the same
/// answers in both modes.
fn find_translate_report(server: &TestServer, potassium: &str, hemoglobin: &str, loxoprofen: &str) {
    let by = |rt: &str, system: &str, code: &str| {
        found(
            server,
            &format!("/{rt}?code={}", enc(&format!("{system}|{code}"))),
        )
    };
    assert_eq!(
        by("Observation", LOINC, "2823-3"),
        vec![potassium.to_owned()]
    );
    assert_eq!(
        by("Observation", JLAC10, "3H015000002327101"),
        vec![potassium.to_owned()]
    );
    assert_eq!(
        by("Observation", LOINC, "718-7"),
        vec![hemoglobin.to_owned()]
    );
    assert_eq!(
        by("MedicationRequest", HOT9, "110626901"),
        vec![loxoprofen.to_owned()]
    );
    assert_eq!(
        by("MedicationRequest", YJ, "1149019F1560"),
        vec![loxoprofen.to_owned()]
    );
    assert!(
        by("Observation", LOINC, "2345-7").is_empty(),
        "nothing was coded L0002"
    );
    // The local code still finds its own record.
    assert_eq!(by("Observation", LAB, "L0001"), vec![potassium.to_owned()]);

    let c = server.client();
    let t = c.get(&format!(
        "/ConceptMap/$translate?system={}&code=L0001&targetsystem={}",
        enc(LAB),
        enc(LOINC)
    ));
    t.expect_status(200);
    let t = t.json();
    assert_eq!(
        param(&t, "result").next().map(|p| &p["valueBoolean"]),
        Some(&json!(true)),
        "{t}"
    );
    let concept = param(&t, "match")
        .next()
        .map(|m| part(m, "concept")["valueCoding"].clone());
    assert_eq!(
        concept.as_ref().map(|c| &c["code"]),
        Some(&json!("2823-3")),
        "{t}"
    );

    let back = c.get(&format!(
        "/ConceptMap/$translate?system={}&code=1149019F1560&reverse=true",
        enc(YJ)
    ));
    back.expect_status(200);
    let back = back.json();
    let concept = param(&back, "match")
        .next()
        .map(|m| part(m, "concept")["valueCoding"].clone());
    assert_eq!(
        concept.as_ref().map(|c| &c["code"]),
        Some(&json!("D0001")),
        "{back}"
    );
    assert_eq!(
        concept.as_ref().map(|c| &c["system"]),
        Some(&json!(DRUG)),
        "{back}"
    );

    let none = c.get(&format!(
        "/ConceptMap/$translate?system={}&code=L0240",
        enc(LAB)
    ));
    none.expect_status(200);
    assert_eq!(
        param(&none.json(), "result")
            .next()
            .map(|p| &p["valueBoolean"]),
        Some(&json!(false))
    );

    let report = c.get("/CodeSystem/$unmapped-codes");
    report.expect_status(200);
    let report = report.json();
    let listed: Vec<(String, String, i64)> = param(&report, "code")
        .map(|p| {
            (
                part(p, "system")["valueUri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                part(p, "code")["valueCode"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                part(p, "count")["valueInteger"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (DRUG.to_owned(), "D0240".to_owned(), 1),
            (LAB.to_owned(), "L0240".to_owned(), 1)
        ],
        "{report}"
    );
    let first = param(&report, "code")
        .next()
        .map(|p| part(p, "firstSeen")["valueInstant"].clone());
    assert!(
        first
            .and_then(|v| v.as_str().map(|s| s.starts_with("20")))
            .unwrap_or(false),
        "{report}"
    );
}

fn codings(server: &TestServer, path: &str, element: &str) -> Vec<Value> {
    let r = server.client().get(path);
    r.expect_status(200);
    r.json()[element]["coding"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

backend_tests! {
    /// The default mode: the index maps, the records stay as sent.
    fn local_codes_index_mode(server) {
        import_both(server);
        let (potassium, hemoglobin, loxoprofen) = write_records(server);
        find_translate_report(server, &potassium, &hemoglobin, &loxoprofen);
        let stored = codings(server, &format!("/Observation/{potassium}"), "code");
        assert_eq!(stored, vec![json!({"system": LAB, "code": "L0001"})]);
        let stored = codings(server, &format!("/MedicationRequest/{loxoprofen}"), "medicationCodeableConcept");
        assert_eq!(stored.len(), 1);
    }

    /// `enrich`: the stored records carry the standard codings, marked.
    fn local_codes_enrich_mode(server) with ["--local-codes", "enrich"] {
        import_both(server);
        let (potassium, hemoglobin, loxoprofen) = write_records(server);
        find_translate_report(server, &potassium, &hemoglobin, &loxoprofen);
        let stored = codings(server, &format!("/Observation/{potassium}"), "code");
        assert_eq!(stored[0], json!({"system": LAB, "code": "L0001"}), "the sender's coding first, untouched");
        let loinc = stored.iter().find(|c| c["system"] == LOINC).expect("LOINC added");
        assert_eq!(loinc["code"], "2823-3");
        assert_eq!(loinc["userSelected"], false);
        assert_eq!(loinc["extension"][0]["url"], MAPPED_FROM);
        assert_eq!(
            loinc["extension"][0]["valueCanonical"],
            "http://hospital.example/fhir/ConceptMap/lab-to-loinc"
        );
        assert!(stored.iter().any(|c| c["system"] == JLAC10 && c["code"] == "3H015000002327101"));
        // `import` maps as `serve` does.
        let file = std::env::temp_dir().join(format!(
            "local-codes-{}.ndjson",
            conformance_tests::server::unique_suffix()
        ));
        let mut obs = observation(LAB, "L0002");
        obs["id"] = json!("imported-glucose");
        std::fs::write(&file, format!("{obs}\n")).expect("write ndjson");
        let out = Command::new(server_binary())
            .args(["import", "--local-codes", "enrich", "--database", &server.database_url()])
            .arg(&file)
            .output()
            .expect("run import");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let _ = std::fs::remove_file(&file);
        let imported = codings(server, "/Observation/imported-glucose", "code");
        assert!(
            imported.iter().any(|c| c["system"] == LOINC && c["code"] == "2345-7" && c["userSelected"] == false),
            "{imported:?}"
        );
        let med = codings(server, &format!("/MedicationRequest/{loxoprofen}"), "medicationCodeableConcept");
        assert!(med.iter().any(|c| c["system"] == HOT9 && c["code"] == "110626901"), "{med:?}");
        assert!(med.iter().any(|c| c["system"] == YJ && c["code"] == "1149019F1560"), "{med:?}");
    }

    /// Bad masters are refused with the line and column, never half stored.
    fn import_codes_refuses_bad_input(server) {
        let c = server.client();
        let r = c.request("POST", &format!("/CodeSystem/$import-codes?kind=lab&system={LAB}"),
            Some("text/csv"), b"local_code,name,lonic\nL1,x,2823-3\n");
        r.expect_status(400);
        let text = r.text();
        assert!(text.contains("line 1, column lonic"), "{text}");
        let r = c.request("POST", &format!("/CodeSystem/$import-codes?kind=drug&system={DRUG}"),
            Some("text/csv"), b"local_code,name,hot9\nD1,a,1\nD1,b,2\n");
        r.expect_status(400);
        assert!(r.text().contains("line 3, column local_code"), "{}", r.text());
        c.request("POST", &format!("/CodeSystem/$import-codes?kind=x&system={LAB}"),
            Some("text/csv"), b"local_code,name\n").expect_status(400);
        c.request("POST", "/CodeSystem/$import-codes?kind=lab",
            Some("text/csv"), b"local_code,name\n").expect_status(400);
        c.request("POST", &format!("/CodeSystem/$import-codes?kind=lab&system={LAB}"),
            Some(FHIR_JSON), b"{}").expect_status(415);
        let none = c.get(&format!("/CodeSystem?url={}", enc(LAB)));
        none.expect_status(200);
        assert_eq!(none.json()["total"], 0, "nothing stored");
    }

    /// A master and its maps kept as ordinary resources (PUT through REST,
    /// no `import-codes`, no tag) map exactly like imported ones (issue
    /// #17, item 15), and a later change to the map applies to the next
    /// write.
    fn rest_stored_code_system_and_concept_map_are_applied_on_write(server) {
        let c = server.client();
        let lab = "http://hospital.example/fhir/CodeSystem/rest-lab";
        c.put("/CodeSystem/rest-lab", &json!({"resourceType": "CodeSystem", "id": "rest-lab",
            "url": lab, "status": "active", "content": "complete",
            "concept": [{"code": "K1", "display": "Potassium"}, {"code": "G1", "display": "Glucose"}]}))
            .expect_status(201);
        let map = |glucose_equivalence: &str| json!({"resourceType": "ConceptMap", "id": "rest-lab-loinc",
            "url": "http://hospital.example/fhir/ConceptMap/rest-lab-loinc", "status": "active",
            "group": [{"source": lab, "target": LOINC, "element": [
                {"code": "K1", "target": [{"code": "2823-3", "equivalence": "equivalent"}]},
                {"code": "G1", "target": [{"code": "2345-7", "equivalence": glucose_equivalence}]}]}]});
        c.put("/ConceptMap/rest-lab-loinc", &map("wider")).expect_status(201);

        let r = c.post("/Observation", &observation(lab, "K1"));
        r.expect_status(201);
        let potassium = r.json()["id"].as_str().expect("id").to_owned();
        let r = c.post("/Observation", &observation(lab, "G1"));
        r.expect_status(201);
        let wide_glucose = r.json()["id"].as_str().expect("id").to_owned();
        assert_eq!(found(server, &format!("/Observation?code={}", enc(&format!("{LOINC}|2823-3")))), [potassium.as_str()]);
        assert!(
            found(server, &format!("/Observation?code={}", enc(&format!("{LOINC}|2345-7")))).is_empty(),
            "a wider mapping is not applied"
        );

        // The map now says `equal`: the next write maps.
        c.put("/ConceptMap/rest-lab-loinc", &map("equal")).expect_status(200);
        let r = c.post("/Observation", &observation(lab, "G1"));
        r.expect_status(201);
        let glucose = r.json()["id"].as_str().expect("id").to_owned();
        assert_ne!(glucose, wide_glucose);
        assert_eq!(found(server, &format!("/Observation?code={}", enc(&format!("{LOINC}|2345-7")))), [glucose]);
        // The stored record is as sent (index mode).
        assert_eq!(codings(server, &format!("/Observation/{potassium}"), "code"),
            vec![json!({"system": lab, "code": "K1"})]);
    }
}
