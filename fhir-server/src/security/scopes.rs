//! SMART on FHIR clinical scopes, v1 and v2
//! (<https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html>):
//! `patient/Observation.read`, `user/*.write`, `system/*.*` (v1) and
//! `patient/Observation.rs`, `user/*.cruds`,
//! `patient/Observation.rs?category=laboratory` (v2, with search-parameter
//! constraints).
//!
//! A token's scope string becomes a typed [`ScopeSet`]; the question the
//! server asks is [`ScopeSet::rule`]: may this token do this interaction on
//! this type, and if so limited to which patient and which constraints.
//! Scopes the server does not act on (`openid`, `fhirUser`, `launch`,
//! `offline_access`, …) are kept out: they grant no data access.

/// The v2 permission letters; v1 `read` is `rs`, `write` is `cud`, `*`
/// is all five.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    pub(crate) fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }
}

/// Whose data a scope reaches: the launch patient's, the user's, or the
/// whole system's (backend services).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Patient,
    User,
    System,
}

/// One clinical scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub level: Level,
    /// A resource type, or `None` for `*`.
    pub resource_type: Option<String>,
    /// Granted letters out of `cruds`.
    pub permissions: String,
    /// v2 `?param=value&…`: every pair must match (AND).
    pub constraints: Vec<(String, String)>,
}

impl Scope {
    /// Parses one scope; `None` for scopes that are not clinical data
    /// scopes (`openid`, `launch/patient`, …) or do not follow the syntax.
    pub fn parse(s: &str) -> Option<Scope> {
        let (level, rest) = s.split_once('/')?;
        let level = match level {
            "patient" => Level::Patient,
            "user" => Level::User,
            "system" => Level::System,
            _ => return None,
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (ty, perm) = rest.rsplit_once('.')?;
        let resource_type = match ty {
            "*" => None,
            t => Some(fhir_model::ResourceType::parse(t)?.as_str().to_owned()),
        };
        let permissions = match perm {
            "read" => "rs".to_owned(),
            "write" => "cud".to_owned(),
            "*" => "cruds".to_owned(),
            v2 => {
                // v2: a non-empty subsequence of c, r, u, d, s in order.
                let mut rest = "cruds";
                for c in v2.chars() {
                    let at = rest.find(c)?;
                    rest = &rest[at + 1..];
                }
                if v2.is_empty() {
                    return None;
                }
                v2.to_owned()
            }
        };
        let constraints = match query {
            None => Vec::new(),
            Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok()?,
        };
        Some(Scope {
            level,
            resource_type,
            permissions,
            constraints,
        })
    }

    fn grants(&self, resource_type: &str, interaction: Interaction) -> bool {
        self.resource_type
            .as_deref()
            .is_none_or(|t| t == resource_type)
            && self.permissions.contains(interaction.letter())
    }
}

/// Every clinical scope of a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    pub scopes: Vec<Scope>,
}

/// What a token may do for one (type, interaction): which patient's
/// compartment bounds it (when only `patient/` scopes grant it) and which
/// v2 constraints the resources must meet (alternatives, OR; `None` when
/// some granting scope has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub patient: Option<String>,
    pub constraints: Option<Vec<Vec<(String, String)>>>,
}

impl Rule {
    /// True when the rule limits nothing: the token sees every resource
    /// of the type.
    pub fn is_open(&self) -> bool {
        self.patient.is_none() && self.constraints.is_none()
    }
}

impl ScopeSet {
    /// The space-separated `scope` claim.
    pub fn parse(scope: &str) -> ScopeSet {
        ScopeSet {
            scopes: scope.split_whitespace().filter_map(Scope::parse).collect(),
        }
    }

