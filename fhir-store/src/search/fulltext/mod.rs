//! Full-text search: `_text` (the narrative) and `_content` (all the text
//! of a resource), search.html "Text Search Parameters".
//!
//! Tokens are made in Rust, once, by [`tokenize`] — for documents on every
//! write ([`document`]) and for query words ([`query`]) — so SQLite and
//! PostgreSQL index and search exactly the same tokens, Japanese included
//! (CJK text has no spaces; it is indexed as character bigrams). The
//! databases only store and look up those tokens:
//! - SQLite: the FTS5 table `idx_fulltext` (columns `narrative`, `content`)
//!   with the `ascii` tokenizer, which splits the stored text exactly at
//!   the spaces between our tokens (every non-ASCII character and ASCII
//!   letter or digit is a token character), keyed by the rowid of
//!   `idx_fulltext_doc` (type, id);
//! - PostgreSQL: `idx_fulltext` with `tsvector` columns written as
//!   literals (`'tok':1 'tok2':2`, no text-search parser involved) and GIN
//!   indexes, searched with `tsquery` literals.
//!
//! The rows are written with the other index rows, in the write's
//! transaction (`store/index_rows.rs`), current versions only. Resources
//! stored before the tables existed are indexed by `$reindex`.

pub mod document;
pub mod query;
pub mod tokenize;

pub use document::{document, Document};
pub use query::{parse, Query};

/// Which text a criterion searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `_text`: the resource's narrative (`text.div`).
    Narrative,
    /// `_content`: all its text.
    Content,
}

impl Field {
    /// The field a search parameter code names, if it is a full-text one.
    pub fn from_code(code: &str) -> Option<Field> {
        match code {
            "_text" => Some(Field::Narrative),
            "_content" => Some(Field::Content),
            _ => None,
        }
    }

    /// The column of `idx_fulltext` (the same name on both backends).
    pub fn column(self) -> &'static str {
        match self {
            Field::Narrative => "narrative",
            Field::Content => "content",
        }
    }
}

/// The text FTS5 stores for a token list: the tokens between spaces.
pub fn fts5_text(tokens: &[String]) -> String {
    tokens.join(" ")
}

/// The PostgreSQL `tsvector` literal for a token list, with positions from
/// 1 (PostgreSQL keeps at most 256 positions per lexeme and caps them at
/// 16,383: past that, phrases may match less precisely).
pub fn tsvector_literal(tokens: &[String]) -> String {
    let mut out = String::with_capacity(tokens.iter().map(|t| t.len() + 8).sum());
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&query::lexeme(t));
        out.push(':');
        out.push_str(&(i + 1).min(16_383).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms() {
        let t: Vec<String> = ["血圧", "圧", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(fts5_text(&t), "血圧 圧 it's");
        assert_eq!(tsvector_literal(&t), "'血圧':1 '圧':2 'it''s':3");
        assert_eq!(Field::from_code("_text"), Some(Field::Narrative));
        assert_eq!(
            Field::from_code("_content").map(Field::column),
            Some("content")
        );
        assert_eq!(Field::from_code("name"), None);
    }
}
