//! The R4 core CodeSystems, ValueSets and ConceptMaps (the package built
//! into the binary, `profiles::builtin`) as the registry every server
//! registry sits over, so `ValueSet/$expand?url=…/administrative-gender`
//! and `:in` searches on core value sets answer on a fresh server with no
//! `--package`.
//!
//! Indexed once per process, on the first terminology request, and shared
//! by every rebuild of the stored registry: a write of a stored
//! CodeSystem re-reads the stored ones only.
//!
//! Precedence (see [`super::TerminologyService`]): stored resources
//! (`--package` ones included), then the service's seeds, then these. A
//! stored resource with the same url wins over the core one when no
//! version is asked for, and over the core one of the same version.

use std::sync::{Arc, OnceLock};

use terminology::Registry;

/// The core registry, indexed on first use. A core that cannot be read
/// (a broken build) is logged and leaves an empty registry: the stored
/// resources still answer.
pub fn registry() -> Arc<Registry> {
    static CORE: OnceLock<Arc<Registry>> = OnceLock::new();
    CORE.get_or_init(|| Arc::new(build())).clone()
}

fn build() -> Registry {
    let started = std::time::Instant::now();
    let mut registry = Registry::new();
    let core = match profiles::builtin::r4_core() {
        Ok(core) => core,
        Err(e) => {
            log::error!("the built-in R4 core terminology is unavailable: {e}");
            return registry;
        }
    };
    let mut left_out = 0;
    for r in core.resources() {
        if let Err(e) = super::insert_resource(&mut registry, &r.resource_type, r.bytes()) {
            left_out += 1;
            log::debug!(
                "core {} {} left out of terminology: {e}",
                r.resource_type,
                r.id
            );
        }
    }
    log::info!(
        "R4 core terminology indexed: {} code systems, {} left out, in {:?}",
        registry.len(),
        left_out,
        started.elapsed()
    );
    registry
}
