//! The HL7 validator's own R4 test cases (`../shared/tests/validator/`,
//! from FHIR/fhir-test-cases; format in `../shared/tests/README.md`) run
//! through [`Validator`], compared with the Java validator's expected
//! OperationOutcomes (`outcomes/java/`).
//!
//! Scored as the tests README suggests, looser than the Java runner:
//! (1) valid/invalid agreement (invalid = an `error` or `fatal` issue),
//! (2) issue level: the expected errors matched by (severity, expression
//! with `/*…*/` comments stripped). Message texts, line/col and warnings
//! are not compared. Cases of the `tx`/`tx-advanced` modules, or whose
//! expected outcome carries a terminology-server issue, need a live
//! terminology server the Java runner had: they are run and reported but
//! do not count toward the asserted level.
//!
//! A case is not runnable when it needs a package that is not here (named
//! in the report), a non-FHIR input (SMART Health Cards, JWT, NDJSON) or
//! an expected outcome that is missing; its logical-model and matchetype
//! steps are listed as unsupported, and the case counts with its base and
//! profile steps.
//!
//! The case settings the Java runner honours are honoured here too: the
//! profile step's supporting files load for that step only; `package-map`
//! dependencies load; `assumeValidRestReferences`, `allow-comments`,
//! `security-checks`, `examples`, `noHtmlInMarkdown`, `validateContains`,
//! `for-publication` and `validateReference: CHECK_EXISTS*` set the same
//! [`Validator`] options; and `validateReference` also gives the validator a fetcher that reads the
//! referenced resource from the test folder, as the Java runner's does.
//!
//! Run with `--nocapture` for the report; every disagreement is listed with
//! a one-line reason, then the reasons grouped with counts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fhir_model::json::tree::{self, Value as Json};
use profiles::{Issue, IssueType, Package, PackageSet, Policy, Severity, Validator};

/// The levels reached (cases agreeing on valid/invalid, in percent): of
/// every runnable case, and of the gating ones (no terminology server);
/// raise them as the engine improves, never lower them to pass.
const AGREEMENT_AT_LEAST: f64 = 93.5;
const GATING_AGREEMENT_AT_LEAST: f64 = 98.0;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tests/validator")
}

fn get<'a>(v: &'a Json, key: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn get_str<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    match get(v, key)? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Json::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A test file as FHIR JSON bytes: JSON as is (without a BOM), XML
/// through `fhir_model::xml`. `Err` is the reader's complaint.
fn read_resource(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .map(<[u8]>::to_vec)
        .unwrap_or(bytes);
    if path.extension().is_some_and(|e| e == "xml") {
        let tree = fhir_model::xml::read(&bytes).map_err(|e| e.to_string())?;
        Ok(tree::to_json(&tree))
    } else {
        Ok(bytes)
    }
}

/// A supporting resource for the case's package, with an id when it has
/// none (the package index keys on it). XML definitions are read
/// leniently (elements out of order are taken as they come), as the Java
/// runner loads them.
fn supporting_entry(dir: &Path, file: &str, n: usize) -> Option<(String, Vec<u8>)> {
    let path = dir.join(file);
    let bytes = if path.extension().is_some_and(|e| e == "xml") {
        let raw = std::fs::read(&path).ok()?;
        tree::to_json(&fhir_model::xml::read_lenient(&raw).ok()?.0)
    } else {
        read_resource(&path).ok()?
    };
    let mut v = tree::parse(&bytes).ok()?;
    if let Json::Object(m) = &mut v {
        if !m.iter().any(|(k, _)| k == "id") {
            m.push(("id".into(), Json::String(format!("supporting-{n}"))));
        }
    }
    Some((format!("supporting-{n}.json"), tree::to_json(&v)))
}

/// One expected or actual error, as compared: (severity, expression).
type Key = (String, String);

