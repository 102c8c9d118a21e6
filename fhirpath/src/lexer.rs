//! Tokens of the FHIRPath grammar.

use crate::error::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Integer or decimal text.
    Number(String),
    Str(String),
    /// A plain or backtick-delimited identifier; `true` when delimited
    /// (so never a keyword).
    Ident(String, bool),
    /// `@2012-04-15T10:00`: the text after `@`.
    DateTime(String),
    /// `@T10:00`: the text after `@T`.
    Time(String),
    /// `%name`, `%'name'`, `` %`name` ``.
    Var(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<=", ">=", "!=", "!~", "(", ")", "[", "]", "{", "}", ".", ",", "+", "-", "*", "/", "&", "|",
    "<", ">", "=", "~",
];

pub fn lex(src: &str) -> Result<Vec<Tok>, Error> {
    let s: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if let Some(next) = skip_comment(&s, i)? {
            i = next;
            continue;
        }
        let (tok, next) = match c {
            _ if c.is_ascii_digit() => number(&s, i),
            _ if c.is_alphabetic() || c == '_' => {
                let end = scan_while(&s, i, |c| c.is_alphanumeric() || c == '_');
                (Tok::Ident(s[i..end].iter().collect(), false), end)
            }
            '\'' => {
                let (text, next) = quoted(&s, i)?;
                (Tok::Str(text), next)
            }
            '`' => {
                let (text, next) = quoted(&s, i)?;
                (Tok::Ident(text, true), next)
            }
            '$' => {
                let end = scan_while(&s, i + 1, char::is_alphanumeric);
                (Tok::Special(s[i + 1..end].iter().collect()), end)
            }
            '%' => variable(&s, i + 1)?,
            '@' => temporal(&s, i + 1),
            _ => operator(&s, i)?,
        };
        out.push(tok);
        i = next;
    }
    Ok(out)
}

/// The index after the run of characters from `i` that `keep` accepts.
fn scan_while(s: &[char], mut i: usize, keep: impl Fn(char) -> bool) -> usize {
    while i < s.len() && keep(s[i]) {
        i += 1;
    }
    i
}

/// A `//` or `/* */` comment at `i`: the index after it.
fn skip_comment(s: &[char], i: usize) -> Result<Option<usize>, Error> {
    if s[i] != '/' {
        return Ok(None);
    }
    match s.get(i + 1) {
        Some('/') => Ok(Some(scan_while(s, i, |c| c != '\n'))),
        Some('*') => {
            let mut j = i + 2;
            loop {
                if j + 1 >= s.len() {
                    return Err(Error::Syntax("unterminated comment".into()));
                }
                if s[j] == '*' && s[j + 1] == '/' {
                    return Ok(Some(j + 2));
                }
                j += 1;
            }
        }
        _ => Ok(None),
    }
}

/// An integer or decimal at `i`.
fn number(s: &[char], start: usize) -> (Tok, usize) {
    let mut i = scan_while(s, start, |c| c.is_ascii_digit());
    if i + 1 < s.len() && s[i] == '.' && s[i + 1].is_ascii_digit() {
        i = scan_while(s, i + 1, |c| c.is_ascii_digit());
    }
    (Tok::Number(s[start..i].iter().collect()), i)
}

/// The name of an environment variable after `%`, plain or quoted.
fn variable(s: &[char], i: usize) -> Result<(Tok, usize), Error> {
    if let Some('\'' | '`') = s.get(i) {
        let (text, next) = quoted(s, i)?;
        return Ok((Tok::Var(text), next));
    }
    let end = scan_while(s, i, |c| c.is_alphanumeric() || c == '_' || c == '-');
    if end == i {
        return Err(Error::Syntax("'%' without a name".into()));
    }
    Ok((Tok::Var(s[i..end].iter().collect()), end))
}

/// A date, date-time or time literal after `@`.
fn temporal(s: &[char], i: usize) -> (Tok, usize) {
    if s.get(i) == Some(&'T') {
        let end = scan_time(s, i + 1);
        return (Tok::Time(s[i + 1..end].iter().collect()), end);
    }
    let start = i;
    let mut i = scan_date(s, i);
    if s.get(i) == Some(&'T') {
        i = scan_time(s, i + 1);
        // offset
        if s.get(i) == Some(&'Z') {
            i += 1;
        } else if matches!(s.get(i), Some('+') | Some('-'))
            && s.get(i + 1).is_some_and(|c| c.is_ascii_digit())
            && s.get(i - 1).is_some_and(|c| c.is_ascii_digit())
        {
            i = scan_while(s, i + 1, |c| c.is_ascii_digit() || c == ':');
        }
    }
    (Tok::DateTime(s[start..i].iter().collect()), i)
}

/// An operator or punctuation at `i`, the longest that fits.
fn operator(s: &[char], i: usize) -> Result<(Tok, usize), Error> {
    let rest: String = s[i..(i + 2).min(s.len())].iter().collect();
    match OPS.iter().find(|op| rest.starts_with(**op)) {
        Some(op) => Ok((Tok::Op(op), i + op.chars().count())),
        None => Err(Error::Syntax(format!("unexpected character '{}'", s[i]))),
    }
}

fn digits(s: &[char], mut i: usize, n: usize) -> Option<usize> {
    for _ in 0..n {
        if !s.get(i)?.is_ascii_digit() {
            return None;
        }
        i += 1;
    }
    Some(i)
}

fn scan_date(s: &[char], i: usize) -> usize {
    let Some(mut i) = digits(s, i, 4) else {
        return i;
    };
    for _ in 0..2 {
        if s.get(i) == Some(&'-') {
            match digits(s, i + 1, 2) {
                Some(j) => i = j,
                None => return i,
            }
        } else {
            break;
        }
    }
    i
}

fn scan_time(s: &[char], i: usize) -> usize {
    let Some(mut i) = digits(s, i, 2) else {
        return i;
    };
    for _ in 0..2 {
        if s.get(i) == Some(&':') {
            match digits(s, i + 1, 2) {
                Some(j) => i = j,
                None => return i,
            }
        } else {
            return i;
        }
    }
    if s.get(i) == Some(&'.') && s.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// A `'…'` or `` `…` `` literal starting at `i`, with its escapes; returns
/// the text and the index after the closing quote.
fn quoted(s: &[char], i: usize) -> Result<(String, usize), Error> {
    let q = s[i];
    let mut j = i + 1;
    let mut out = String::new();
    while j < s.len() {
        let c = s[j];
        if c == q {
            return Ok((out, j + 1));
        }
        if c == '\\' {
            j += 1;
            let Some(&e) = s.get(j) else { break };
            match e {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = s.get(j + 1..j + 5).unwrap_or_default().iter().collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| Error::Syntax(format!("bad escape \\u{hex}")))?;
                    out.push(code);
                    j += 4;
                }
                other => out.push(other),
            }
            j += 1;
            continue;
        }
        out.push(c);
        j += 1;
    }
    Err(Error::Syntax("unterminated literal".into()))
}
