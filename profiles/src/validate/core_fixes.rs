//! Corrections to base invariants whose published R4 expression does not
//! say what their own human text (and the later FHIR versions) say. The
//! HL7 validator checks the corrected rule; so does this engine.
//!
//! - `que-12` ("If there are more than one enableWhen, enableBehavior must
//!   be specified"): R4 publishes `enableWhen.count() > 2`, which lets two
//!   conditions through without a behaviour; R4B and R5 count from two.

/// (key, published R4 expression, corrected expression).
const FIXES: &[(&str, &str, &str)] = &[(
    "que-12",
    "enableWhen.count() > 2 implies enableBehavior.exists()",
    "enableWhen.count() > 1 implies enableBehavior.exists()",
)];

/// The expression to evaluate for a base constraint: the corrected one
/// when this key and published expression have a correction.
pub fn corrected<'a>(key: &str, expression: &'a str) -> &'a str {
    FIXES
        .iter()
        .find(|(k, published, _)| *k == key && *published == expression)
        .map_or(expression, |(_, _, fixed)| fixed)
}

#[cfg(test)]
mod tests {
    use super::corrected;

    #[test]
    fn que_12_counts_from_two() {
        assert_eq!(
            corrected(
                "que-12",
                "enableWhen.count() > 2 implies enableBehavior.exists()"
            ),
            "enableWhen.count() > 1 implies enableBehavior.exists()"
        );
        assert_eq!(corrected("pat-1", "x.exists()"), "x.exists()");
    }
}
