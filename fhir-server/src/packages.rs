//! `serve --package PATH`: the conformance resources of FHIR packages
//! (StructureDefinition, ValueSet, CodeSystem, …) become resources of this
//! server, readable like any other (issue #8: "Conformance resources of
//! loaded packages … are readable and searchable through the REST API").
//!
//! They are stored, not served from memory beside the store, so that one
//! read path, one history and (with search) one index cover them. A
//! resource already in the database under the same type and id is left
//! alone, deleted ones included: a client's change survives a restart.

use std::path::PathBuf;

use anyhow::Context;
use fhir_model::json::tree::{self, Value};
use fhir_model::{Resource, ResourceType};
use profiles::{Package, PackageCache, PackageSet, CONFORMANCE_TYPES};

use crate::store::{ClusterLock, Store, StoreError, TxWrite};

/// Loads the packages and stores their conformance resources that the
/// database does not have yet; returns the loaded set (with the built-in
/// R4 core and the dependencies found in the package cache), which
/// `$validate` uses.
///
/// The built-in core is not stored: the validator reads it from memory
/// and the terminology service indexes it beneath the stored resources
/// (`operation::terminology`), so a fresh database stays empty and a
/// start pays nothing for it. A core `.tgz` named by `--package` is
/// stored as any package is, and replaces the built-in one.
pub fn install(store: &Store, paths: &[PathBuf]) -> anyhow::Result<PackageSet> {
    let set = load(paths)?;
    // Nodes started together with the same packages: one stores them, the
    // others wait and then find them stored (the check below is a read
    // before the write, so without the lock both would write).
    let _held = match paths.is_empty() {
        true => None,
        false => Some(
            store
                .hold(ClusterLock::Schema)
                .context("cannot take the lock for storing packages")?,
        ),
    };
    store_conformance(store, &set)?;
    Ok(set)
}

/// Loads packages (`.tgz` or folders), then the built-in R4 core (unless
/// one of them is the core package) and the dependencies the package
/// cache has; logs a warning for each missing dependency.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<PackageSet> {
    let mut set = PackageSet::new();
    for path in paths {
        let package = if path.is_dir() {
            Package::from_dir(path)
        } else {
            Package::from_tgz(path)
        }
        .with_context(|| format!("cannot load package {}", path.display()))?;
        log::info!(
            "package {} from {}",
            package.manifest().label(),
            path.display()
        );
        set.add(package);
    }
    if set
        .add_builtin_core()
        .context("cannot read the built-in R4 core definitions")?
    {
        log::info!("package hl7.fhir.r4.core#4.0.1 built in");
    }
    let cache = PackageCache::user_default();
    for warning in set
        .resolve_dependencies(cache.as_ref())
        .context("cannot load a dependency")?
    {
        log::warn!("{warning}");
    }
    Ok(set)
}

/// Stores the conformance resources of `set` that the database lacks;
/// returns how many were stored.
fn store_conformance(store: &Store, set: &PackageSet) -> anyhow::Result<usize> {
    let packages: Vec<_> = set
        .packages()
        .iter()
        .filter(|p| !profiles::builtin::is_builtin(p))
        .collect();
    if packages.is_empty() {
        return Ok(0);
    }
    let mut stored = 0;
    let mut writes = Vec::new();
    for package in &packages {
        for r in package.resources() {
            if !CONFORMANCE_TYPES.contains(&r.resource_type.as_str()) {
                continue;
            }
            let resource = match parse_lenient(r.bytes()) {
                Ok(res) => res,
                Err(e) => {
                    log::warn!("{} {}: not stored: {e}", package.manifest().label(), r.file);
                    continue;
                }
            };
            let (Some(rt), Some(id)) = (
                ResourceType::parse(&r.resource_type),
                resource.id().cloned(),
            ) else {
                continue;
            };
            match store.read(rt, &id) {
                Err(StoreError::NotFound(_)) => writes.push(TxWrite::Update(resource, None)),
                Ok(_) | Err(StoreError::Gone { .. }) => {}
                Err(e) => return Err(e).context("cannot read the database"),
            }
            if writes.len() >= 500 {
                stored += flush(store, &mut writes)?;
            }
        }
    }
    stored += flush(store, &mut writes)?;
    log::info!(
        "stored {stored} conformance resources from {} package(s)",
        packages.len()
    );
    Ok(stored)
}

/// Reads a package resource, dropping empty strings first. FHIR forbids
/// them (a string has content or is absent), but published packages carry
/// some (JP Core 1.1.2 has `"comment": ""` in 13 profiles); an empty string
/// says nothing, so dropping it loses nothing and keeps the profile.
/// One that breaks the write rules every write must meet (the R4 core
/// package's R4B `StructureDefinition/SubscriptionStatus` says
/// `fhirVersion` 4.3.0) is not stored, with a warning, rather than refusing
/// the whole package.
fn parse_lenient(bytes: &[u8]) -> Result<Resource, String> {
    let mut json = tree::parse(bytes).map_err(|e| e.to_string())?;
    drop_empty_strings(&mut json);
    if let Some(i) = profiles::write_rules::check(&json).first() {
        return Err(i.to_string());
    }
    Resource::from_json_slice(&tree::to_json(&json)).map_err(|e| e.to_string())
}

fn drop_empty_strings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|(_, v)| !matches!(v, Value::String(s) if s.is_empty()));
            map.iter_mut().for_each(|(_, v)| drop_empty_strings(v));
            map.retain(|(_, v)| !matches!(v, Value::Object(m) if m.is_empty()));
        }
        Value::Array(items) => {
            items.retain(|v| !matches!(v, Value::String(s) if s.is_empty()));
            items.iter_mut().for_each(drop_empty_strings);
        }
        _ => {}
    }
}

fn flush(store: &Store, writes: &mut Vec<TxWrite>) -> anyhow::Result<usize> {
    let n = writes.len();
    if n > 0 {
        store
            .transaction(writes)
            .map_err(|(_, e)| anyhow::anyhow!("cannot store package resources: {e}"))?;
        writes.clear();
    }
    Ok(n)
}
