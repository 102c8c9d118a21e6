//! The two CSV layouts of a hospital code master.
//!
//! The file is UTF-8 (a leading byte-order mark, which Excel writes, is
//! skipped) with a header row naming the columns; names are matched
//! without regard to case or surrounding spaces, in any order:
//!
//! - lab: `local_code,name,unit,specimen,jlac10,jlac11,loinc`
//! - drug: `local_code,name,hot9,hot13,yj,receipt`
//!
//! `local_code` and `name` are required (column and value); the others
//! may be missing or empty. An unknown column is refused rather than
//! ignored, so a misspelt `loinc` never silently loses every mapping.
//! Every error names the line (1 is the header) and the column.

use std::collections::HashMap;

use super::Kind;
use crate::Error;

/// One concept of the master: its columns by (lower-case) name, empty
/// cells left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line it was read from (1 is the header).
    pub line: u64,
    /// `local_code`.
    pub code: String,
    /// `name`.
    pub name: String,
    /// The other non-empty cells, by column name.
    pub cells: HashMap<&'static str, String>,
}

impl Row {
    /// A non-empty cell.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.cells.get(column).map(String::as_str)
    }
}

fn csv_error(line: u64, column: Option<&str>, message: impl Into<String>) -> Error {
    Error::Csv {
        line,
        column: column.map(str::to_owned),
        message: message.into(),
    }
}

/// Reads a master of `kind`. Duplicate local codes are refused (a code
/// identifies one concept, codesystem.html csd-1), naming both lines.
pub fn parse(kind: Kind, bytes: &[u8]) -> Result<Vec<Row>, Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader.byte_headers().map_err(|e| from_csv(e, 1))?.clone();
    let known = kind.columns();
    let mut positions: Vec<(usize, &'static str)> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = std::str::from_utf8(name)
            .map_err(|_| csv_error(1, None, format!("column {} is not UTF-8", i + 1)))?
            .trim()
            .to_ascii_lowercase();
        let Some(&column) = known.iter().find(|k| **k == name) else {
            return Err(csv_error(
                1,
                Some(&name),
                format!(
                    "unknown column {name:?}; a {} master has {}",
                    kind_name(kind),
                    known.join(",")
                ),
            ));
        };
        if positions.iter().any(|(_, c)| *c == column) {
            return Err(csv_error(1, Some(column), "the column appears twice"));
        }
        positions.push((i, column));
    }
    for required in ["local_code", "name"] {
        if !positions.iter().any(|(_, c)| *c == required) {
            return Err(csv_error(
                1,
                Some(required),
                format!("the header has no {required} column"),
            ));
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    // Lines are counted from the bytes: the csv crate skips blank lines
    // without counting them, which would make errors point too high.
    let mut lines = LineCounter {
        bytes,
        at: 0,
        line: 1,
    };
    for record in reader.byte_records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
            from_csv(e, line)
        })?;
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let mut cells = HashMap::new();
        for &(i, column) in &positions {
            let raw = record.get(i).unwrap_or_default();
            let text = std::str::from_utf8(raw)
                .map_err(|_| csv_error(line, Some(column), "the cell is not UTF-8"))?
                .trim();
            if !text.is_empty() {
                let is_code =
                    column == "local_code" || kind.targets().iter().any(|t| t.column == column);
                if is_code && text.chars().any(char::is_whitespace) {
                    return Err(csv_error(
                        line,
                        Some(column),
                        format!("{text:?} is not a code: codes have no spaces"),
                    ));
                }
                cells.insert(column, text.to_owned());
            }
        }
        let code = cells
            .remove("local_code")
            .ok_or_else(|| csv_error(line, Some("local_code"), "the local code is empty"))?;
        let name = cells
            .remove("name")
            .ok_or_else(|| csv_error(line, Some("name"), "the name is empty"))?;
        if let Some(first) = seen.insert(code.clone(), line) {
            return Err(csv_error(
                line,
                Some("local_code"),
                format!("the local code {code:?} is already on line {first}"),
            ));
        }
        rows.push(Row {
            line,
            code,
            name,
            cells,
        });
    }
    Ok(rows)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Lab => "lab",
        Kind::Drug => "drug",
    }
}

/// Line numbers of byte offsets, for offsets that only grow.
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl LineCounter<'_> {
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut to = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // A record's position may be that of the blank lines before it.
        while matches!(self.bytes.get(to), Some(b'\r' | b'\n')) {
            to += 1;
        }
        if to > self.at {
            self.line += self.bytes[self.at..to]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.at = to;
        }
        self.line
    }
}

/// A csv crate error at `line`.
fn from_csv(e: csv::Error, line: u64) -> Error {
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} cells where the header has {expected_len}"),
        _ => e.to_string(),
    };
    csv_error(line, None, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: Kind, text: &str) -> String {
        match parse(kind, text.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(rows) => panic!("accepted: {rows:?}"),
        }
    }

    #[test]
    fn reads_a_lab_master_with_bom_quotes_and_any_column_order() {
        let text = "\u{feff}Local_Code, name ,loinc,unit,specimen,jlac10\n\
                    L0001,\"Glucose, fasting\",2345-7,mg/dL,whole blood,3D010000001926101\n\
                    \n\
                    L0002,Free text only,,,,\n";
        let rows = parse(Kind::Lab, text.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].code, "L0001");
        assert_eq!(rows[0].name, "Glucose, fasting");
        assert_eq!(rows[0].get("loinc"), Some("2345-7"));
        assert_eq!(rows[0].get("jlac10"), Some("3D010000001926101"));
        assert_eq!(rows[0].get("unit"), Some("mg/dL"));
        assert_eq!(rows[0].get("specimen"), Some("whole blood"));
        assert_eq!(rows[0].line, 2);
        assert!(rows[1].cells.is_empty());
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        assert_eq!(
            err(Kind::Lab, "local_code,name,lonic\n"),
            "CSV line 1, column lonic: unknown column \"lonic\"; a lab master has \
             local_code,name,unit,specimen,jlac10,jlac11,loinc"
        );
        assert!(err(Kind::Drug, "name,hot9\n").contains("column local_code"));
        assert_eq!(
            err(Kind::Drug, "local_code,name,hot9\nD1,a,123456789\nD1,b,\n"),
            "CSV line 3, column local_code: the local code \"D1\" is already on line 2"
        );
        assert_eq!(
            err(Kind::Drug, "local_code,name,hot9\nD1,,1\n"),
            "CSV line 2, column name: the name is empty"
        );
        assert_eq!(
            err(Kind::Drug, "local_code,name,hot9\nD1,a,12 34\n"),
            "CSV line 2, column hot9: \"12 34\" is not a code: codes have no spaces"
        );
        assert!(err(Kind::Drug, "local_code,name,hot9\nD1,a\n").contains("line 2"));
        let latin1 = parse(Kind::Drug, b"local_code,name\nD1,\xff\n").map_err(|e| e.to_string());
        assert_eq!(
            latin1,
            Err("CSV line 2, column name: the cell is not UTF-8".to_owned())
        );
    }
}
