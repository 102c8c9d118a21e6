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
//! or transaction entry loses its resource and answers 404. Searches
//! by chain or `_has` through hidden data still return the *unhidden*
//! resources they match; the hidden ones never appear. Known limit: a
//! searchset's `total` and page sizes count before hiding.
//!
//! **Writes and operations** are judged before they run ([`writes`]),
//! because their answers carry what they touched:
//! - an operation on a hidden instance (`$meta`, `$validate`,
//!   terminology operations, on the resource or one of its versions)
//!   answers 404, as a read does;
//! - a write whose target is hidden (update, patch, delete, `$meta-add`,
//!   `$meta-delete`, also as Bundle entries) is refused (403) before
//!   anything changes: a denied party neither changes hidden data nor
//!   strips the label that hides it;
//! - a conditional write (`If-None-Exist`, conditional update or delete,
//!   `ifNoneExist`, conditional references in a transaction) on a type a
//!   denial against the caller covers is refused (403) whatever it would
//!   match: its search would reach hidden data, and a "matched" or
//!   "created" answer would tell whether hidden data matches (a conditional
//!   create returns the existing resource);
//! - a Consent that denies the caller's Organization (in any period) is
//!   not changed or deleted by it, by any route (403), and conditional
//!   updates and deletes of Consents are refused to a caller some Consent
//!   denies (they could match one);
//! - a Consent whose patient or actor references are not this server's
//!   is refused (422, [`rules::check_references`]), whoever writes it.
//!
//! What is left is the answer of a write that happened: the resource as
//! the caller sent it (create, update, conditional update) or patched it
//! (a target it may see), which holds nothing hidden from it. Those
//! answers are the only ones the filter leaves; every other answer of a
//! write (a conditional create that matched, Bundles) is filtered like a
//! read. A transaction entry that wrote a resource the caller may not see
//! (new data of a denying patient) therefore answers 404 although it was
//! written: known limit, failing closed.
//!
//! **The denials** are kept in memory ([`Consents`]), read from the stored
//! Consents on first use and read again when the Consent stamp of the
//! definition change feed moved (`store/definitions.rs`): at once after a
//! Consent write through this process commits (by any route), and within
//! a second after one through another server process or `fhir-server
//! import` on the same database.

pub mod filter;
pub mod rules;
pub mod writes;

use std::sync::{Arc, RwLock};

use rules::Denial;

use crate::error::Error;
use crate::search::query::{SearchRequest, TotalMode};
use crate::store::{DefinitionKind, Store};

/// The denials of every active Consent, loaded lazily; shared by the
/// workers.
#[derive(Debug, Default)]
pub struct Consents {
    /// The denials and the Consent stamp they were read at.
    loaded: RwLock<Option<(i64, Arc<Vec<Denial>>)>>,
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

    /// The denials of every active Consent that name `organization`,
    /// whatever their period (a Consent that will deny it, or did, still
    /// restricts it). Blocking.
    pub fn naming(&self, store: &Store, organization: &str) -> Result<Vec<Denial>, Error> {
        Ok(self
            .all(store)?
            .iter()
            .filter(|d| d.organization == organization)
            .cloned()
            .collect())
    }

    /// The denials as of the Consent stamp this process last saw. The
    /// stamp is taken before the Consents are read: one committed
    /// meanwhile moves it on, and the next call reads again.
    fn all(&self, store: &Store) -> Result<Arc<Vec<Denial>>, Error> {
        let want = store.definitions().seen().get(DefinitionKind::Consent);
        if let Some((at, d)) = &*self.loaded.read().unwrap_or_else(|p| p.into_inner()) {
            if *at >= want {
                return Ok(d.clone());
            }
        }
        // Keyed by the primary's stamp, so read from the primary even when
        // a read request (which may use a replica) triggers the reload.
        let denials = Arc::new(crate::store::replica::on_primary(|| load(store))?);
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if loaded.as_ref().is_none_or(|(at, _)| *at < want) {
            *loaded = Some((want, denials.clone()));
        }
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
