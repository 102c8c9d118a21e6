//! `fhir-server validate [--package PATH]… [--profile URL] FILE…`:
//! validates resources (JSON, or XML by the `.xml` extension) with
//! [`profiles::Validator`] against the base spec, their declared profiles
//! and the requested ones. Prints the OperationOutcome as JSON on stdout
//! (for several files, a `collection` Bundle of them, each entry's
//! `fullUrl` the file's `file:` URL) and a one-line summary per file on
//! stderr. Fails (exit 1) when any file has an error or fatal issue.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use fhir_model::json::tree::{self, Value as Json};

use crate::format::{self, Format};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A FHIR package (`.tgz` or folder) providing profiles, value sets
    /// and code systems; repeatable. Dependencies come from
    /// ~/.fhir/packages when there.
    #[arg(
        long = "package",
        value_name = "PATH",
        env = "FHIR_PACKAGE",
        value_delimiter = ','
    )]
    pub packages: Vec<PathBuf>,
    /// A profile every file is validated against (besides `meta.profile`);
    /// repeatable.
    #[arg(
        long = "profile",
        value_name = "URL",
        env = "FHIR_PROFILE",
        value_delimiter = ','
    )]
    pub profiles: Vec<String>,
    /// The resources to validate.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let set = crate::packages::load(&args.packages)?;
    let validator = profiles::Validator::new(Arc::new(set));
    let profiles: Vec<&str> = args.profiles.iter().map(String::as_str).collect();
    let mut failed = 0;
    let mut outcomes = Vec::new();
    for path in &args.files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let is_xml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        let issues = if is_xml {
            match format::body_as_json(Format::Xml, &bytes) {
                Ok(json) => validator.validate_json(&json, &profiles),
                Err(e) => vec![profiles::Issue::new(
                    profiles::Severity::Fatal,
                    profiles::IssueType::Structure,
                    "",
                    e.to_string(),
                )],
            }
        } else {
            validator.validate_json(&bytes, &profiles)
        };
        let errors = issues.iter().filter(|i| i.severity.is_error()).count();
        eprintln!(
            "{}: {} error(s), {} other issue(s)",
            path.display(),
            errors,
            issues.len() - errors
        );
        if errors > 0 {
            failed += 1;
        }
        outcomes.push((path, profiles::operation_outcome(&issues)));
    }
    println!(
        "{}",
        String::from_utf8_lossy(&tree::to_pretty_json(&answer(outcomes)))
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) have errors", args.files.len());
    }
    Ok(())
}

/// One file's OperationOutcome, or a `collection` Bundle of them.
fn answer(mut outcomes: Vec<(&PathBuf, Json)>) -> Json {
    if outcomes.len() == 1 {
        if let Some((_, oo)) = outcomes.pop() {
            return oo;
        }
    }
    let s = |x: String| Json::String(x);
    let entries = outcomes
        .into_iter()
        .map(|(path, oo)| {
            let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            Json::Object(vec![
                (
                    "fullUrl".to_owned(),
                    s(format!("file://{}", full.display())),
                ),
                ("resource".to_owned(), oo),
            ])
        })
        .collect();
    Json::Object(vec![
        ("resourceType".to_owned(), s("Bundle".to_owned())),
        ("type".to_owned(), s("collection".to_owned())),
        ("entry".to_owned(), Json::Array(entries)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_follows_errors() {
        let dir = std::env::temp_dir().join(format!("validate-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        let bad = dir.join("bad.json");
        std::fs::write(
            &good,
            r#"{"resourceType":"Patient","name":[{"family":"A"}]}"#,
        )
        .unwrap();
        std::fs::write(
            &bad,
            r#"{"resourceType":"Patient","contact":[{"gender":"male"}]}"#,
        )
        .unwrap();
        let args = |files: Vec<PathBuf>| ValidateArgs {
            packages: Vec::new(),
            profiles: Vec::new(),
            files,
        };
        assert!(run(args(vec![good.clone()])).is_ok());
        let one = answer(vec![(&good, profiles::operation_outcome(&[]))]);
        assert!(matches!(&one, Json::Object(m)
            if m.iter().any(|(k, v)| k == "resourceType" && *v == Json::String("OperationOutcome".into()))));
        let two = answer(vec![
            (&good, profiles::operation_outcome(&[])),
            (&bad, profiles::operation_outcome(&[])),
        ]);
        let text = String::from_utf8(tree::to_json(&two)).expect("utf8");
        assert!(
            text.contains(r#""type":"collection""#) && text.contains("bad.json"),
            "{text}"
        );
        let err = run(args(vec![good, bad])).unwrap_err();
        assert_eq!(err.to_string(), "1 of 2 file(s) have errors");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
