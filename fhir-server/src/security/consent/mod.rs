//! Consent: a patient's `patient-privacy` Consent that denies an
//! Organization hides the patient's data from the clients acting for that
//! Organization, in every interaction.
//!
//! **Which Organization a client acts for**: the token's `organization`
//! claim (`Organization/B`; [`crate::security::Access::organization`],
//! minted by `fhir-server token --organization`). Tokens without it, and an
//! open server (no tokens), are not subject to Consent denials: there is no
//! recipient to match.
//!
//! **Rule evaluation** ([`rules`]): an active patient-privacy Consent of
//! Patient P with a deny provision naming Organization O (optionally
//! limited to resource types by `class`, to labelled resources by
//! `securityLabel`, and in time by `period`) hides from O's clients every
//! resource that is P's data and that the provision covers. "P's data" is
//! Patient/P itself and every resource in P's Patient compartment (the R4
//! CompartmentDefinition, answered by the search index, as for patient
//! scopes); resources outside the compartment (Organization, Medication…)
//! are nobody's data and never hidden.
//!
//! **Where it is enforced**: once, on every answer ([`filter`]), in a
//! middleware inside the authorization one (so it knows the caller): a
//! single hidden resource answers 404 (as an unknown one would: a client
//! learns nothing of what exists), a hidden entry is removed from search,
//! history, `_include`/`_revinclude` and `$everything` Bundles, and a batch
//! or transaction GET entry loses its resource and answers 404. Searches
//! by chain or `_has` through hidden data still return the *unhidden*
//! resources they match; the hidden ones never appear. Known limit: a
//! searchset's `total` and page sizes count before hiding.
//!
//! **The denials** are kept in memory ([`Consents`]), read from the stored
//! Consents on first use and read again after any request that may have
//! written a Consent (a write to `Consent`, or a batch/transaction).
//! Consents written into the database by other means (`fhir-server
//! import`, another server process) are seen after the next such request
//! or a restart.

pub mod filter;
pub mod rules;

use std::sync::{Arc, RwLock};

use rules::Denial;

use crate::error::Error;
use crate::search::query::{SearchRequest, TotalMode};
use crate::store::Store;

/// The denials of every active Consent, loaded lazily; shared by the
/// workers.
#[derive(Debug, Default)]
pub struct Consents {
    loaded: RwLock<Option<Arc<Vec<Denial>>>>,
}

/// Consents read per page when loading.
const PAGE: usize = 500;

impl Consents {
    /// The denials now in force against `organization`. Blocking (may read
    /// the store).
    pub fn against(&self, store: &Store, organization: &str) -> Result<Vec<Denial>, Error> {
        let all = self.all(store)?;
        let now = crate::store::now_instant();
        Ok(all
            .iter()
            .filter(|d| d.organization == organization && d.active_at(&now))
            .cloned()
            .collect())
    }

    /// Forgets the loaded denials: a Consent may have changed.
    pub fn invalidate(&self) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn all(&self, store: &Store) -> Result<Arc<Vec<Denial>>, Error> {
        if let Some(d) = &*self.loaded.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(d.clone());
        }
        let denials = Arc::new(load(store)?);
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(denials.clone());
        Ok(denials)
    }
}

fn load(store: &Store) -> Result<Vec<Denial>, Error> {
    let mut req = SearchRequest {
        types: vec!["Consent".into()],
        count: PAGE,
        total: TotalMode::None,
        ..SearchRequest::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.search(&req)?;
        for found in &page.matches {
            if let Ok(v) = serde_json::from_slice(&found.body) {
                out.extend(rules::denials(&v));
            }
        }
        match page.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => return Ok(out),
        }
    }
}
