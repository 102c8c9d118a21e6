//! The base spec, checked on every resource whatever its profiles: the
//! walk over every element ([`invariants`]) with the base cardinality, the
//! core invariants (with their R4 [`errata`]), the required bindings of
//! the core definitions ([`binding`]), where extensions may be
//! ([`extensions`]), and the per-element hooks ([`content`],
//! [`element_rules`], [`element_ids`]).

pub mod binding;
pub mod cardinality;
pub mod children;
pub mod constraints;
pub mod content;
pub mod element_ids;
pub mod element_rules;
pub mod errata;
pub mod extensions;
pub mod invariants;
pub mod types;
