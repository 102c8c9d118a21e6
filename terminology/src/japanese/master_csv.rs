//! Reading the publishers' CSV masters for [`super::master`]: the text
//! encoding (UTF-8 or Shift_JIS), and columns found by header name (or by
//! position for files shipped without a header row).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::Error;

/// UTF-8 when the bytes are UTF-8 (a BOM is dropped), else Shift_JIS.
/// Shift_JIS text is almost never valid UTF-8, so trying UTF-8 first
/// does not misread it.
pub(super) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(s));
    }
    let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
    if had_errors {
        return Err(Error::Csv {
            line: 1,
            column: None,
            message: "the file is neither UTF-8 nor Shift_JIS".to_owned(),
        });
    }
    Ok(text)
}

/// Header names compare with full-width ASCII folded to half-width and
/// white space dropped.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect::<String>()
        .to_uppercase()
}

/// A column a loader reads: its field name, the header names it goes by
/// (most specific first), and its position (0-based) in the publisher's
/// file without a header, if that file has none.
pub(super) struct Col {
    field: &'static str,
    headers: &'static [&'static str],
    position: Option<usize>,
}

pub(super) const fn col(
    field: &'static str,
    headers: &'static [&'static str],
    position: Option<usize>,
) -> Col {
    Col {
        field,
        headers,
        position,
    }
}

/// The rows of a master with its columns resolved.
pub(super) struct Table {
    pub(super) rows: Vec<(u64, csv::StringRecord)>,
    pub(super) columns: HashMap<&'static str, usize>,
}

impl Table {
    /// Reads `text` with `cols`; `key` names the field whose header marks
    /// the header row (or several fields, all of which must be named),
    /// and `positional` tells whether a first row holding a valid key is
    /// read by position.
    pub(super) fn read(
        text: &str,
        cols: &[Col],
        keys: &[&str],
        positional: Option<&dyn Fn(&csv::StringRecord) -> bool>,
    ) -> Result<Table, Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for r in reader.records() {
            let r = r.map_err(|e| Error::Csv {
                line: e.position().map_or(0, |p| p.line()),
                column: None,
                message: e.to_string(),
            })?;
            if r.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let line = r.position().map_or(0, |p| p.line());
            rows.push((line, r));
        }
        let Some((_, first)) = rows.first() else {
            return Err(Error::Csv {
                line: 1,
                column: None,
                message: "the file has no rows".to_owned(),
            });
        };
        let headers: Vec<String> = first.iter().map(normalize).collect();
        let columns = resolve(&headers, cols);
        if keys.iter().all(|k| columns.contains_key(k)) {
            rows.remove(0);
            return Ok(Table { rows, columns });
        }
        if let Some(is_data) = positional {
            if is_data(first) {
                let columns = cols
                    .iter()
                    .filter_map(|c| c.position.map(|p| (c.field, p)))
                    .collect();
                return Ok(Table { rows, columns });
            }
        }
        let names: Vec<&str> = cols
            .iter()
            .filter(|c| keys.contains(&c.field))
            .flat_map(|c| c.headers.iter().copied())
            .collect();
        Err(Error::Csv {
            line: 1,
            column: None,
            message: format!(
                "the first row is neither a header naming the code column(s) ({}) nor a data row of the publisher's layout",
                names.join(", ")
            ),
        })
    }

    /// A field of a row: trimmed, `None` when absent or empty.
    pub(super) fn get<'r>(&self, row: &'r csv::StringRecord, field: &str) -> Option<&'r str> {
        let i = *self.columns.get(field)?;
        row.get(i).map(str::trim).filter(|s| !s.is_empty())
    }
}

/// Finds each column: first by an exact header name, then by a header
/// that starts with one of its names, never giving one column twice.
fn resolve(headers: &[String], cols: &[Col]) -> HashMap<&'static str, usize> {
    let mut found: HashMap<&'static str, usize> = HashMap::new();
    let mut taken = vec![false; headers.len()];
    for exact in [true, false] {
        for c in cols {
            if found.contains_key(c.field) {
                continue;
            }
            let names: Vec<String> = c.headers.iter().map(|h| normalize(h)).collect();
            let hit = headers.iter().enumerate().position(|(i, h)| {
                !taken[i]
                    && names.iter().any(|n| {
                        if exact {
                            h == n
                        } else {
                            h.starts_with(n.as_str())
                        }
                    })
            });
            if let Some(i) = hit {
                taken[i] = true;
                found.insert(c.field, i);
            }
        }
    }
    found
}
