//! JSON with comments (`//` to the end of the line, `/* … */`), which some
//! authoring tools write and the HL7 validator accepts when asked to
//! (`allow-comments`). FHIR JSON has no comments (json.html), so this is
//! only done with [`super::Options::allow_json_comments`]: the comments are
//! blanked out (line breaks kept, so positions stay right) before reading.

use std::borrow::Cow;

/// `bytes` with every comment outside strings replaced by spaces.
pub fn blank(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.windows(2).any(|w| w == b"//" || w == b"/*") {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    let mut i = 0;
    let mut in_string = false;
    while i < out.len() {
        let b = out[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (b, out.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < out.len() && out[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let mut j = i;
                while j < out.len() && !(out[j] == b'*' && out.get(j + 1) == Some(&b'/') && j > i) {
                    j += 1;
                }
                let end = (j + 2).min(out.len());
                for c in &mut out[i..end] {
                    if *c != b'\n' {
                        *c = b' ';
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_comments_outside_strings() {
        let src = b"// head\n{\"a\" : \"x//y /* z */\", /* c */ \"b\" : 1 // tail\n}";
        let out = blank(src);
        assert_eq!(out.len(), src.len());
        let v = fhir_model::json::tree::parse(&out).expect("JSON after blanking");
        assert_eq!(super::super::str_field(&v, "a"), Some("x//y /* z */"));
        assert!(matches!(blank(b"{\"a\":1}"), Cow::Borrowed(_)));
    }
}
