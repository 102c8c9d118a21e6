//! Search (search.html): the parameter registry, index extraction on write,
//! and the query side that turns a search URL into SQL over the index
//! tables.
//!
//! How the pieces fit:
//! - [`param`] defines search parameters; `registry` builds them from the
//!   built-in R4 core data and loaded packages; [`code_systems`] gives a
//!   token parameter over a required-bound `code` element its system.
//! - `extract` evaluates each parameter's FHIRPath expression over a
//!   resource and yields the [`index`] rows that the store writes in the
//!   same transaction as the resource.
//! - `query` parses the request's parameters, `sql` plans them into one
//!   SQL statement over the index tables, where a selective parameter
//!   drives the query.

pub mod code_systems;
pub mod compartment;
pub mod decimal_key;
pub mod extract;
pub mod fulltext;
pub mod index;
pub mod normalize;
pub mod param;
pub mod query;
pub mod registry;
pub mod sql;
pub mod ucum;
pub mod value;
