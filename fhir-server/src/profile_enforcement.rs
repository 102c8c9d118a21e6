//! Profile enforcement on write (`serve --profile-enforcement`,
//! `--require-profile TYPE=URL`): every create and update, alone or in a
//! batch/transaction, is validated with [`profiles::Validator`] against
//! the base spec, the profiles it declares in `meta.profile` and the ones
//! the configuration requires for its type (for example: every Patient
//! must conform to JP_Patient). A failing write is rejected (422 with the
//! OperationOutcome) in `reject` mode, or stored with the issues answered
//! as warnings in `warn` mode.
//!
//! The default is `off`: a write gets the model's structural check only
//! (unknown elements, JSON shapes, primitive formats, as always), which
//! costs nothing extra. Full validation runs invariants with FHIRPath at
//! every element (a fraction of a millisecond per resource in release,
//! see `validate_bench`), and 19 of the 5,306 official R4 examples fail
//! it; turning it on for every write would change what the server
//! accepts, so it is a choice made in configuration.
//!
//! The configuration is per process and set once when `serve` starts
//! ([`install`]); the write path reads it with [`current`], so the hook
//! in each interaction is one call.

use std::collections::HashMap;
use std::sync::OnceLock;

use profiles::{Severity, Validator};

use crate::error::{Error, Issue};

/// What a write that fails validation gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// No validation beyond the model's structural check.
    #[default]
    Off,
    /// Stored; the issues come back as warnings.
    Warn,
    /// Refused with 422 and the OperationOutcome.
    Reject,
}

/// The enforcement configuration: the mode and, per resource type, the
/// profiles every write of that type must meet.
#[derive(Debug, Clone, Default)]
pub struct Enforcement {
    pub mode: Mode,
    required: HashMap<String, Vec<String>>,
}

static CURRENT: OnceLock<Enforcement> = OnceLock::new();

/// Sets the process's configuration (once, at `serve` start); a second
/// call is ignored.
pub fn install(e: Enforcement) {
    let _ = CURRENT.set(e);
}

/// The process's configuration (`off` when none was installed).
pub fn current() -> &'static Enforcement {
    static OFF: OnceLock<Enforcement> = OnceLock::new();
    CURRENT
        .get()
        .unwrap_or_else(|| OFF.get_or_init(Enforcement::default))
}

/// With `Prefer: return=OperationOutcome`, the write's OperationOutcome
/// gets `warnings` appended (warn mode: what the stored resource fails).
pub fn attach_warnings(
    req: &actix_web::HttpRequest,
    resp: actix_web::HttpResponse,
    warnings: Vec<Issue>,
) -> actix_web::HttpResponse {
    if warnings.is_empty()
        || crate::interaction::headers::prefer_return(req.headers())
            != crate::interaction::headers::Return::OperationOutcome
    {
        return resp;
    }
    use actix_web::body::MessageBody;
    let (head, body) = resp.into_parts();
    let bytes = body.try_into_bytes().unwrap_or_default();
    let mut outcome: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::json!({
            "resourceType": "OperationOutcome", "issue": []
        })
    });
    if let Some(list) = outcome.get_mut("issue").and_then(|v| v.as_array_mut()) {
        for w in warnings {
            let mut issue = serde_json::json!({
                "severity": "warning",
                "code": w.code.as_str(),
                "diagnostics": w.diagnostics,
            });
            if let Some(e) = w.expression {
                issue["expression"] = serde_json::json!([e]);
            }
            list.push(issue);
        }
    }
    head.set_body(actix_web::body::BoxBody::new(
        serde_json::to_vec(&outcome).unwrap_or_default(),
    ))
}

