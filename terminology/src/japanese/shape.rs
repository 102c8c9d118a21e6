//! The shape check shared by every Japanese code type: a code is a run of
//! fixed-length parts, each from one character set, and a failure names
//! the part, its position, its expected length and characters.

use std::fmt;

/// Which characters a part of a code may hold. Every Japanese standard
/// code here is ASCII: full-width digits (`１２３`), lower case and
/// separators are what a client typing or converting codes gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `0-9`.
    Digits,
    /// `0-9` and `A-Z`.
    UpperAlnum,
    /// `A-Z`.
    Upper,
    /// One fixed character, e.g. the leading `6` of receipt drug codes.
    Exactly(char),
    /// `0-9` and `A-Z` without `I` and `O` (the first character of a
    /// JLAC11 result-unit code, which avoids the letters read as 1 and 0).
    UnitLead,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        match self {
            Charset::Digits => c.is_ascii_digit(),
            Charset::UpperAlnum => c.is_ascii_digit() || c.is_ascii_uppercase(),
            Charset::Upper => c.is_ascii_uppercase(),
            Charset::Exactly(x) => c == x,
            Charset::UnitLead => {
                c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
            }
        }
    }

    /// How a message names the set.
    pub fn describe(self) -> String {
        match self {
            Charset::Digits => "digits 0-9".to_owned(),
            Charset::UpperAlnum => "digits 0-9 or upper-case letters A-Z".to_owned(),
            Charset::Upper => "upper-case letters A-Z".to_owned(),
            Charset::Exactly(c) => format!("'{c}'"),
            Charset::UnitLead => {
                "digits 0-9 or upper-case letters A-Z other than I and O".to_owned()
            }
        }
    }
}

/// One part of a code's layout: its name (as the lookup property calls
/// it), its length in characters, and the characters it allows (the same
/// for every position, or one set per position when they differ).
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// The part's name, e.g. `analyte`.
    pub name: &'static str,
    /// Its length in characters.
    pub len: usize,
    /// The allowed characters, one entry per position; a single entry
    /// applies to every position.
    pub charsets: &'static [Charset],
}

/// A [`Part`], briefly: the layouts are tables of these.
pub const fn part(name: &'static str, len: usize, charsets: &'static [Charset]) -> Part {
    Part {
        name,
        len,
        charsets,
    }
}

impl Part {
    fn charset_at(&self, i: usize) -> Charset {
        match self.charsets {
            [one] => *one,
            many => many.get(i).copied().unwrap_or(Charset::UpperAlnum),
        }
    }
}

/// Why a code does not have the shape of its system: what
/// [`crate::Error::Shape`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// The system's short name (`JLAC10`, `HOT9`).
    pub system: &'static str,
    /// The code as given.
    pub code: String,
    /// What is wrong, naming the part and what it expects.
    pub reason: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid {} code: {}",
            self.code, self.system, self.reason
        )
    }
}

/// Splits `code` into `parts`, or says which part is wrong. The length is
/// checked first (a code of the wrong length has no parts to name), then
/// each part in order, naming the first bad character.
pub fn split<'a>(
    system: &'static str,
    code: &'a str,
    parts: &[Part],
) -> Result<Vec<&'a str>, ShapeError> {
    let err = |reason: String| ShapeError {
        system,
        code: code.to_owned(),
        reason,
    };
    if let Some((i, c)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
        return Err(err(format!(
            "character {} ('{c}') is not ASCII; the code is written in half-width characters",
            i + 1
        )));
    }
    let total: usize = parts.iter().map(|p| p.len).sum();
    if code.len() != total {
        let layout = parts
            .iter()
            .map(|p| format!("{} {}", p.name, p.len))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(err(if parts.len() == 1 {
            format!("expected {total} characters, found {}", code.len())
        } else {
            format!(
                "expected {total} characters ({layout}), found {}",
                code.len()
            )
        }));
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut at = 0;
    for part in parts {
        // All ASCII (checked above), so byte offsets are characters.
        let text = &code[at..at + part.len];
        for (i, c) in text.chars().enumerate() {
            let set = part.charset_at(i);
            if !set.allows(c) {
                let whole = if parts.len() == 1 {
                    String::new()
                } else if part.len == 1 {
                    format!(", the {} part,", part.name)
                } else {
                    format!(
                        " of the {} part '{text}' (characters {}-{})",
                        part.name,
                        at + 1,
                        at + part.len
                    )
                };
                return Err(err(format!(
                    "character {} ('{c}'){whole} must be {}",
                    at + i + 1,
                    set.describe()
                )));
            }
        }
        out.push(text);
        at += part.len;
    }
    Ok(out)
}

/// The parts of a code that passed [`split`] with the same `parts`, each
/// with its name, in code order.
pub(crate) fn parts_of<'a>(code: &'a str, parts: &[Part]) -> Vec<(&'static str, &'a str)> {
    let mut at = 0;
    parts
        .iter()
        .map(|p| {
            let text = code.get(at..at + p.len).unwrap_or("");
            at += p.len;
            (p.name, text)
        })
        .collect()
}

/// The accessors JLAC10 and JLAC11 share: the same first four parts at
/// the same places (analyte, identification, material, method), and
/// `parts()` from the type's `PARTS`.
macro_rules! lab_code_parts {
    ($t:ty) => {
        impl $t {
            /// The whole code.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// 分析物 (JLAC11: 測定物) code, characters 1-5.
            pub fn analyte(&self) -> &str {
                &self.0[0..5]
            }

            /// 識別コード, characters 6-9.
            pub fn identification(&self) -> &str {
                &self.0[5..9]
            }

            /// 材料コード, characters 10-12.
            pub fn material(&self) -> &str {
                &self.0[9..12]
            }

            /// 測定法コード, characters 13-15.
            pub fn method(&self) -> &str {
                &self.0[12..15]
            }

            /// The parts as (property name, value), in code order.
            pub fn parts(&self) -> Vec<(&'static str, &str)> {
                super::shape::parts_of(&self.0, PARTS)
            }
        }
    };
}
pub(crate) use lab_code_parts;

#[cfg(test)]
mod tests {
    use super::*;

    const PARTS: &[Part] = &[
        part("head", 2, &[Charset::Upper]),
        part("tail", 3, &[Charset::Digits]),
    ];

    #[test]
    fn names_the_part_and_the_character() {
        assert_eq!(split("T", "AB123", PARTS).unwrap(), ["AB", "123"]);
        let e = split("T", "AB1X3", PARTS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'AB1X3' is not a valid T code: character 4 ('X') of the tail part '1X3' (characters 3-5) must be digits 0-9"
        );
        let e = split("T", "AB12", PARTS).unwrap_err();
        assert_eq!(e.reason, "expected 5 characters (head 2, tail 3), found 4");
        let e = split("T", "AB１２3", PARTS).unwrap_err();
        assert_eq!(
            e.reason,
            "character 3 ('１') is not ASCII; the code is written in half-width characters"
        );
    }
}
