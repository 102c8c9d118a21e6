//! The profile engine: FHIR packages and validation to OperationOutcome
//! issues ([`validate`]); snapshots generated for differential-only
//! profiles ([`snapshot`]).
//!
//! # Brief overview
//!
//! A [`Package`] is one FHIR package in the npm layout
//! (<https://hl7.org/fhir/packages.html>), read from a `.tgz`
//! ([`Package::from_tgz`], [`Package::from_tgz_bytes`]), an unpacked folder
//! ([`Package::from_dir`]) or the shared package cache `~/.fhir/packages`
//! ([`PackageCache`]). It carries its [`Manifest`] (name, version,
//! fhirVersions, dependencies) and its resources as bytes, indexed by
//! (resourceType, id) and canonical `url` / `url|version`; each is parsed
//! into a `fhir_model::json::tree::Value` on first use.
//!
//! A [`PackageSet`] holds several packages and answers the questions the
//! engine asks: a conformance resource by canonical URL, by type and id, all
//! of one type. [`PackageSet::resolve_dependencies`] pulls missing
//! dependencies from the cache and returns a [`Warning`] once for each it
//! cannot find (JP Core's `jpfhir-terminology` is the usual one): a missing
//! dependency leaves definitions unknown, which validation reports, but is
//! never a load error.
//!
//! [`builtin::r4_core`] is the R4 core package built into the binary
//! (without narratives and data elements), decompressed on first use;
//! [`PackageSet::add_builtin_core`] adds it unless the real core package
//! is loaded, so callers know the base spec with no `--package`.
//!
//! A [`Validator`] (over a shared `PackageSet`) checks a resource against
//! the base spec (structure, cardinality, the core invariants of
//! `data/core-constraints.json`) and against profiles with snapshots; see
//! [`validate`]. [`write_rules`] is the cheap subset of the base spec a
//! server applies to every write with no package loaded (required codes,
//! dom-2, dom-4).
//!
//! **Invariant:** this crate depends on `fhir-model` and `fhirpath` only;
//! the single IO it does is reading packages.
//! **Invariant:** no package input panics the loader; every failure is an
//! [`Error`] naming the package source and the entry.

pub mod builtin;
mod error;
mod json;
pub mod package;
pub mod package_set;
pub mod snapshot;
pub mod validate;
pub mod write_rules;

pub use error::Error;
pub use package::{Dependency, Manifest, Package, PackageCache, PackageResource};
pub use package_set::{PackageSet, Warning, CONFORMANCE_TYPES};
pub use validate::{
    has_errors, operation_outcome, Fetcher, Issue, IssueType, Policy, Severity, Validator,
};
