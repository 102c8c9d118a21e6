//! `encode`, `decode`, `escape` and `unescape` (FHIRPath N1
//! fhirpath.html#string-manipulation): base64, url-safe base64 and hex
//! encodings; HTML and JSON escapes.

use base64::Engine;

use super::{arg_string, unreachable_family, Call, Func};
use crate::error::Error;
use crate::value::{Collection, Item};

pub fn call<'a>(c: Call<'_, 'a>, input: Collection<'a>) -> Result<Collection<'a>, Error> {
    let (ev, f, args, frame) = (c.ev, c.f, c.args, c.frame);
    let Some(s) = super::string::string_input(f, &input)? else {
        return Ok(Vec::new());
    };
    let string = |x: String| -> Collection<'a> { vec![Item::String(x)] };
    let sarg = |i: usize| arg_string(ev, args, i, frame);
    Ok(match f {
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
        _ => return Err(unreachable_family(f)),
    })
}
