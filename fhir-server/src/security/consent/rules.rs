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
        .and_then(|r| r.strip_prefix("Patient/"))
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
                .and_then(|r| r.strip_prefix("Organization/"))
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
