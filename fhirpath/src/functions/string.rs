//! String functions (fhirpath.html#string-manipulation) other than the
//! regular-expression ones ([`super::pattern`]) and the encodings
//! ([`super::encoding`]).

use super::{arg, arg_int, arg_string, boolean, unreachable_family, Call, Func};
use crate::ast::Ast;
use crate::error::{eval_err, Error};
use crate::eval::{singleton_system, Eval, Frame};
use crate::value::{Collection, Item};

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

/// `join(separator)`: the input strings joined.
fn join<'a>(
    ev: &Eval<'_, 'a>,
    input: &Collection<'a>,
    args: &[Ast],
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    let sep = arg_string(ev, args, 0, frame)?.unwrap_or_default();
    let mut parts = Vec::new();
    for i in input {
        match i.system() {
            Some(Item::String(s)) => parts.push(s),
            _ => return eval_err("join() needs strings"),
        }
    }
    let joined = parts.join(&sep);
    if joined.len() > crate::value::MAX_STRING {
        return eval_err("join() result too long");
    }
    Ok(vec![Item::String(joined)])
}

/// The input of a string function: one string (`None` for an empty
/// input), no longer than the engine allows.
pub(super) fn string_input(f: Func, input: &Collection<'_>) -> Result<Option<String>, Error> {
    if let [Item::Node(n)] = input.as_slice() {
        if !n.is_primitive() {
            return eval_err(format!("{f:?} needs a string, found {}", n.ty));
        }
    }
    let s = match singleton_system(input)? {
        None => return Ok(None),
        Some(Item::String(s)) => s,
        Some(other) => {
            return eval_err(format!("{f:?} needs a string, found {}", other.type_name()))
        }
    };
    if s.len() > crate::value::MAX_STRING {
        return eval_err("string too long");
    }
    Ok(Some(s))
}

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    if f == Func::Join {
        return join(ev, &input, args, frame);
    }
    let Some(s) = string_input(f, &input)? else {
        return Ok(Vec::new());
    };
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
        _ => {
            let _ = arg(ev, args, 0, frame)?;
            return Err(unreachable_family(f));
        }
    })
}
