//! A patient's Consent read as denials: which Organization may not see
//! which of the patient's data, and when.
//!
//! A Consent yields denials when it is `active`, its `scope` is
//! `patient-privacy` (http://terminology.hl7.org/CodeSystem/consentscope)
//! and it names its `patient`. Every provision of type `deny` (the base
//! provision, or one nested in a base `permit`, as consent.html shows "base
//! permit, with exceptions") that names an `Organization` actor gives one
//! [`Denial`] per such actor, with the provision's `class` (resource
//! types, http://hl7.org/fhir/resource-types) and `securityLabel`s. A
//! denial without classes or labels covers all the patient's data.
//! Periods (the base provision's and the deny provision's) bound when it
//! applies.
//!
//! **References**: the patient and the actors are read as this server's
//! references: relative (`Patient/pb`, also with `/_history/n`) or
//! absolute on this server's base (`https://host/fhir/Patient/pb`). A
//! Consent whose absolute references name another server, or that this
//! server cannot read at all, is refused when written
//! ([`check_references`], 422): a denial that is stored but never enforced
//! would fail open. At load the host of an absolute reference is no
//! longer known, so `…/fhir/Patient/pb` is read as `Patient/pb`: written
//! ones were checked, and one that came in by other means (an import)
//! denies more, never less.
//!
//! Not read: deny provisions with no Organization actor (there is no one
//! to enforce them against), `purpose`, `action`, `code`, `data`,
//! `dataPeriod`, permit provisions nested in denials, `policyRule`.

use serde_json::Value;

const SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";

/// One denial: `organization`'s clients may not see `patient`'s data of
/// these classes (or with these labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The Consent it comes from.
    pub consent: String,
    pub patient: String,
    /// The Organization's id.
    pub organization: String,
    /// Resource types; empty: every type.
    pub classes: Vec<String>,
    /// Security labels `(system, code)`; empty: any resource.
    pub labels: Vec<(Option<String>, String)>,
    /// FHIR dateTimes, inclusive.
    pub start: Option<String>,
    pub end: Option<String>,
}

impl Denial {
    /// True when `now` (a FHIR instant) lies in the period. A bound is
    /// compared at its own precision, so an end of `2026-12-31` covers all
    /// of that day (time zones of partial bounds are not adjusted).
    pub fn active_at(&self, now: &str) -> bool {
        let at = |bound: &str| now.get(..bound.len()).unwrap_or(now).to_owned();
        self.start.as_deref().is_none_or(|s| at(s).as_str() >= s)
            && self.end.as_deref().is_none_or(|e| at(e).as_str() <= e)
    }

    /// True when the denial covers a resource of type `rt` with the
    /// `meta.security` labels of `resource` (if known; an entry without its
    /// resource, a deletion in a history, is covered only by denials
    /// without labels).
    pub fn covers(&self, rt: &str, resource: Option<&Value>) -> bool {
        if !self.classes.is_empty() && !self.classes.iter().any(|c| c == rt) {
            return false;
        }
        if self.labels.is_empty() {
            return true;
        }
        let Some(security) =
            resource.and_then(|r| r.get("meta")?.get("security")?.as_array().cloned())
        else {
            return false;
        };
        security.iter().any(|l| {
            let code = l.get("code").and_then(Value::as_str);
            let system = l.get("system").and_then(Value::as_str);
            self.labels.iter().any(|(s, c)| {
                Some(c.as_str()) == code && s.as_deref().is_none_or(|s| Some(s) == system)
            })
        })
    }
}

