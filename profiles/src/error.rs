//! The one error type of the crate.
//!
//! Loading: every variant names the package source (the `.tgz` or folder)
//! and, where there is one, the entry inside it, so a broken package can be
//! fixed without a debugger. Loading never panics on input: a corrupt
//! archive, a file that is not JSON or a missing `package.json` all end up
//! here.
//!
//! Terminology: why a value set's codes cannot be listed from the loaded
//! packages ([`crate::validate::terminology::value_sets`]); a binding to
//! it is then reported as not checked. (What validation finds about a
//! resource is not an error of the crate but its result:
//! [`crate::Issue`]s.)

use std::path::PathBuf;

/// What went wrong while loading or reading a FHIR package.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read (missing, permissions, …).
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The `.tgz` is not a valid gzip-compressed tar archive, or is truncated.
    #[error("corrupt package archive {path}{}: {source}", entry_suffix(entry))]
    Archive {
        path: PathBuf,
        /// The entry being read when the archive broke, if it got that far.
        entry: Option<String>,
        #[source]
        source: std::io::Error,
    },
    /// No `package/package.json`: without it the package has no name or
    /// version, so dependencies could not be matched.
    #[error("{path} has no package/package.json")]
    MissingManifest { path: PathBuf },
    /// `package.json` is JSON but lacks what the npm layout requires.
    #[error("invalid package.json in {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// A file that should hold JSON does not.
    #[error("{path}: entry {entry} is not JSON: {message}")]
    Json {
        path: PathBuf,
        entry: String,
        message: String,
    },
    /// A JSON file in `package/` is not a FHIR resource (no `resourceType`
    /// or no `id`), so it cannot be indexed.
    #[error("{path}: entry {entry} is not a FHIR resource: {message}")]
    NotAResource {
        path: PathBuf,
        entry: String,
        message: String,
    },
    /// `.index.json` is malformed or names a file the package lacks.
    #[error("{path}: bad .index.json entry {entry}: {message}")]
    Index {
        path: PathBuf,
        entry: String,
        message: String,
    },
    /// The package built into the binary cannot be read (a build that
    /// embedded a broken artifact; see `crate::builtin`).
    #[error("the built-in package {label} cannot be read: {message}")]
    Builtin { label: String, message: String },
    /// The package `id#version` is not in the package cache.
    #[error("package {id}#{version} is not in the package cache {root}")]
    NotInCache {
        id: String,
        version: String,
        root: PathBuf,
    },
    /// The value set is not in the loaded packages.
    #[error("value set {url} not available")]
    ValueSetUnknown { url: String },
    /// The value set has no `compose` (only an expansion, or nothing).
    #[error("value set {url} has no compose to check against")]
    ValueSetNoCompose { url: String },
    /// The value set excludes codes, which needs a terminology server.
    #[error("value set {url} has excludes")]
    ValueSetExcludes { url: String },
    /// The value set selects codes by filter or imports other value sets.
    #[error("value set {url} uses filters or other value sets")]
    ValueSetNotEnumerated { url: String },
    /// An include of the value set names no code system.
    #[error("value set {url} has an include without system")]
    IncludeWithoutSystem { url: String },
    /// A code system the value set includes whole is not loaded.
    #[error("code system {system} not available")]
    CodeSystemUnknown { system: String },
    /// A code system the value set includes whole is loaded without all
    /// its concepts (`content` other than `complete`).
    #[error("code system {system} is not complete here")]
    CodeSystemIncomplete { system: String },
    /// A code system too large to list for a binding check.
    #[error("code system {system} is too large to check here")]
    CodeSystemTooLarge { system: String },
}

fn entry_suffix(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" (entry {e})"),
        None => String::new(),
    }
}
