//! What FHIRPath needs to know about the R4 types: for every resource,
//! data type and backbone element, its base type and its elements with
//! their type codes. The tables are generated (`generated/type_table.rs`); this
//! file holds their shape and the lookup.
//!
//! Backbone elements are named as the generator names their structs
//! (`PatientContact`); their FHIRPath type is `BackboneElement` (or
//! `Element` inside data types such as `Timing.repeat`).

/// What sort of type a [`TypeInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resource,
    DataType,
    /// An element with children declared inside another type.
    Backbone,
}

/// One element of a type.
#[derive(Debug, Clone, Copy)]
pub struct ElementInfo {
    /// The JSON name; for a choice, without the type suffix (`value`).
    pub name: &'static str,
    /// Type codes (`string`, `HumanName`, `PatientContact`, `Resource`);
    /// several for a choice.
    pub types: &'static [&'static str],
    pub choice: bool,
    /// Whether the element repeats (max is not 1).
    pub many: bool,
    /// `isSummary` in the definition: part of `_summary=true`.
    pub summary: bool,
    /// `min > 0`: kept in every subset (search.html#summary, #elements).
    pub required: bool,
}

/// One resource, data type or backbone element.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    pub name: &'static str,
    /// The type it specializes (`DomainResource`, `Quantity`,
    /// `BackboneElement`, …).
    pub base: &'static str,
    pub kind: Kind,
    pub elements: &'static [ElementInfo],
}

impl TypeInfo {
    /// The element with this name (a choice by its name without suffix).
    pub fn element(&self, name: &str) -> Option<&'static ElementInfo> {
        self.elements.iter().find(|e| e.name == name)
    }

    /// The element a JSON property or XML element name stands for, with
    /// its position and the type the name gives it: `birthDate` is
    /// `birthDate` (a `date`), `valueQuantity` is `value[x]` as a
    /// `Quantity`. A primitive's `_name` is for the caller to strip.
    pub fn element_named(&self, name: &str) -> Option<(usize, &'static ElementInfo, &'static str)> {
        let elements: &'static [ElementInfo] = self.elements;
        elements.iter().enumerate().find_map(|(i, e)| {
            let t = if e.choice {
                let rest = name.strip_prefix(e.name)?;
                e.types.iter().find(|t| is_type_suffix(rest, t))?
            } else if e.name == name {
                e.types.first()?
            } else {
                return None;
            };
            Some((i, e, *t))
        })
    }
}

/// Whether `rest` is `type_code` with its first letter upper-cased: the
/// suffix a choice element's name carries (`Quantity`, `DateTime`).
fn is_type_suffix(rest: &str, type_code: &str) -> bool {
    let (Some(r), Some(t)) = (rest.chars().next(), type_code.chars().next()) else {
        return false;
    };
    r == t.to_ascii_uppercase() && rest[r.len_utf8()..] == type_code[t.len_utf8()..]
}

/// The type with this name (`Patient`, `HumanName`, `PatientContact`).
pub fn type_info(name: &str) -> Option<&'static TypeInfo> {
    let types = crate::generated::type_table::TYPES;
    types
        .binary_search_by(|t| t.name.cmp(name))
        .ok()
        .and_then(|i| types.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_types_and_choices() {
        let p = type_info("Patient").expect("Patient");
        assert_eq!(p.base, "DomainResource");
        let d = p.element("deceased").expect("deceased");
        assert!(d.choice);
        assert_eq!(d.types, &["boolean", "dateTime"]);
        assert!(type_info("PatientContact").is_some());
        assert_eq!(type_info("Age").map(|t| t.base), Some("Quantity"));
    }
}
