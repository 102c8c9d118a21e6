//! The query syntax of `_text` and `_content` (search.html "Text Search
//! Parameters" leaves it to the server and points at OData's `$search`),
//! and its translation for SQLite FTS5 (`MATCH`) and PostgreSQL
//! (`tsquery`).
//!
//! One value is an expression:
//! - words separated by white space must all occur (AND); `AND` may also
//!   be written;
//! - `OR` between words or groups: either (AND binds tighter: `a b OR c`
//!   is `(a b) OR c`);
//! - `NOT word` (or `NOT (…)`) excludes, next to at least one word that
//!   is not negated (`NOT a` alone, or `a OR NOT b`, would list the whole
//!   type and is refused);
//! - `"a quoted phrase"`: its words next to each other, in order;
//! - `( … )` groups; `word*` (or `"phrase"*`) matches words starting with it.
//!
//! `AND`, `OR` and `NOT` are operators in any case (the spec's own example
//! is `(bone OR liver) and metastases`); quote them to search for the
//! words. Every word goes through the same tokenizer as documents
//! ([`super::tokenize`]): a Japanese word such as `糖尿病` is the phrase of
//! its bigrams, `2型糖尿病` the phrase `2 型糖 糖尿 尿病`. Latin words match
//! whole words unless they end with `*`. Commas separate values that are
//! OR-ed (search.html#combining), and repeating the parameter ANDs.
//! Characters that are neither letters nor digits separate words and are
//! otherwise ignored.

use super::tokenize::{query_tokens, Tokens};

/// At most this many words and phrases in one parameter.
pub const MAX_TERMS: usize = 32;
/// Parentheses nest at most this deep.
pub const MAX_DEPTH: usize = 8;

/// A parsed, usable query: every part can be answered from the index
/// (negations only ever narrow a positive part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Tokens in sequence.
    Phrase(Tokens),
    /// Every `must` and none of `not`; `must` is never empty.
    All { must: Vec<Query>, not: Vec<Query> },
    /// At least one.
    Any(Vec<Query>),
}

