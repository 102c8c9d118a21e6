//! The regular-expression string functions (fhirpath.html#string-manipulation):
//! `matches`, `matchesFull`, `replaceMatches`, with the compiled patterns
//! cached.

use super::{arg_string, boolean, unreachable_family, Call, Func};
use crate::error::Error;
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

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let Some(s) = super::string::string_input(f, &input)? else {
        return Ok(Vec::new());
    };
    // Both arguments are evaluated before either is looked at, so an
    // argument that fails fails the call whatever the other holds.
    let pattern = arg_string(ev, args, 0, frame)?;
    let replacement = match f {
        Func::ReplaceMatches => arg_string(ev, args, 1, frame)?,
        _ => None,
    };
    Ok(match (f, pattern, replacement) {
        (_, None, _) => Vec::new(),
        (Func::Matches | Func::MatchesFull, Some(p), _) => {
            boolean(regex(&p, f == Func::MatchesFull)?.is_match(&s))
        }
        (Func::ReplaceMatches, Some(_), None) => Vec::new(),
        (Func::ReplaceMatches, Some(p), Some(_)) if p.is_empty() => vec![Item::String(s)],
        (Func::ReplaceMatches, Some(p), Some(rep)) => vec![Item::String(
            regex(&p, false)?.replace_all(&s, rep.as_str()).into_owned(),
        )],
        _ => return Err(unreachable_family(f)),
    })
}