/// The denials of one Consent (none when it is not an active
/// patient-privacy Consent).
pub fn denials(consent: &Value) -> Vec<Denial> {
    let str_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if str_at(consent, "status").as_deref() != Some("active") {
        return Vec::new();
    }
    let privacy = codings(consent.get("scope")).any(|c| {
        str_at(c, "system").as_deref() == Some(SCOPE)
            && str_at(c, "code").as_deref() == Some("patient-privacy")
    });
    if !privacy {
        return Vec::new();
    }
    let Some(patient) = consent
        .get("patient")
        .and_then(|p| p.get("reference"))
        .and_then(Value::as_str)
        .and_then(|r| local_id(r, "Patient"))
        .map(str::to_owned)
    else {
        return Vec::new();
    };
    let Some(base) = consent.get("provision") else {
        return Vec::new();
    };
    let id = str_at(consent, "id").unwrap_or_default();
    let mut out = Vec::new();
    let base_period = period(base);
    let mut provisions = vec![base];
    if let Some(nested) = base.get("provision").and_then(Value::as_array) {
        provisions.extend(nested);
    }
    for p in provisions {
        if str_at(p, "type").as_deref() != Some("deny") {
            continue;
        }
        let (own_start, own_end) = period(p);
        let classes: Vec<String> = array(p, "class")
            .filter(|c| str_at(c, "system").is_none_or(|s| s == RESOURCE_TYPES))
            .filter_map(|c| str_at(c, "code"))
            .collect();
        let labels: Vec<(Option<String>, String)> = array(p, "securityLabel")
            .filter_map(|c| Some((str_at(c, "system"), str_at(c, "code")?)))
            .collect();
        for actor in array(p, "actor") {
            let Some(org) = actor
                .get("reference")
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
                .and_then(|r| local_id(r, "Organization"))
            else {
                continue;
            };
            out.push(Denial {
                consent: id.clone(),
                patient: patient.clone(),
                organization: org.to_owned(),
                classes: classes.clone(),
                labels: labels.clone(),
                start: own_start.clone().or_else(|| base_period.0.clone()),
                end: own_end.clone().or_else(|| base_period.1.clone()),
            });
        }
    }
    out
}

/// The id a reference to `rt` names on this server: `rt/id`,
/// `rt/id/_history/v`, or either after this server's base path in an
/// absolute URL (its host is checked on write, [`check_references`]).
fn local_id<'r>(reference: &'r str, rt: &str) -> Option<&'r str> {
    let relative = match reference.split_once("://") {
        Some((_, rest)) => {
            let path = &rest[rest.find('/')?..];
            path.strip_prefix(crate::route::BASE)?.strip_prefix('/')?
        }
        None => reference,
    };
    let rest = relative.strip_prefix(rt)?.strip_prefix('/')?;
    let id = match rest.split_once('/') {
        Some((id, version)) if version.starts_with("_history/") => id,
        Some(_) => return None,
        None => rest,
    };
    fhir_model::primitives::Id::new(id).ok().map(|_| id)
}

