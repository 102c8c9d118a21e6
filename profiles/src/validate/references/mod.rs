//! References inside the resource (references.html): resolving `#id` and
//! Bundle entries, the target's type and profiles, and (by policy) that a
//! literal reference resolves at all.

pub mod exists;
pub mod resolve;
pub mod target;
