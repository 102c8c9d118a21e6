//! Where an issue's FHIRPath location (`Patient.contact[0].name.given[1]`)
//! is in the JSON text, as the HL7 validator's `operationoutcome-issue-line`
//! and `-col` extensions give it: the line and column (1-based, columns in
//! characters) of the property's name, or of the array item.
//!
//! The JSON tree keeps no positions (it is built for speed on the write
//! path), so the text is scanned again, only when an issue is reported:
//! each segment of the location finds its key in the current object (a
//! choice `value` also matches `valueQuantity`), an index its item.

/// (line, column) of `expression` in `json`, when it can be found.
pub fn locate(json: &[u8], expression: &str) -> Option<(usize, usize)> {
    let mut pos = skip_ws(json, 0);
    let segments = segments(expression);
    let mut at = pos;
    // The first segment is the resource type: the document itself.
    for (name, index) in segments.iter().skip(1) {
        if json.get(pos) != Some(&b'{') {
            return None;
        }
        let (key_at, value_at) = find_key(json, pos, name)?;
        at = key_at;
        pos = value_at;
        if let Some(i) = index {
            if json.get(pos) != Some(&b'[') {
                return None;
            }
            pos = nth_item(json, pos, *i)?;
            at = pos;
        }
    }
    Some(line_col(json, at))
}

/// `a.b[2].c[url='x']` → [(a, None), (b, Some(2)), (c, None)].
fn segments(expression: &str) -> Vec<(String, Option<usize>)> {
    let mut out = Vec::new();
    for part in expression.split('.') {
        let name = part.split('[').next().unwrap_or(part);
        let index = part
            .split('[')
            .nth(1)
            .and_then(|r| r.strip_suffix(']').or(Some(r)))
            .and_then(|r| r.trim_end_matches(']').parse().ok());
        out.push((name.to_owned(), index));
    }
    out
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (on its opening quote).
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(&c) = b.get(j) {
                match c {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// In the object at `obj` (on `{`), the key `name` (or a choice key
/// `nameType`): (position of the key, position of its value).
fn find_key(b: &[u8], obj: usize, name: &str) -> Option<(usize, usize)> {
    let mut i = skip_ws(b, obj + 1);
    let mut choice = None;
    while b.get(i) == Some(&b'"') {
        let end = skip_string(b, i)?;
        let key = std::str::from_utf8(&b[i + 1..end - 1]).ok()?;
        let colon = skip_ws(b, end);
        let value = skip_ws(b, colon + 1);
        if key == name {
            return Some((i, value));
        }
        if choice.is_none()
            && key
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        {
            choice = Some((i, value));
        }
        i = skip_ws(b, skip_value(b, value)?);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    choice
}

/// The position of item `n` of the array at `arr` (on `[`).
fn nth_item(b: &[u8], arr: usize, n: usize) -> Option<usize> {
    let mut i = skip_ws(b, arr + 1);
    for _ in 0..n {
        i = skip_ws(b, skip_value(b, i)?);
        if b.get(i) != Some(&b',') {
            return None;
        }
        i = skip_ws(b, i + 1);
    }
    (b.get(i) != Some(&b']')).then_some(i)
}

fn line_col(b: &[u8], at: usize) -> (usize, usize) {
    let before = &b[..at.min(b.len())];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "{\n  \"resourceType\": \"Patient\",\n  \"name\": [\n    {\"family\": \"A\"},\n    {\"given\": [\"x\", \"y\"]}\n  ],\n  \"deceasedBoolean\": false,\n  \"contact\": [{\"name\": {\"text\": \"ä\"}, \"gender\": \"x\"}]\n}";

    #[test]
    fn locations_map_to_lines_and_columns() {
        let b = DOC.as_bytes();
        assert_eq!(locate(b, "Patient"), Some((1, 1)));
        assert_eq!(locate(b, "Patient.name"), Some((3, 3)));
        assert_eq!(locate(b, "Patient.name[1]"), Some((5, 5)));
        assert_eq!(locate(b, "Patient.name[1].given[1]"), Some((5, 21)));
        assert_eq!(locate(b, "Patient.deceased"), Some((7, 3)));
        assert_eq!(locate(b, "Patient.contact[0].gender"), Some((8, 39)));
        assert_eq!(locate(b, "Patient.name[5]"), None);
        assert_eq!(locate(b, "Patient.telecom"), None);
    }
}
