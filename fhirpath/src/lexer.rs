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
    let syntax = |m: String| Error::Syntax(m);
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut j = i + 2;
            loop {
                if j + 1 >= s.len() {
                    return Err(syntax("unterminated comment".into()));
                }
                if s[j] == '*' && s[j + 1] == '/' {
                    break;
                }
                j += 1;
            }
            i = j + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < s.len() && s[i] == '.' && s[i + 1].is_ascii_digit() {
                i += 1;
                while i < s.len() && s[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Number(s[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].iter().collect(), false));
            continue;
        }
        if c == '\'' || c == '`' {
            let (text, next) = quoted(&s, i)?;
            i = next;
            out.push(if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Ident(text, true)
            });
            continue;
        }
        if c == '$' {
            let start = i + 1;
            i += 1;
            while i < s.len() && s[i].is_alphanumeric() {
                i += 1;
            }
            out.push(Tok::Special(s[start..i].iter().collect()));
            continue;
        }
        if c == '%' {
            i += 1;
            match s.get(i) {
                Some('\'') | Some('`') => {
                    let (text, next) = quoted(&s, i)?;
                    i = next;
                    out.push(Tok::Var(text));
                }
                _ => {
                    let start = i;
                    while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_' || s[i] == '-') {
                        i += 1;
                    }
                    if start == i {
                        return Err(syntax("'%' without a name".into()));
                    }
                    out.push(Tok::Var(s[start..i].iter().collect()));
                }
            }
            continue;
        }
        if c == '@' {
            i += 1;
            if s.get(i) == Some(&'T') {
                i += 1;
                let start = i;
                i = scan_time(&s, i);
                out.push(Tok::Time(s[start..i].iter().collect()));
            } else {
                let start = i;
                i = scan_date(&s, i);
                if s.get(i) == Some(&'T') {
                    i += 1;
                    i = scan_time(&s, i);
                    // offset
                    if s.get(i) == Some(&'Z') {
                        i += 1;
                    } else if matches!(s.get(i), Some('+') | Some('-'))
                        && s.get(i + 1).is_some_and(|c| c.is_ascii_digit())
                        && s.get(i - 1).is_some_and(|c| c.is_ascii_digit())
                    {
                        i += 1;
                        while i < s.len() && (s[i].is_ascii_digit() || s[i] == ':') {
                            i += 1;
                        }
                    }
                }
                out.push(Tok::DateTime(s[start..i].iter().collect()));
            }
            continue;
        }
        let rest: String = s[i..(i + 2).min(s.len())].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                out.push(Tok::Op(op));
                i += op.chars().count();
            }
            None => return Err(syntax(format!("unexpected character '{c}'"))),
        }
    }
    Ok(out)
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