/// Why a Consent about to be written would not be enforced as it reads,
/// one message per reference (empty: fine). `base` is this server's base
/// URL as the client addressed it (`https://host/fhir`); `in_transaction`
/// allows the `urn:uuid:`/`urn:oid:` references a transaction resolves
/// before storing. Checked: the patient and every actor of every
/// provision. Any status: a draft may be made active by a later write.
pub fn check_references(consent: &Value, base: &str, in_transaction: bool) -> Vec<String> {
    let mut refs: Vec<(String, &str, &str)> = Vec::new();
    if let Some(r) = consent
        .get("patient")
        .and_then(|p| p.get("reference"))
        .and_then(Value::as_str)
    {
        refs.push(("Consent.patient".into(), r, "Patient"));
    }
    let mut provisions: Vec<(String, &Value)> = consent
        .get("provision")
        .map(|p| ("Consent.provision".to_owned(), p))
        .into_iter()
        .collect();
    while let Some((at, p)) = provisions.pop() {
        for (i, actor) in array(p, "actor").enumerate() {
            if let Some(r) = actor
                .get("reference")
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
            {
                refs.push((format!("{at}.actor[{i}].reference"), r, ""));
            }
        }
        for (i, nested) in array(p, "provision").enumerate() {
            provisions.push((format!("{at}.provision[{i}]"), nested));
        }
    }
    let base = base.trim_end_matches('/');
    refs.into_iter()
        .filter_map(|(at, r, rt)| {
            let ok = if r.contains("://") {
                r.strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('/'))
            } else if r.starts_with("urn:") {
                in_transaction
            } else {
                true
            };
            let readable = rt.is_empty() || r.starts_with("urn:") || local_id(r, rt).is_some();
            match (ok, readable) {
                (true, true) => None,
                (false, _) => Some(format!(
                    "{at}: {r:?} is not a reference on this server ({base}): a Consent is \
                     enforced only for this server's patients and actors, so it is refused \
                     rather than stored and never applied"
                )),
                (true, false) => Some(format!(
                    "{at}: {r:?} is not a reference to a {rt} of this server: the Consent \
                     could not be enforced, so it is refused"
                )),
            }
        })
        .collect()
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn codings(concept: Option<&Value>) -> impl Iterator<Item = &Value> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn period(p: &Value) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        p.get("period")
            .and_then(|x| x.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (get("start"), get("end"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn consent(deny: Value) -> Value {
        json!({
            "resourceType": "Consent", "id": "c1", "status": "active",
            "scope": {"coding": [{"system": SCOPE, "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/p1"},
            "provision": {"type": "permit", "provision": [deny]}
        })
    }

    #[test]
    fn a_nested_deny_by_organization_and_class() {
        let c = consent(json!({
            "type": "deny",
            "actor": [{"role": {"text": "recipient"}, "reference": {"reference": "Organization/B"}}],
            "class": [{"system": RESOURCE_TYPES, "code": "Observation"}]
        }));
        let d = denials(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].patient.as_str(), d[0].organization.as_str()),
            ("p1", "B")
        );
        assert!(d[0].covers("Observation", None));
        assert!(!d[0].covers("Condition", None));
    }

    #[test]
    fn labels_periods_and_inactive_consents() {
        let c = consent(json!({
            "type": "deny",
            "period": {"start": "2026-01-01", "end": "2026-12-31"},
            "actor": [{"reference": {"reference": "Organization/B"}}],
            "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
        }));
        let d = &denials(&c)[0];
        let restricted = json!({"meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]}});
        assert!(d.covers("Observation", Some(&restricted)));
        assert!(!d.covers("Observation", Some(&json!({}))));
        assert!(d.active_at("2026-12-31T23:00:00.000Z"));
        assert!(!d.active_at("2027-01-01T00:00:00.000Z"));
        assert!(!d.active_at("2025-12-31T23:59:59.000Z"));
        let mut inactive = c.clone();
        inactive["status"] = json!("inactive");
        assert!(denials(&inactive).is_empty());
        let mut other_scope = c;
        other_scope["scope"]["coding"][0]["code"] = json!("research");
        assert!(denials(&other_scope).is_empty());
    }

    #[test]
    fn absolute_and_versioned_references_on_this_server() {
        let mut c = consent(json!({
            "type": "deny",
            "actor": [{"reference": {"reference": "https://h.test/fhir/Organization/B"}}]
        }));
        c["patient"]["reference"] = json!("https://h.test/fhir/Patient/p1/_history/2");
        let d = denials(&c);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].patient.as_str(), d[0].organization.as_str()),
            ("p1", "B")
        );
        assert!(check_references(&c, "https://h.test/fhir", false).is_empty());
        let issues = check_references(&c, "http://127.0.0.1:8080/fhir", false);
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(issues[0].starts_with("Consent.patient"), "{issues:?}");
        c["patient"]["reference"] = json!("urn:uuid:0b5a3b9e-0000-4000-8000-000000000001");
        assert_eq!(check_references(&c, "https://h.test/fhir", false).len(), 1);
        assert!(check_references(&c, "https://h.test/fhir", true).is_empty());
        c["patient"]["reference"] = json!("Group/g1");
        assert_eq!(check_references(&c, "https://h.test/fhir", true).len(), 1);
        assert_eq!(local_id("Patient/a/b", "Patient"), None);
        assert_eq!(local_id("https://h.test/other/Patient/a", "Patient"), None);
    }

    #[test]
    fn permits_and_denials_without_an_organization_give_nothing() {
        let c = consent(
            json!({"type": "permit", "actor": [{"reference": {"reference": "Organization/B"}}]}),
        );
        assert!(denials(&c).is_empty());
        let c = consent(
            json!({"type": "deny", "actor": [{"reference": {"reference": "Practitioner/x"}}]}),
        );
        assert!(denials(&c).is_empty());
    }
}