/// Parses the OR-ed values of one `_text`/`_content` parameter (already
/// split at unescaped commas). The error says what is wrong.
pub fn parse(values: &[String]) -> Result<Query, String> {
    let mut terms = 0;
    let mut any = Vec::new();
    for v in values {
        let lexed = lex(v)?;
        let mut p = Parser {
            lexed: &lexed,
            at: 0,
            terms: &mut terms,
        };
        let e = p.or(0)?;
        if p.at < lexed.len() {
            return Err(format!("{v:?}: unbalanced parenthesis"));
        }
        if let Some(e) = e {
            any.push(validate(e).map_err(|m| format!("{v:?}: {m}"))?);
        }
    }
    match any.len() {
        0 => Err("no word to search for (only operators or punctuation)".into()),
        1 => Ok(any.remove(0)),
        _ => Ok(Query::Any(any)),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lexeme {
    Open,
    Close,
    And,
    Or,
    Not,
    /// A word or a quoted phrase, with whether it ended with `*`.
    Text(String, bool),
}

fn lex(s: &str) -> Result<Vec<Lexeme>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Lexeme::Open);
            }
            ')' => {
                chars.next();
                out.push(Lexeme::Close);
            }
            '"' => {
                chars.next();
                let mut phrase = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => phrase.push(c),
                        None => return Err(format!("{s:?}: a quote is not closed")),
                    }
                }
                let star = chars.next_if_eq(&'*').is_some();
                out.push(Lexeme::Text(phrase, star));
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"()\"".contains(*c)) {
                    word.push(c);
                }
                out.push(match word.to_ascii_uppercase().as_str() {
                    "AND" => Lexeme::And,
                    "OR" => Lexeme::Or,
                    "NOT" => Lexeme::Not,
                    _ => match word.strip_suffix('*') {
                        Some(w) => Lexeme::Text(w.to_owned(), true),
                        None => Lexeme::Text(word, false),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// What the parser builds; [`validate`] turns it into a [`Query`].
enum Expr {
    Phrase(Tokens),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

struct Parser<'a> {
    lexed: &'a [Lexeme],
    at: usize,
    terms: &'a mut usize,
}

/// Parts that hold no word (punctuation only, a dangling operator) are
/// `None` and drop out.
type Parsed = Result<Option<Expr>, String>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Lexeme> {
        self.lexed.get(self.at)
    }

    fn or(&mut self, depth: usize) -> Parsed {
        let mut items: Vec<Expr> = self.and(depth)?.into_iter().collect();
        while self.peek() == Some(&Lexeme::Or) {
            self.at += 1;
            items.extend(self.and(depth)?);
        }
        Ok(match items.len() {
            0 => None,
            1 => items.pop(),
            _ => Some(Expr::Or(items)),
        })
    }

    fn and(&mut self, depth: usize) -> Parsed {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None | Some(Lexeme::Close) | Some(Lexeme::Or) => break,
                Some(Lexeme::And) => self.at += 1,
                Some(_) => items.extend(self.unary(depth)?),
            }
        }
        Ok(match items.len() {
            0 => None,
            1 => items.pop(),
            _ => Some(Expr::And(items)),
        })
    }

    fn unary(&mut self, depth: usize) -> Parsed {
        let Some(l) = self.peek().cloned() else {
            return Ok(None);
        };
        self.at += 1;
        match l {
            Lexeme::Not => Ok(self.unary(depth)?.map(|e| Expr::Not(Box::new(e)))),
            Lexeme::Open => {
                if depth >= MAX_DEPTH {
                    return Err(format!("parentheses nest deeper than {MAX_DEPTH}"));
                }
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Lexeme::Close) {
                    return Err("unbalanced parenthesis".into());
                }
                self.at += 1;
                Ok(inner)
            }
            Lexeme::Text(text, star) => {
                let tokens = query_tokens(&text, star);
                if tokens.tokens.is_empty() {
                    return Ok(None);
                }
                *self.terms += 1;
                if *self.terms > MAX_TERMS {
                    return Err(format!("at most {MAX_TERMS} words or phrases"));
                }
                Ok(Some(Expr::Phrase(tokens)))
            }
            // `AND`/`OR` where a word belongs, or a stray `)`: handled by
            // the callers, never reached here.
            Lexeme::And | Lexeme::Or | Lexeme::Close => Ok(None),
        }
    }
}

/// Every OR branch and every AND group must hold a word that is not
/// negated: a query the index answers without listing every resource.
fn validate(e: Expr) -> Result<Query, String> {
    match e {
        Expr::Phrase(t) => Ok(Query::Phrase(t)),
        Expr::Or(items) => Ok(Query::Any(
            items.into_iter().map(validate).collect::<Result<_, _>>()?,
        )),
        Expr::And(items) => {
            let (mut must, mut not) = (Vec::new(), Vec::new());
            for i in items {
                match i {
                    Expr::Not(inner) => not.push(validate(*inner)?),
                    other => must.push(validate(other)?),
                }
            }
            if must.is_empty() {
                return Err("NOT needs a word that is not negated next to it".into());
            }
            Ok(Query::All { must, not })
        }
        Expr::Not(_) => Err("NOT needs a word that is not negated next to it".into()),
    }
}

impl Query {
    /// The FTS5 query expression (www.sqlite.org/fts5.html#full_text_query_syntax).
    /// Tokens are letters, digits and CJK characters only, so they never
    /// hold a `"` to escape.
    pub fn to_fts5(&self) -> String {
        match self {
            Query::Phrase(t) => {
                format!(
                    "\"{}\"{}",
                    t.tokens.join(" "),
                    if t.prefix { "*" } else { "" }
                )
            }
            Query::All { must, not } => {
                let must: Vec<String> = must.iter().map(Query::to_fts5).collect();
                let mut s = format!("({})", must.join(" AND "));
                for n in not {
                    s = format!("({s} NOT {})", n.to_fts5());
                }
                s
            }
            Query::Any(items) => {
                let items: Vec<String> = items.iter().map(Query::to_fts5).collect();
                format!("({})", items.join(" OR "))
            }
        }
    }

