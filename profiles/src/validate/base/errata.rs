//! Corrections of core invariants published wrong in R4 4.0.1, applied
//! where the published text is used unchanged (as the HL7 validator
//! does):
//!
//! - `que-12` says "more than one enableWhen" but tests `count() > 2`
//!   (corrected to `> 1` in R4B).
//!
//! (`txt-2`, published as the same `htmlChecks()` as `txt-1`, is checked
//! as content by [`crate::validate::datatypes::xhtml::txt2`].)

/// The expression to evaluate for core constraint `key` published as
/// `expression`.
pub(crate) fn corrected<'a>(key: &str, expression: &'a str) -> &'a str {
    match (key, expression) {
        ("que-12", "enableWhen.count() > 2 implies enableBehavior.exists()") => {
            "enableWhen.count() > 1 implies enableBehavior.exists()"
        }
        _ => expression,
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::base_errors as errors;

    #[test]
    fn two_enable_whens_need_an_enable_behavior() {
        let q = |behavior: &str| {
            format!(
                r#"{{"resourceType":"Questionnaire","status":"draft","item":[
                {{"linkId":"1","type":"boolean"}},{{"linkId":"2","type":"boolean"}},
                {{"linkId":"3","type":"string"{behavior},"enableWhen":[
                  {{"question":"1","operator":"=","answerBoolean":true}},
                  {{"question":"2","operator":"=","answerBoolean":true}}]}}]}}"#
            )
        };
        let e = errors(&q(""));
        assert!(
            e.iter()
                .any(|m| m.starts_with("Questionnaire.item[2]:") && m.contains("que-12")),
            "{e:?}"
        );
        assert!(errors(&q(r#","enableBehavior":"all""#)).is_empty());
    }

    #[test]
    fn a_narrative_has_content() {
        let list = |div: &str| {
            format!(
                r#"{{"resourceType":"List","status":"current","mode":"changes",
                "text":{{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">{div}</div>"}}}}"#
            )
        };
        let e = errors(&list("<p> </p>"));
        assert!(
            e.iter()
                .any(|m| m.starts_with("List.text.div:") && m.contains("txt-2")),
            "{e:?}"
        );
        assert!(errors(&list("<p>x</p>")).is_empty());
        assert!(errors(&list("<img src=\\\"a.png\\\"/>")).is_empty());
    }
}