fn strip_comments(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        match rest[i..].find("*/") {
            Some(j) => rest = &rest[i + j + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

struct Expected {
    errors: Vec<Key>,
    /// The first error message, to say what a missed case is about.
    first_error: Option<String>,
    uses_tx_server: bool,
}

fn expected(path: &Path) -> Option<Expected> {
    let bytes = std::fs::read(path).ok()?;
    let oo = tree::parse(&bytes).ok()?;
    let mut out = Expected {
        errors: Vec::new(),
        first_error: None,
        uses_tx_server: false,
    };
    let Some(Json::Array(issues)) = get(&oo, "issue") else {
        return Some(out);
    };
    for i in issues {
        let sev = get_str(i, "severity").unwrap_or("");
        if let Some(Json::Array(exts)) = get(i, "extension") {
            if exts.iter().any(|e| {
                get_str(e, "url")
                    == Some("http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server")
            }) {
                out.uses_tx_server = true;
            }
        }
        if sev == "error" || sev == "fatal" {
            let expr = strings(get(i, "expression"))
                .into_iter()
                .next()
                .unwrap_or_default();
            out.errors.push((sev.to_owned(), strip_comments(&expr)));
            if out.first_error.is_none() {
                let text = get(i, "details")
                    .and_then(|d| get_str(d, "text"))
                    .unwrap_or("");
                out.first_error = Some(format!("{expr}: {text}"));
            }
        }
    }
    Some(out)
}

fn actual_errors(issues: &[Issue]) -> Vec<Key> {
    issues
        .iter()
        .filter(|i| i.severity.is_error())
        .map(|i| {
            let sev = if i.severity == Severity::Fatal {
                "fatal"
            } else {
                "error"
            };
            (sev.to_owned(), i.expression.clone())
        })
        .collect()
}

/// Size of the multiset intersection.
fn matched(expected: &[Key], actual: &[Key]) -> usize {
    let mut pool: HashMap<&Key, usize> = HashMap::new();
    for a in actual {
        *pool.entry(a).or_default() += 1;
    }
    expected
        .iter()
        .filter(|e| match pool.get_mut(e) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

/// A short grouping key for a message: its first words, quoted parts and
/// numbers blanked so that one rule's messages group together.
fn reason_key(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in msg.chars() {
        match c {
            '\'' | '"' => {
                quoted = !quoted;
                if quoted {
                    out.push('…');
                }
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out.split_whitespace().take(7).collect::<Vec<_>>().join(" ")
}

/// The runner settings of a case (or of its profile step) that change
/// what the validator is asked to do, as the Java runner applies them.
struct Options {
    /// `assumeValidRestReferences`.
    assume_rest: bool,
    /// `allow-comments`.
    comments: bool,
    /// `validateReference`: references outside the resource are read
    /// from the test folder (the Java runner's fetcher) and checked.
    fetch: bool,
    policy: Policy,
}

impl Options {
    fn of(case: &Json, profile: Option<&Json>) -> Options {
        let flag = |key: &str| {
            [Some(case), profile]
                .into_iter()
                .flatten()
                .any(|o| matches!(get(o, key), Some(Json::Bool(true))))
        };
        let text = |key: &str| {
            [Some(case), profile]
                .into_iter()
                .flatten()
                .find_map(|o| match get(o, key) {
                    Some(Json::Bool(b)) => Some(b.to_string()),
                    Some(Json::String(s)) => Some(s.clone()),
                    _ => None,
                })
        };
        let policy = Policy {
            security_checks: flag("security-checks"),
            no_html_in_markdown: flag("noHtmlInMarkdown"),
            allow_examples: text("examples").as_deref() != Some("false"),
            validate_contained: text("validateContains").as_deref() != Some("IGNORE"),
            for_publication: text("for-publication").as_deref() == Some("true"),
            check_references_exist: text("validateReference")
                .is_some_and(|p| p.starts_with("CHECK_EXISTS")),
        };
        Options {
            policy,
            assume_rest: flag("assumeValidRestReferences"),
            comments: flag("allow-comments"),
            fetch: matches!(
                get_str(case, "validateReference"),
                Some("CHECK_VALID" | "CHECK_EXISTS_AND_TYPE")
            ),
        }
    }

    fn apply(&self, v: Validator, dir: &Path) -> Validator {
        let mut v = v
            .assume_valid_rest_references(self.assume_rest)
            .allow_json_comments(self.comments)
            .policy(self.policy);
        if self.fetch {
            let index = folder_index(dir);
            v = v.fetcher(Arc::new(move |reference: &str| {
                let mut tail = reference.rsplit('/');
                let id = tail.next()?;
                let ty = tail.next()?;
                index.get(&(ty.to_owned(), id.to_owned())).cloned()
            }));
        }
        v
    }
}

/// The resources in the test folder by (type, id), read once: what the
/// Java runner's fetcher finds when a case asks for references to be
/// checked.
fn folder_index(dir: &Path) -> Arc<HashMap<(String, String), Json>> {
    static INDEX: std::sync::OnceLock<Arc<HashMap<(String, String), Json>>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| {
            let mut map = HashMap::new();
            let Ok(read) = std::fs::read_dir(dir) else {
                return Arc::new(map);
            };
            for e in read.flatten() {
                let path = e.path();
                let Some(bytes) = read_resource(&path).ok() else {
                    continue;
                };
                let Ok(v) = tree::parse(&bytes) else {
                    continue;
                };
                if let (Some(t), Some(id)) = (get_str(&v, "resourceType"), get_str(&v, "id")) {
                    let key = (t.to_owned(), id.to_owned());
                    map.entry(key).or_insert(v);
                }
            }
            Arc::new(map)
        })
        .clone()
}

struct Step {
    mode: &'static str,
    profile: Option<String>,
}

#[derive(Default)]
struct Tally {
    cases: usize,
    agree: usize,
    steps: usize,
    steps_agree: usize,
    expected_errors: usize,
    matched_errors: usize,
    actual_errors: usize,
    exact_count: usize,
}

#[test]
fn hl7_validator_r4_cases() {
    let dir = suite_dir();
    let manifest = tree::parse(&std::fs::read(dir.join("manifest-r4.json")).expect("manifest"))
        .expect("manifest JSON");
    let Some(Json::Array(cases)) = get(&manifest, "test-cases") else {
        panic!("no test-cases");
    };
    let core = Arc::new(
        Package::from_tgz(dir.join("../../fhir-packages/hl7.fhir.r4.core-4.0.1.tgz"))
            .expect("R4 core"),
    );

    let mut inactive = 0;
    let mut not_runnable: Vec<(String, String)> = Vec::new();
    let mut unsupported_steps: Vec<(String, String)> = Vec::new();
    let mut disagreements: Vec<(String, String, bool)> = Vec::new();
    let mut gating = Tally::default();
    let mut all = Tally::default();

    for case in cases {
        let name = get_str(case, "name").unwrap_or("?").to_owned();
        if matches!(get(case, "use-test"), Some(Json::Bool(false))) {
            inactive += 1;
            continue;
        }
        let file = get_str(case, "file").unwrap_or("").to_owned();
        let profile_obj = get(case, "profile").filter(|p| matches!(p, Json::Object(_)));
        let mut packages = strings(get(case, "packages"));
        if let Some(p) = profile_obj {
            packages.extend(strings(get(p, "packages")));
        }
        if let Some(ips) = get_str(case, "ips") {
            packages.push(format!("hl7.fhir.{ips}.ips#1.1.0"));
        }
        let missing: Vec<&String> = packages
            .iter()
            .filter(|p| !p.ends_with(".tgz") && !p.starts_with("hl7.fhir.r4.core"))
            .collect();
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            not_runnable.push((name, format!("needs package {}", list.join(", "))));
            continue;
        }
        let ext = Path::new(&file)
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !dir.join(&file).is_file() {
            not_runnable.push((name, "input file absent from the shared snapshot".into()));
            continue;
        }
        if ext != "json" && ext != "xml" {
            not_runnable.push((name, format!("input is .{ext}, not a FHIR resource")));
            continue;
        }

        // Supporting definitions first (they shadow core), then local
        // packages, then core. As in the Java runner, the profile step's
        // own supporting files (and the profile) are loaded for that step
        // only: the base step runs without them.
        let mut support_files = strings(get(case, "supporting"));
        support_files.extend(strings(get(case, "profiles")));
        // R5-format definitions the Java runner converts to R4; the parts
        // a definition needs read the same in both.
        support_files.extend(strings(get(case, "supporting5")));
        let mut profile_files = Vec::new();
        let mut steps = vec![Step {
            mode: "base",
            profile: None,
        }];
        if let Some(p) = profile_obj {
            profile_files.extend(strings(get(p, "supporting")));
            let source = get_str(p, "source").unwrap_or("");
            let url = if dir.join(source).is_file() {
                profile_files.push(source.to_owned());
                read_resource(&dir.join(source))
                    .ok()
                    .and_then(|b| tree::parse(&b).ok())
                    .and_then(|v| get_str(&v, "url").map(str::to_owned))
            } else {
                Some(source.to_owned())
            };
            steps.push(Step {
                mode: "profile",
                profile: url,
            });
        }
        if get(case, "logical").is_some() {
            unsupported_steps.push((name.clone(), "logical-model validation".into()));
        }
        if matches!(get(case, "matchetype"), Some(Json::Object(_))) {
            unsupported_steps.push((name.clone(), "matchetype comparison".into()));
        }
        // Packages named by the case, and the dependency packages its
        // `package-map` says where to find.
        let mut local_packages: Vec<Arc<Package>> = Vec::new();
        let mapped = match get(case, "package-map") {
            Some(Json::Object(m)) => m
                .iter()
                .filter_map(|(_, v)| match v {
                    Json::String(f) => Some(f.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for p in packages
            .iter()
            .filter(|p| p.ends_with(".tgz"))
            .chain(mapped.iter())
        {
            match Package::from_tgz(dir.join(p)) {
                Ok(p) => local_packages.push(Arc::new(p)),
                Err(e) => eprintln!("  {name}: package {p}: {e}"),
            }
        }
        let options = Options::of(case, profile_obj);
        let build = |files: &[String]| {
            let mut set = PackageSet::new();
            let entries: Vec<(String, Vec<u8>)> = files
                .iter()
                .enumerate()
                .filter_map(|(n, f)| supporting_entry(&dir, f, n))
                .collect();
            if let Ok(p) = Package::from_resources("test.supporting", "0.0.0", entries) {
                set.add(p);
            }
            for p in &local_packages {
                set.add_shared(p.clone());
            }
            set.add_shared(core.clone());
            options.apply(Validator::new(Arc::new(set)), &dir)
        };
        let base_validator = build(&support_files);
        let profile_validator = (!profile_files.is_empty()).then(|| {
            let mut all = support_files.clone();
            all.extend(profile_files.iter().cloned());
            build(&all)
        });

        let input = read_resource(&dir.join(&file));
        let outcome_name = name.replace('/', "-");
        let tx = matches!(get_str(case, "module"), Some("tx" | "tx-advanced"));
        let mut case_agrees = true;
        let mut case_tx = tx;
        let mut ran = 0;
        let mut case_steps = Vec::new();
        for step in &steps {
            let path = dir.join(format!(
                "outcomes/java/R4.{outcome_name}-{}.json",
                step.mode
            ));
            let Some(exp) = expected(&path) else {
                unsupported_steps.push((
                    name.clone(),
                    format!("{} step has no outcome file", step.mode),
                ));
                continue;
            };
            let issues = match &input {
                Ok(bytes) => {
                    let prof: Vec<&str> = step.profile.iter().map(String::as_str).collect();
                    let validator = match (step.mode, &profile_validator) {
                        ("profile", Some(v)) => v,
                        _ => &base_validator,
                    };
                    validator.validate_json(bytes, &prof)
                }
                Err(e) => vec![Issue::new(
                    Severity::Fatal,
                    IssueType::Structure,
                    "",
                    e.clone(),
                )],
            };
            ran += 1;
            case_tx |= exp.uses_tx_server;
            let act = actual_errors(&issues);
            let exp_invalid = !exp.errors.is_empty();
            let act_invalid = !act.is_empty();
            let agrees = exp_invalid == act_invalid;
            case_agrees &= agrees;
            case_steps.push((step.mode, exp, act, agrees, issues));
        }
        if ran == 0 {
            let why = if get(case, "logical").is_some() {
                "logical-model validation only"
            } else {
                "no expected outcome file"
            };
            not_runnable.push((name, why.into()));
            continue;
        }
        for t in [&mut all]
            .into_iter()
            .chain((!case_tx).then_some(&mut gating))
        {
            t.cases += 1;
            t.agree += usize::from(case_agrees);
            for (_, exp, act, agrees, _) in &case_steps {
                t.steps += 1;
                t.steps_agree += usize::from(*agrees);
                t.expected_errors += exp.errors.len();
                t.actual_errors += act.len();
                t.matched_errors += matched(&exp.errors, act);
                t.exact_count += usize::from(exp.errors.len() == act.len());
            }
        }
        for (mode, exp, _, agrees, issues) in &case_steps {
            if *agrees {
                continue;
            }
            let reason = match issues.iter().find(|i| i.severity.is_error()) {
                Some(i) => format!("false error: {}", i.message),
                None => format!(
                    "missed error: {}",
                    exp.first_error.clone().unwrap_or_default()
                ),
            };
            disagreements.push((format!("{name} [{mode}]"), reason, case_tx));
        }
    }

    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    eprintln!("\n== disagreements ({}) ==", disagreements.len());
    for (case, reason, tx) in &disagreements {
        let mut line: String = reason.chars().take(200).collect();
        if *tx {
            line.push_str("  (tx, non-gating)");
        }
        eprintln!("  {case}: {line}");
    }
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for (_, reason, _) in &disagreements {
        let (kind, msg) = reason.split_once(": ").unwrap_or((reason, ""));
        // For missed errors the message follows the expression.
        let msg = msg.split_once(": ").map_or(msg, |(_, m)| m);
        *groups
            .entry(format!("{kind}: {}", reason_key(msg)))
            .or_default() += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    eprintln!("\n== disagreements by reason ==");
    for (g, n) in &groups {
        eprintln!("  {n:4}  {g}");
    }
    eprintln!("\n== not runnable ({}) ==", not_runnable.len());
    let mut nr: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (case, reason) in &not_runnable {
        nr.entry(reason).or_default().push(case);
    }
    for (reason, cases) in &nr {
        eprintln!("  {reason}: {}", cases.join(", "));
    }
    eprintln!("\n== unsupported steps ({}) ==", unsupported_steps.len());
    for (case, reason) in &unsupported_steps {
        eprintln!("  {case}: {reason}");
    }
    eprintln!("\n== summary ==");
    eprintln!(
        "active cases {}, inactive {inactive}, not runnable {}, runnable {}",
        all.cases + not_runnable.len(),
        not_runnable.len(),
        all.cases
    );
    for (label, t) in [("all runnable", &all), ("gating (no tx server)", &gating)] {
        eprintln!(
            "{label}: valid/invalid agreement {}/{} cases ({:.1}%), {}/{} steps ({:.1}%); \
             expected errors matched by severity+expression {}/{} ({:.1}%), our errors {}; \
             steps with the expected error count {}/{}",
            t.agree,
            t.cases,
            pct(t.agree, t.cases),
            t.steps_agree,
            t.steps,
            pct(t.steps_agree, t.steps),
            t.matched_errors,
            t.expected_errors,
            pct(t.matched_errors, t.expected_errors),
            t.actual_errors,
            t.exact_count,
            t.steps
        );
    }
    assert!(gating.cases > 400, "only {} gating cases ran", gating.cases);
    let level = pct(all.agree, all.cases);
    assert!(
        level >= AGREEMENT_AT_LEAST,
        "agreement {level:.1}% < {AGREEMENT_AT_LEAST}%"
    );
    let level = pct(gating.agree, gating.cases);
    assert!(
        level >= GATING_AGREEMENT_AT_LEAST,
        "gating agreement {level:.1}% < {GATING_AGREEMENT_AT_LEAST}%"
    );
}