    /// The PostgreSQL `tsquery` text: phrases with `<->`, prefixes `:*`.
    pub fn to_tsquery(&self) -> String {
        match self {
            Query::Phrase(t) => {
                let n = t.tokens.len();
                let parts: Vec<String> = t
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, tok)| {
                        let star = if t.prefix && i + 1 == n { ":*" } else { "" };
                        format!("{}{star}", lexeme(tok))
                    })
                    .collect();
                format!("({})", parts.join(" <-> "))
            }
            Query::All { must, not } => {
                let mut parts: Vec<String> = must.iter().map(Query::to_tsquery).collect();
                parts.extend(not.iter().map(|n| format!("!{}", n.to_tsquery())));
                format!("({})", parts.join(" & "))
            }
            Query::Any(items) => {
                let items: Vec<String> = items.iter().map(Query::to_tsquery).collect();
                format!("({})", items.join(" | "))
            }
        }
    }
}

/// A token as a quoted tsvector/tsquery lexeme.
pub fn lexeme(token: &str) -> String {
    format!("'{}'", token.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<Query, String> {
        parse(&[s.to_owned()])
    }

    fn fts(s: &str) -> String {
        q(s).map(|q| q.to_fts5())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    fn pg(s: &str) -> String {
        q(s).map(|q| q.to_tsquery())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn words_phrases_and_operators() {
        assert_eq!(fts("Heart"), "\"heart\"");
        assert_eq!(fts("heart attack"), "(\"heart\" AND \"attack\")");
        assert_eq!(fts("\"heart attack\""), "\"heart attack\"");
        assert_eq!(
            fts("(bone OR liver) and metastases"),
            "((\"bone\" OR \"liver\") AND \"metastases\")"
        );
        assert_eq!(fts("a b OR c"), "((\"a\" AND \"b\") OR \"c\")");
        assert_eq!(fts("diab*"), "\"diab\"*");
        assert_eq!(fts("heart NOT attack"), "((\"heart\") NOT \"attack\")");
        assert_eq!(fts("\"or\""), "\"or\"");
        assert_eq!(
            pg("heart NOT attack"),
            "((heart) & !(attack))"
                .replace("heart", "'heart'")
                .replace("attack", "'attack'")
        );
        assert_eq!(
            pg("\"heart attack\" OR diab*"),
            "(('heart' <-> 'attack') | ('diab':*))"
        );
    }

    #[test]
    fn japanese_words_are_phrases_of_bigrams() {
        assert_eq!(fts("2型糖尿病"), "\"2 型糖 糖尿 尿病\"");
        assert_eq!(fts("血"), "\"血\"*");
        assert_eq!(pg("カリウム"), "('カリ' <-> 'リウ' <-> 'ウム')");
        assert_eq!(pg("血"), "('血':*)");
    }

    #[test]
    fn comma_values_are_ored() {
        let v = parse(&["a".to_owned(), "b c".to_owned()]).map(|q| q.to_fts5());
        assert_eq!(v.as_deref(), Ok("(\"a\" OR (\"b\" AND \"c\"))"));
    }

    #[test]
    fn unusable_queries_say_why() {
        for bad in [
            "NOT a",
            "a OR NOT b",
            "(a",
            "a)",
            "\"a",
            "!!! --",
            "OR",
            &"(".repeat(20),
        ] {
            assert!(q(bad).is_err(), "{bad:?}: {:?}", q(bad));
        }
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(q(&many).is_err());
        // Punctuation-only words drop out; dangling operators are ignored.
        assert_eq!(fts("heart - attack OR"), "(\"heart\" AND \"attack\")");
    }

    #[test]
    fn lexemes_are_quoted() {
        assert_eq!(lexeme("it's"), "'it''s'");
        assert_eq!(lexeme("a\\b"), "'a\\\\b'");
    }
}
