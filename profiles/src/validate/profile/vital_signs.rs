//! The vital signs profiles the FHIR specification makes mandatory
//! (observation-vitalsigns.html: "if a resource is conformant to one of
//! the vital signs codes ... it SHALL conform to the profile"): an
//! Observation whose code holds one of the vital signs LOINC codes, or a
//! SNOMED CT code for the same measurement, is validated against the
//! matching core profile (`bodytemp` for 8310-5 or SNOMED CT 386725007),
//! as the HL7 validator does.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, resource_type, str_field};

const BASE: &str = "http://hl7.org/fhir/StructureDefinition/";

/// (LOINC codes, SNOMED CT codes, profile id).
const TABLE: &[(&[&str], &[&str], &str)] = &[
    (&["85353-1"], &[], "vitalspanel"),
    (&["9279-1"], &["86290005"], "resprate"),
    (&["8867-4"], &["364075005"], "heartrate"),
    (&["2708-6", "59408-5"], &["103228002"], "oxygensat"),
    (&["8310-5"], &["386725007", "276885007"], "bodytemp"),
    (&["8302-2"], &["50373000"], "bodyheight"),
    (&["9843-4"], &["363812007"], "headcircum"),
    (&["29463-7"], &["27113001"], "bodyweight"),
    (&["39156-5"], &["60621009"], "bmi"),
    (&["85354-9"], &["75367002"], "bp"),
];

/// The vital signs profiles an Observation must conform to.
pub(crate) fn profiles_for(resource: &Json) -> Vec<String> {
    if resource_type(resource) != Some("Observation") {
        return Vec::new();
    }
    let Some(Json::Array(codings)) = field(resource, "code").and_then(|c| field(c, "coding"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in codings {
        let (Some(system), Some(code)) = (str_field(c, "system"), str_field(c, "code")) else {
            continue;
        };
        for (loinc, sct, id) in TABLE {
            let hit = match system {
                "http://loinc.org" => loinc.contains(&code),
                "http://snomed.info/sct" => sct.contains(&code),
                _ => false,
            };
            let url = format!("{BASE}{id}");
            if hit && !out.contains(&url) {
                out.push(url);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    #[test]
    fn vital_signs_codes_name_their_profile() {
        let obs = |system: &str, code: &str| {
            tree::parse(
                format!(
                    r#"{{"resourceType":"Observation","code":{{"coding":[{{"system":"{system}","code":"{code}"}}]}}}}"#
                )
                .as_bytes(),
            )
            .expect("json")
        };
        assert_eq!(
            profiles_for(&obs("http://snomed.info/sct", "276885007")),
            vec![format!("{BASE}bodytemp")]
        );
        assert_eq!(
            profiles_for(&obs("http://loinc.org", "29463-7")),
            vec![format!("{BASE}bodyweight")]
        );
        assert!(profiles_for(&obs("http://loinc.org", "1234-5")).is_empty());
    }
}
