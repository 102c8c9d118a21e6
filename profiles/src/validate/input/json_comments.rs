//! JSON with comments (`//` to end of line, `/* … */`), which some
//! authoring tools write and the HL7 validator accepts when asked
//! (`allow-comments`). Comments are blanked to spaces, newlines kept, so
//! every other byte keeps its offset and issues keep their line and
//! column.

use std::borrow::Cow;

/// `bytes` with comments outside strings replaced by spaces; borrowed
/// when there are none.
pub fn blank(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'/') {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    let mut changed = false;
    let mut i = 0;
    let mut in_string = false;
    while i < out.len() {
        let c = out[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (c, out.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < out.len() && out[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                changed = true;
            }
            (b'/', Some(b'*')) => {
                let end = out[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(out.len(), |p| i + 2 + p + 2);
                for b in &mut out[i..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = end;
                changed = true;
            }
            _ => i += 1,
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_become_spaces_and_strings_are_kept() {
        let text = b"{\n  // note\n  \"a\": \"x//y /* z */\", /* c\n d */ \"b\": 1\n}";
        let out = blank(text);
        assert_eq!(out.len(), text.len());
        let s = std::str::from_utf8(&out).expect("utf8");
        assert!(!s.contains("note") && !s.contains(" c") && s.contains("\"x//y /* z */\""));
        assert_eq!(s.matches('\n').count(), 4);
        let v = fhir_model::json::tree::parse(&out).expect("JSON after blanking");
        assert!(matches!(v, fhir_model::json::tree::Value::Object(_)));
    }

    #[test]
    fn plain_json_is_borrowed() {
        assert!(matches!(blank(b"{\"a\":\"b/c\"}"), Cow::Borrowed(_)));
        assert!(matches!(blank(b"{\"a\":1}"), Cow::Borrowed(_)));
    }
}