impl Enforcement {
    /// From the command line: `rules` are `Type=canonical-url`. A
    /// required profile turns a default `off` into `reject`, since asking
    /// for a profile and then not checking it is never what is meant.
    pub fn new(mode: Option<Mode>, rules: &[String]) -> anyhow::Result<Enforcement> {
        let mut required: HashMap<String, Vec<String>> = HashMap::new();
        for r in rules {
            let Some((ty, url)) = r.split_once('=') else {
                anyhow::bail!("--require-profile {r:?}: expected TYPE=URL");
            };
            if fhir_model::ResourceType::parse(ty).is_none() {
                anyhow::bail!("--require-profile {r:?}: {ty} is not an R4 resource type");
            }
            if url.is_empty() {
                anyhow::bail!("--require-profile {r:?}: no profile url");
            }
            required
                .entry(ty.to_owned())
                .or_default()
                .push(url.to_owned());
        }
        let mode = match mode {
            Some(m) => m,
            None if !required.is_empty() => Mode::Reject,
            None => Mode::Off,
        };
        Ok(Enforcement { mode, required })
    }

    /// Checks one resource about to be written (`at`: the location prefix
    /// for a Bundle entry, empty otherwise). The resource is serialized
    /// only when enforcement is on: with the default `off` a write pays
    /// nothing here.
    /// `Err(Unprocessable)` in `reject` mode when there are errors;
    /// otherwise the issues worth telling the client (errors and
    /// warnings, as warnings).
    /// [`Enforcement::check`] with the server's validator, which is taken
    /// (and rebuilt, after a definition change) only when enforcement is
    /// on: a server loading thousands of conformance resources with
    /// enforcement off must not rebuild the validator once per write.
    pub fn check_with(
        &self,
        profiles: &crate::stored_profiles::Profiles,
        resource: &fhir_model::Resource,
        at: &str,
    ) -> Result<Vec<Issue>, Error> {
        if self.mode == Mode::Off {
            return Ok(Vec::new());
        }
        self.check(&*profiles.validator()?, resource, at)
    }

    /// Whether writes are checked against profiles at all.
    pub fn is_on(&self) -> bool {
        self.mode != Mode::Off
    }

    pub fn check(
        &self,
        validator: &Validator,
        resource: &fhir_model::Resource,
        at: &str,
    ) -> Result<Vec<Issue>, Error> {
        if self.mode == Mode::Off {
            return Ok(Vec::new());
        }
        let rtype = resource.resource_type().as_str();
        let json = resource.to_json_vec();
        let required: Vec<&str> = self
            .required
            .get(rtype)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let issues = validator.validate_json(&json, &required);
        let failed = profiles::has_errors(&issues);
        // Inside a Bundle entry, `Patient.name` is `Bundle.entry[i].resource.name`.
        let located = |i: &profiles::Issue| {
            let expr = if at.is_empty() {
                i.expression.clone()
            } else if i.expression == rtype || i.expression.is_empty() {
                at.to_owned()
            } else {
                match i
                    .expression
                    .strip_prefix(rtype)
                    .and_then(|r| r.strip_prefix('.'))
                {
                    Some(rest) => format!("{at}.{rest}"),
                    None => format!("{at}.{}", i.expression),
                }
            };
            Issue::from(i).at(expr)
        };
        if failed && self.mode == Mode::Reject {
            return Err(Error::Unprocessable(
                issues
                    .iter()
                    .filter(|i| i.severity.is_error())
                    .map(located)
                    .collect(),
            ));
        }
        Ok(issues
            .iter()
            .filter(|i| i.severity <= Severity::Warning)
            .map(located)
            .collect())
    }
}

/// Checks the resources a transaction writes (POST and PUT entries),
/// before anything is written. In `reject` mode one failing entry refuses
/// the whole Bundle with 422, its issues located at
/// `Bundle.entry[i].resource` (the client learns every failing entry at
/// once); in `warn` mode the issues are logged. A batch checks each entry
/// on its own ([`check_entry`]): its entries succeed or fail alone.
pub fn check_entries(
    validator: &Validator,
    bundle: &fhir_model::generated::Bundle,
) -> Result<(), Error> {
    if current().mode == Mode::Off {
        return Ok(());
    }
    let mut failed = Vec::new();
    for (i, entry) in bundle.entry.iter().enumerate() {
        match check_entry(validator, i, entry) {
            Ok(()) => {}
            Err(Error::Unprocessable(issues)) => failed.extend(issues),
            Err(other) => return Err(other),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Unprocessable(failed))
    }
}

