//! The FHIR type at an element definition path, through the generated
//! type tables. One answer for every rule that asks (slicing
//! discriminators, extension contexts): a choice of several types has no
//! single type, so a path through one has none.

use fhir_model::meta;

/// The type at a definition path (`Patient.contact` is `PatientContact`,
/// `AuditEvent.agent.extension` is `Extension`); `None` for an unknown
/// path or one through a choice of several types (`Observation.value[x]`).
pub fn path_type(path: &str) -> Option<&'static str> {
    let mut parts = path.split('.');
    let mut ty: &'static str = meta::type_info(parts.next()?)?.name;
    for part in parts {
        let e = meta::type_info(ty)?.element(part.trim_end_matches("[x]"))?;
        match e.types {
            [one] => ty = one,
            _ => return None,
        }
    }
    Some(ty)
}

#[cfg(test)]
mod tests {
    use super::path_type;

    #[test]
    fn types_at_paths_and_none_through_a_choice() {
        assert_eq!(path_type("Patient.contact"), Some("PatientContact"));
        assert_eq!(path_type("AuditEvent.agent.extension"), Some("Extension"));
        assert_eq!(path_type("Observation.value[x]"), None);
        assert_eq!(path_type("Patient.nothing"), None);
    }
}
