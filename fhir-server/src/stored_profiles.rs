//! The validator the server uses (`$validate`, profile enforcement on
//! write): the packages of `serve --package` and the built-in R4 core,
//! plus the conformance resources stored in the database.
//!
//! Stored ones count because several servers share one database: a node
//! started without `--package` must know JP_Patient when another node
//! stored JP Core, and a StructureDefinition PUT through any node is a
//! profile every node validates against. They are put in a package of
//! their own behind the loaded ones (a package loaded from disk wins on
//! the same url, as the first added does in a [`PackageSet`]).
//!
//! The validator is rebuilt lazily, on the first use after the
//! Conformance or Terminology stamp of the definition change feed moved
//! (`store/definitions.rs`): within a second of a change committed on any
//! node, and at once on the node that made it. A rebuild reads the stored
//! conformance resources and starts with an empty cache of compiled
//! profiles; definition writes are rare, validations are not, so the cost
//! lands where it is rare.

use std::sync::{Arc, Mutex, RwLock};

use profiles::{Fetcher, Package, PackageSet, Validator};

use crate::error::Error;
use crate::store::{DefinitionKind, Store};

/// The stored resource types the validator reads: profiles and extension
/// definitions, and the value sets and code systems their bindings name.
const STORED_TYPES: [&str; 3] = ["StructureDefinition", "ValueSet", "CodeSystem"];

/// The definition stamps a validator was built at: (Conformance,
/// Terminology).
type Key = (i64, i64);

/// The server's validator, following the stored definitions.
pub struct Profiles {
    /// The packages loaded at start (with the built-in core).
    packages: Arc<PackageSet>,
    fetcher: Option<Fetcher>,
    /// `None`: a fixed validator (tests), never rebuilt.
    store: Option<Store>,
    current: RwLock<(Option<Key>, Arc<Validator>)>,
    /// One rebuild at a time; the others wait and take its result.
    rebuild: Mutex<()>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles").finish_non_exhaustive()
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles::fixed(Validator::default())
    }
}

impl Profiles {
    /// A validator that never changes (tests).
    pub fn fixed(validator: Validator) -> Profiles {
        Profiles {
            packages: Arc::new(PackageSet::new()),
            fetcher: None,
            store: None,
            current: RwLock::new((None, Arc::new(validator))),
            rebuild: Mutex::new(()),
        }
    }

    /// The validator over `packages` and what `store` holds; `fetcher`
    /// reads reference targets.
    pub fn new(packages: PackageSet, store: Store, fetcher: Fetcher) -> Profiles {
        let packages = Arc::new(packages);
        let first = Validator::new(packages.clone()).fetcher(fetcher.clone());
        Profiles {
            packages,
            fetcher: Some(fetcher),
            store: Some(store),
            current: RwLock::new((None, Arc::new(first))),
            rebuild: Mutex::new(()),
        }
    }

    /// The validator as of the definition stamps this process last saw
    /// (blocking: may read the store).
    pub fn validator(&self) -> Result<Arc<Validator>, Error> {
        let Some(store) = &self.store else {
            return Ok(self.read().1);
        };
        let seen = store.definitions().seen();
        let want = (
            seen.get(DefinitionKind::Conformance),
            seen.get(DefinitionKind::Terminology),
        );
        let (at, v) = self.read();
        if at == Some(want) {
            return Ok(v);
        }
        let _one = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        let (at, v) = self.read();
        if at == Some(want) {
            return Ok(v);
        }
        // Built from what is stored now, at least `want`; a change
        // committed meanwhile moves the stamps, and the next use rebuilds.
        let built = Arc::new(self.build(store)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (Some(want), built.clone());
        Ok(built)
    }

    fn read(&self) -> (Option<Key>, Arc<Validator>) {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        (c.0, c.1.clone())
    }

    /// The loaded packages, then the stored conformance resources they
    /// lack as one package.
    fn build(&self, store: &Store) -> Result<Validator, Error> {
        let mut files = Vec::new();
        for rt in STORED_TYPES {
            for (id, body) in store.current_bodies(rt)? {
                let url = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["url"].as_str().map(str::to_owned));
                if url.is_some_and(|u| self.packages.by_url(&u).is_some()) {
                    continue;
                }
                files.push((format!("{rt}-{id}.json"), body));
            }
        }
        let mut set = PackageSet::new();
        for p in self.packages.packages() {
            set.add_shared(p.clone());
        }
        let stored = files.len();
        if stored > 0 {
            match Package::from_resources("stored.definitions", "0.0.0", files) {
                Ok(p) => {
                    set.add(p);
                }
                Err(e) => log::warn!("stored conformance resources left out of validation: {e}"),
            }
        }
        log::info!("validator: loaded packages plus {stored} stored conformance resource(s)");
        let v = Validator::new(Arc::new(set));
        Ok(match &self.fetcher {
            Some(f) => v.fetcher(f.clone()),
            None => v,
        })
    }
}
