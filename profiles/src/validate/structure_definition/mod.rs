//! Rules on StructureDefinitions themselves (a profile being validated,
//! not applied): element paths, slicing discriminators, type profiles,
//! fixed values against the base, obligation profiles.

pub mod derived_fixed;
pub mod discriminators;
pub mod obligations;
pub mod paths;
pub mod type_profiles;