/// [`check_entries`] for entry `i` alone.
pub fn check_entry(
    validator: &Validator,
    i: usize,
    entry: &fhir_model::generated::BundleEntry,
) -> Result<(), Error> {
    let e = current();
    if e.mode == Mode::Off {
        return Ok(());
    }
    let method = entry
        .request
        .as_ref()
        .and_then(|r| r.method.as_ref())
        .and_then(|m| m.value.as_ref())
        .map(|m| m.as_str().to_owned());
    let (Some(resource), Some(m @ ("POST" | "PUT"))) = (&entry.resource, method.as_deref()) else {
        return Ok(());
    };
    // An operation's resource is its input (`$validate`, a Parameters):
    // nothing is written.
    let url = entry
        .request
        .as_ref()
        .and_then(|r| r.url.as_ref())
        .and_then(|u| u.value.as_ref())
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default();
    let method =
        actix_web::http::Method::from_bytes(m.as_bytes()).unwrap_or(actix_web::http::Method::POST);
    if let Ok((c, _)) = crate::route::classify_url(&method, &url) {
        use crate::route::Route;
        if matches!(
            c.route,
            Route::SystemOperation(_)
                | Route::TypeOperation(..)
                | Route::InstanceOperation(..)
                | Route::VersionOperation(..)
        ) {
            return Ok(());
        }
    }
    let at = format!("Bundle.entry[{i}].resource");
    for w in e.check(validator, resource, &at)? {
        log::info!(
            "{at}: stored although: {} ({})",
            w.diagnostics,
            w.expression.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_parsed_and_a_required_profile_implies_reject() {
        let e = Enforcement::new(None, &["Patient=http://x/p".into()]).expect("rules");
        assert_eq!(e.mode, Mode::Reject);
        assert_eq!(e.required["Patient"], ["http://x/p"]);
        assert_eq!(Enforcement::new(None, &[]).expect("none").mode, Mode::Off);
        assert!(Enforcement::new(None, &["Patient".into()]).is_err());
        assert!(Enforcement::new(None, &["Patience=http://x".into()]).is_err());
        let warn = Enforcement::new(Some(Mode::Warn), &["Patient=http://x/p".into()]);
        assert_eq!(warn.expect("warn").mode, Mode::Warn);
    }

    #[test]
    fn reject_mode_refuses_a_base_violation_and_warn_mode_reports_it() {
        let v = Validator::default();
        // pat-1: a contact needs a name, telecom, address or organization.
        let parse = |b: &[u8]| fhir_model::Resource::from_json_slice(b).expect("test resource");
        let bad = &parse(br#"{"resourceType":"Patient","contact":[{"gender":"male"}]}"#);
        let good = &parse(
            br#"{"resourceType":"Patient","active":true,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">A</div>"}}"#,
        );
        let reject = Enforcement::new(Some(Mode::Reject), &[]).expect("reject");
        match reject.check(&v, bad, "Bundle.entry[1].resource") {
            Err(Error::Unprocessable(issues)) => {
                assert!(issues.iter().any(|i| i
                    .expression
                    .as_deref()
                    .is_some_and(|e| e.starts_with("Bundle.entry[1].resource.contact[0]"))));
            }
            other => panic!("{other:?}"),
        }
        assert!(reject.check(&v, good, "").expect("good").is_empty());
        let warn = Enforcement::new(Some(Mode::Warn), &[]).expect("warn");
        assert!(!warn.check(&v, bad, "").expect("stored").is_empty());
        let off = Enforcement::default();
        assert!(off.check(&v, bad, "").expect("off").is_empty());
    }
}
