//! Small helpers about FHIR names.

/// `dateTime` → `DateTime`: the suffix of a choice element's JSON name.
pub fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