    /// Whether, and how far, `interaction` on `resource_type` is granted.
    /// `patient` is the token's launch context: `patient/` scopes grant
    /// nothing without one (they would have no compartment to stay in).
    /// A `user/` or `system/` scope that grants the request wins over
    /// `patient/` ones (it reaches further); among the granting scopes,
    /// one without constraints lifts them all.
    pub fn rule(
        &self,
        patient: Option<&str>,
        resource_type: &str,
        interaction: Interaction,
    ) -> Option<Rule> {
        let granting: Vec<&Scope> = self
            .scopes
            .iter()
            .filter(|s| s.grants(resource_type, interaction))
            .filter(|s| s.level != Level::Patient || patient.is_some())
            .collect();
        if granting.is_empty() {
            return None;
        }
        let wide: Vec<&Scope> = granting
            .iter()
            .copied()
            .filter(|s| s.level != Level::Patient)
            .collect();
        let (chosen, patient) = if wide.is_empty() {
            (granting, patient.map(str::to_owned))
        } else {
            (wide, None)
        };
        let constraints = if chosen.iter().any(|s| s.constraints.is_empty()) {
            None
        } else {
            Some(chosen.iter().map(|s| s.constraints.clone()).collect())
        };
        Some(Rule {
            patient,
            constraints,
        })
    }

    /// True when some scope grants `interaction` on `*` with no patient
    /// bound and no constraint: what system-wide requests (`_history`,
    /// `$reindex`) need.
    pub fn grants_everything(&self, interaction: Interaction) -> bool {
        self.scopes.iter().any(|s| {
            s.level != Level::Patient
                && s.resource_type.is_none()
                && s.constraints.is_empty()
                && s.permissions.contains(interaction.letter())
        })
    }

    /// True when any scope names `resource_type` (or `*`), whatever it
    /// grants: enough for operations that read no stored data
    /// (`$validate`).
    pub fn mentions(&self, resource_type: &str) -> bool {
        self.scopes.iter().any(|s| {
            s.resource_type
                .as_deref()
                .is_none_or(|t| t == resource_type)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_permissions() {
        let s = Scope::parse("patient/Observation.read").unwrap();
        assert_eq!(s.permissions, "rs");
        assert_eq!(Scope::parse("user/*.write").unwrap().permissions, "cud");
        assert_eq!(Scope::parse("system/*.*").unwrap().permissions, "cruds");
        assert_eq!(Scope::parse("patient/*.rs").unwrap().permissions, "rs");
        assert_eq!(
            Scope::parse("user/Patient.cruds").unwrap().permissions,
            "cruds"
        );
        // Out of order, repeated, unknown letters and types are not scopes.
        assert_eq!(Scope::parse("user/*.sr"), None);
        assert_eq!(Scope::parse("user/*.rr"), None);
        assert_eq!(Scope::parse("user/*.x"), None);
        assert_eq!(Scope::parse("user/Nope.read"), None);
        assert_eq!(Scope::parse("openid"), None);
        assert_eq!(Scope::parse("launch/patient"), None);
    }

    #[test]
    fn v2_constraints() {
        let s = Scope::parse("patient/Observation.rs?category=laboratory").unwrap();
        assert_eq!(s.constraints, [("category".into(), "laboratory".into())]);
        let set = ScopeSet::parse("patient/Observation.rs?category=laboratory openid");
        let rule = set
            .rule(Some("p1"), "Observation", Interaction::Search)
            .unwrap();
        assert_eq!(rule.patient.as_deref(), Some("p1"));
        assert_eq!(
            rule.constraints,
            Some(vec![vec![("category".into(), "laboratory".into())]])
        );
        // An unconstrained scope for the same type lifts the constraint.
        let set = ScopeSet::parse("patient/Observation.rs?category=laboratory patient/*.r");
        let rule = set
            .rule(Some("p1"), "Observation", Interaction::Read)
            .unwrap();
        assert_eq!(rule.constraints, None);
    }

    #[test]
    fn rules_by_level() {
        let set = ScopeSet::parse("patient/*.rs user/Practitioner.read");
        assert_eq!(set.rule(None, "Observation", Interaction::Read), None);
        let rule = set
            .rule(Some("p1"), "Observation", Interaction::Read)
            .unwrap();
        assert_eq!(rule.patient.as_deref(), Some("p1"));
        assert!(!rule.is_open());
        let rule = set
            .rule(Some("p1"), "Practitioner", Interaction::Read)
            .unwrap();
        assert!(rule.is_open());
        assert_eq!(
            set.rule(Some("p1"), "Observation", Interaction::Create),
            None
        );
        assert!(!set.grants_everything(Interaction::Read));
        assert!(ScopeSet::parse("system/*.read").grants_everything(Interaction::Search));
        assert!(!ScopeSet::parse("system/*.read").grants_everything(Interaction::Update));
    }
}
