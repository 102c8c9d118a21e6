//! [`Access`]: who is asking and what they may see, put into the request's
//! extensions by [`super::middleware`] once the bearer token is checked.
//!
//! This is the one value later code reads about the caller: search and
//! `$everything` narrow their queries with it, and audit or consent
//! handling (AuditEvent, Consent) can take the subject, client and patient
//! from it rather than from the token again.

use super::scopes::{Interaction, Rule, ScopeSet};

/// The caller of one request, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `sub`: the user or system the token was issued for.
    pub subject: Option<String>,
    /// `client_id` (or `azp`): the app.
    pub client_id: Option<String>,
    /// The clinical scopes.
    pub scopes: ScopeSet,
    /// The SMART `patient` launch context: the patient whose compartment
    /// `patient/` scopes are bounded by.
    pub patient: Option<String>,
    /// The Organization the client acts for (the `organization` claim, as
    /// `Organization/id` or `id`; stored as the id): whose clients a
    /// patient's Consent can deny ([`super::consent`]).
    pub organization: Option<String>,
}

impl Access {
    /// See [`ScopeSet::rule`].
    pub fn rule(&self, resource_type: &str, interaction: Interaction) -> Option<Rule> {
        self.scopes
            .rule(self.patient.as_deref(), resource_type, interaction)
    }

    /// What reading a resource that a search or a Bundle answer carries
    /// needs: `r` or `s` on its type (the wider of the two rules).
    pub fn read_rule(&self, resource_type: &str) -> Option<Rule> {
        match (
            self.rule(resource_type, Interaction::Read),
            self.rule(resource_type, Interaction::Search),
        ) {
            (Some(r), _) if r.is_open() => Some(r),
            (_, Some(s)) if s.is_open() => Some(s),
            (r, s) => r.or(s),
        }
    }
}
