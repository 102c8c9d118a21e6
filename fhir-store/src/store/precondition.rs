//! Preconditions of a write: `If-Match` (http.html#concurrency) and
//! `If-None-Match` (RFC 9110 §13.1.2), on PUT and DELETE over REST and as
//! `request.ifMatch` / `request.ifNoneMatch` of Bundle entries.
//!
//! They are checked inside the write's transaction, after the resource's
//! row is locked ([`queries::lock_current`]), so no other writer can slip
//! in between the check and the write.

use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::{queries, type_and_id, Store, StoreError, Tx, TxError, TxWrite, Written};

/// `If-None-Match`: `*` (any current representation) or a list of
/// versions (weak comparison, RFC 9110 §13.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoneMatch {
    Any,
    Versions(Vec<i32>),
}

/// The preconditions one write carries; empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// Write only if this is the current version of a resource that is
    /// not deleted; else 412.
    pub if_match: Option<i32>,
    /// Write only if the current version (a resource that is not
    /// deleted) is not among these; `*` means "only if it does not
    /// exist". Else 412.
    pub if_none_match: Option<NoneMatch>,
}

impl Preconditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// `Ok` when a write may proceed over `live`, the current version
    /// (`None`: absent or deleted); the reason it may not otherwise.
    fn admit(&self, what: &str, live: Option<i32>) -> Result<(), StoreError> {
        if let Some(expected) = self.if_match {
            if live != Some(expected) {
                return Err(StoreError::PreconditionFailed(match live {
                    Some(v) => format!("{what} is at version {v}, not {expected} (If-Match)"),
                    None => format!(
                        "{what} does not exist, so it is not at version {expected} (If-Match)"
                    ),
                }));
            }
        }
        match (&self.if_none_match, live) {
            (Some(NoneMatch::Any), Some(v)) => Err(StoreError::PreconditionFailed(format!(
                "{what} exists (version {v}); If-None-Match: * allows only a create"
            ))),
            (Some(NoneMatch::Versions(list)), Some(v)) if list.contains(&v) => {
                Err(StoreError::PreconditionFailed(format!(
                    "{what} is at version {v}, which If-None-Match excludes"
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Tx<'_> {
    /// Checks `pre` against the current version of `rt/id`, holding its
    /// row for the rest of the transaction.
    pub fn check(
        &mut self,
        rt: ResourceType,
        id: &str,
        pre: &Preconditions,
    ) -> Result<(), TxError> {
        if pre.is_empty() {
            return Ok(());
        }
        queries::lock_current(self.conn, rt.as_str(), id)?;
        let live = queries::current(self.conn, rt.as_str(), id)?
            .filter(|c| !c.deleted)
            .map(|c| c.version);
        Ok(pre.admit(&format!("{rt}/{id}"), live)?)
    }
}

impl Store {
    /// [`Store::update`] under `pre`, checked in the write's transaction.
    pub fn update_checked(
        &self,
        resource: &mut Resource,
        pre: &Preconditions,
    ) -> Result<Written, StoreError> {
        let (rt, id) = type_and_id(resource)?;
        // The CPU work before the writer lock (#17 item 25).
        let local = self.local_codes().snapshot(self)?;
        let mut prepared = super::prepare(&self.registry(), &local, resource);
        self.transaction_with(&[], |tx| {
            tx.check(rt, &id, pre)?;
            let mut w = TxWrite::Update(resource.clone(), None);
            tx.write_with(&mut w, &mut prepared)?
                .ok_or_else(|| TxError::Store(StoreError::Fault("update stored nothing".into())))
        })
    }

    /// [`Store::delete`] under `pre`, checked in the write's transaction.
    pub fn delete_checked(
        &self,
        rt: ResourceType,
        id: &Id,
        pre: &Preconditions,
    ) -> Result<Option<Written>, StoreError> {
        self.transaction_with(&[], |tx| {
            tx.check(rt, id.as_str(), pre)?;
            tx.write(&mut TxWrite::Delete(rt, id.clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_follows_rfc_9110() {
        let m = |v| Preconditions {
            if_match: Some(v),
            if_none_match: None,
        };
        let nm = |n| Preconditions {
            if_match: None,
            if_none_match: Some(n),
        };
        assert!(m(2).admit("P/x", Some(2)).is_ok());
        assert!(m(1).admit("P/x", Some(2)).is_err());
        assert!(m(1).admit("P/x", None).is_err());
        assert!(nm(NoneMatch::Any).admit("P/x", None).is_ok());
        assert!(nm(NoneMatch::Any).admit("P/x", Some(1)).is_err());
        assert!(nm(NoneMatch::Versions(vec![1]))
            .admit("P/x", Some(2))
            .is_ok());
        assert!(nm(NoneMatch::Versions(vec![2]))
            .admit("P/x", Some(2))
            .is_err());
        assert!(Preconditions::default().admit("P/x", Some(9)).is_ok());
    }
}
