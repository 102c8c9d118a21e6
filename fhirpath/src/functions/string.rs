//! String functions (fhirpath.html#string-manipulation), plus `encode`,
//! `decode`, `escape` and `unescape`.

use base64::Engine;

use super::{arg, arg_int, arg_string, boolean, unreachable_family, Func};
use crate::ast::{Ast, TypeSpec};
use crate::error::{eval_err, Error};
use crate::eval::{singleton_system, Eval, Frame};
use crate::value::{Collection, Item};

/// Regexes are compiled with this size limit so a hostile pattern cannot
/// take all memory.
const REGEX_SIZE: usize = 1 << 20;

/// How many compiled patterns are kept. Invariants use a handful of
/// literal patterns at every element (`eld-19`, `eld-20` on each element
/// of a StructureDefinition): compiling them once each, not per call, is
/// most of the cost of validating a profile.
const REGEX_CACHE: usize = 256;

type RegexCache = std::collections::HashMap<(String, bool), std::sync::Arc<regex::Regex>>;

fn regex(pattern: &str, full: bool) -> Result<std::sync::Arc<regex::Regex>, Error> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<RegexCache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_owned(), full);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(r);
    }
    let p = if full {
        format!("^(?:{pattern})$")
    } else {
        pattern.to_owned()
    };
    let compiled = std::sync::Arc::new(
        regex::RegexBuilder::new(&p)
            .size_limit(REGEX_SIZE)
            .dot_matches_new_line(true)
            .build()
            .map_err(|e| Error::Evaluation(format!("bad regex: {e}")))?,
    );
    if let Ok(mut c) = cache.lock() {
        if c.len() >= REGEX_CACHE {
            c.clear();
        }
        c.insert(key, compiled.clone());
    }
    Ok(compiled)
}

fn chars_substring(s: &str, start: i64, len: Option<i64>) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    if start < 0 || start as usize >= chars.len() {
        return None;
    }
    let start = start as usize;
    let end = match len {
        Some(l) if l <= 0 => start,
        Some(l) => (start + l as usize).min(chars.len()),
        None => chars.len(),
    };
    Some(chars[start..end].iter().collect())
}

pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    input: Collection<'a>,
    args: &[Ast],
    _ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    if f == Func::Join {
        let sep = arg_string(ev, args, 0, frame)?.unwrap_or_default();
        let mut parts = Vec::new();
        for i in &input {
            match i.system() {
                Some(Item::String(s)) => parts.push(s),
                _ => return eval_err("join() needs strings"),
            }
        }
        let joined = parts.join(&sep);
        if joined.len() > crate::value::MAX_STRING {
            return eval_err("join() result too long");
        }
        return Ok(vec![Item::String(joined)]);
    }
    if let [Item::Node(n)] = input.as_slice() {
        if !n.is_primitive() {
            return eval_err(format!("{f:?} needs a string, found {}", n.ty));
        }
    }
    let s = match singleton_system(&input)? {
        None => return Ok(Vec::new()),
        Some(Item::String(s)) => s,
        Some(other) => {
            return eval_err(format!("{f:?} needs a string, found {}", other.type_name()))
        }
    };
    if s.len() > crate::value::MAX_STRING {
        return eval_err("string too long");
    }
    let string = |x: String| -> Collection<'a> { vec![Item::String(x)] };
    let sarg = |i: usize| arg_string(ev, args, i, frame);
    Ok(match f {
        Func::IndexOf => match sarg(0)? {
            None => Vec::new(),
            Some(sub) => vec![Item::Integer(match s.find(&sub) {
                Some(b) => s[..b].chars().count() as i64,
                None => -1,
            })],
        },
        Func::Substring => {
            let Some(start) = arg_int(ev, args, 0, frame)? else {
                return Ok(Vec::new());
            };
            let len = if args.len() > 1 {
                arg_int(ev, args, 1, frame)?
            } else {
                None
            };
            chars_substring(&s, start, len)
                .map(Item::String)
                .into_iter()
                .collect()
        }
        Func::StartsWith => match sarg(0)? {
            None => Vec::new(),
            Some(p) => boolean(s.starts_with(&p)),
        },
        Func::EndsWith => match sarg(0)? {
            None => Vec::new(),
            Some(p) => boolean(s.ends_with(&p)),
        },
        Func::Contains => match sarg(0)? {
            None => Vec::new(),
            Some(p) => boolean(s.contains(&p)),
        },
        Func::Upper => string(s.to_uppercase()),
        Func::Lower => string(s.to_lowercase()),
        Func::Replace => match (sarg(0)?, sarg(1)?) {
            (Some(pat), Some(rep)) => {
                let growth = rep.len().saturating_mul(s.len() + 1);
                if growth > crate::value::MAX_STRING {
                    return eval_err("replace() result too long");
                }
                if pat.is_empty() {
                    let mut out = rep.clone();
                    for c in s.chars() {
                        out.push(c);
                        out.push_str(&rep);
                    }
                    string(out)
                } else {
                    string(s.replace(&pat, &rep))
                }
            }
            _ => Vec::new(),
        },
        Func::Matches | Func::MatchesFull => match sarg(0)? {
            None => Vec::new(),
            Some(p) => boolean(regex(&p, f == Func::MatchesFull)?.is_match(&s)),
        },
        Func::ReplaceMatches => match (sarg(0)?, sarg(1)?) {
            (Some(p), Some(rep)) => {
                if p.is_empty() {
                    string(s)
                } else {
                    string(regex(&p, false)?.replace_all(&s, rep.as_str()).into_owned())
                }
            }
            _ => Vec::new(),
        },
        Func::Length => vec![Item::Integer(s.chars().count() as i64)],
        Func::ToChars => s.chars().map(|c| Item::String(c.to_string())).collect(),
        Func::Split => match sarg(0)? {
            None => Vec::new(),
            Some(sep) if sep.is_empty() => s.chars().map(|c| Item::String(c.to_string())).collect(),
            Some(sep) => s
                .split(sep.as_str())
                .map(|p| Item::String(p.to_owned()))
                .collect(),
        },
        Func::Trim => string(s.trim().to_owned()),
        Func::Encode => match sarg(0)?.as_deref() {
            Some("base64") => string(base64::engine::general_purpose::STANDARD.encode(&s)),
            Some("urlbase64") => string(base64::engine::general_purpose::URL_SAFE.encode(&s)),
            Some("hex") => string(s.bytes().map(|b| format!("{b:02x}")).collect()),
            _ => Vec::new(),
        },
        Func::Decode => {
            let bytes = match sarg(0)?.as_deref() {
                Some("base64") => base64::engine::general_purpose::STANDARD.decode(&s).ok(),
                Some("urlbase64") => base64::engine::general_purpose::URL_SAFE.decode(&s).ok(),
                Some("hex") => (0..s.len())
                    .step_by(2)
                    .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                    .collect(),
                _ => None,
            };
            bytes
                .and_then(|b| String::from_utf8(b).ok())
                .map(Item::String)
                .into_iter()
                .collect()
        }
        Func::Escape => match sarg(0)?.as_deref() {
            Some("html") => string(
                s.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;")
                    .replace('\'', "&#39;"),
            ),
            Some("json") => string(s.replace('\\', "\\\\").replace('"', "\\\"")),
            _ => Vec::new(),
        },
        Func::Unescape => match sarg(0)?.as_deref() {
            Some("html") => string(
                s.replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            ),
            Some("json") => string(s.replace("\\\"", "\"").replace("\\\\", "\\")),
            _ => Vec::new(),
        },
        _ => {
            let _ = arg(ev, args, 0, frame)?;
            return Err(unreachable_family(f));
        }
    })
}
