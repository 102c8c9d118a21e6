//! The terminology engine: CodeSystem indexes and the operations of
//! terminology-service.html, as a library the server calls.
//!
//! # Brief overview
//!
//! A [`CodeSystem`] is built from a CodeSystem resource's JSON
//! ([`CodeSystem::from_json`]). It holds every concept in a vector, a hash
//! map from code to concept, and the hierarchy as parent and child index
//! lists, merged from nested `concept`s and the `parent`/`child`
//! properties. Each [`Concept`] carries its display, designations (the
//! Japanese and English names of one concept), properties, and two flags
//! read from the properties once at indexing time: `inactive` and
//! `abstract_` (`notSelectable`).
//!
//! The operations are methods returning typed answers, which the server
//! turns into `Parameters` later:
//! - [`CodeSystem::lookup`] → [`Lookup`] (`$lookup`),
//! - [`CodeSystem::validate_code`] → [`Validation`] (`$validate-code`:
//!   `result` plus `message`),
//! - [`CodeSystem::subsumes`] → [`Subsumption`] (`$subsumes`).
//!
//! A [`Registry`] holds many CodeSystems by canonical url and version, and
//! offers the same operations by `system` url, as the REST operations are
//! called.
//!
//! A [`ValueSet`] ([`ValueSet::from_json`]) is expanded against the
//! registry's CodeSystems ([`Registry::expand`], [`Registry::expand_value_set`]
//! → [`Expansion`]: compose include/exclude by concepts, filters and nested
//! value sets; paging, text filter, designations, display language), and
//! codes are checked against it ([`Registry::validate_in_value_set`]).
//!
//! A [`ConceptMap`] is indexed both ways (source code → targets, target
//! code → sources), and [`Registry::translate`] answers `$translate` by map
//! url or by the source/target value sets and systems, `reverse`, and the
//! groups' `unmapped` (`provided`, `fixed`, `other-map`).
//!
//! [`local_codes`] turns a hospital's local lab and drug code masters (CSV)
//! into a local CodeSystem and ConceptMaps to the standard systems, and
//! indexes those maps for the server's write path ([`local_codes::Mapper`]).
//!
//! [`japanese`] knows the Japanese standard code systems (JLAC10/11, HOT,
//! YJ, receipt drug codes, MEDIS disease codes): each code's shape, the
//! registry's answers for them when no master is loaded, and loaders that
//! turn the publishers' CSV masters into CodeSystems.
//!
//! Errors are one enum, [`Error`], each variant with a [`Category`].
//!
//! **Invariant:** this crate depends only on `fhir-model` and does no IO;
//! loading packages or the database is the caller's job.
//! **Invariant:** no operation scans a code system's concepts: codes are
//! found by hash, relatives by index.
//! **Invariant:** no input panics the engine; malformed resources are
//! [`Error::Invalid`] with a FHIRPath-style path.

mod by_system;
mod code_system;
mod concept_map;
mod error;
mod expand;
pub mod japanese;
pub mod local_codes;
mod members;
mod membership;
mod operations;
mod registry;
mod translate;
mod value_set;
mod value_set_filter;
#[cfg(test)]
mod value_set_tests;

pub use code_system::{
    CodeSystem, Coding, Concept, Designation, Property, PropertyDefinition, PropertyValue,
};
pub use concept_map::{ConceptMap, MappingView, Unmapped};
pub use error::{Category, Error};
pub use expand::{ExpandOptions, Expansion, ExpansionEntry, ParameterValue};
pub use membership::CodingToCheck;
pub use operations::{language_matches, Lookup, Subsumption, ValidateOptions, Validation};
pub use registry::Registry;
pub use translate::{TranslateRequest, Translation, TranslationMatch};
pub use value_set::{ConceptReference, ConceptSet, Filter, ValueSet};
