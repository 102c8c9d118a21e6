//! Folding of search strings: what string parameters store as
//! `normalized`, what token `:text` stores, what the query side applies to
//! search input, and what the full-text tokenizer (`fulltext/tokenize.rs`)
//! cuts its tokens from: one function, so a string search, a `:text`
//! search and `_content` fold text exactly alike (search.html#string: case-
//! and accent-insensitive).
//!
//! NFKC first: half-width katakana (`ﾔﾏﾀﾞ`) becomes full-width (`ヤマダ`),
//! full-width ASCII becomes ASCII, the ideographic space a space, `①`
//! `1`. Then only Latin combining marks (U+0300–U+036F) are removed:
//! removing every mark would break Japanese (the voicing marks of kana,
//! U+3099/U+309A, recompose under NFC and must stay) and other scripts.
//!
//! The stored rows depend on this function: changing what it returns
//! needs a new [`crate::store::INDEX_FORMAT`], so that existing databases
//! are reindexed when the server starts.

use unicode_normalization::UnicodeNormalization;

/// Case- and accent-folded form of `s`: NFKC, NFD, Latin combining marks
/// removed, NFC, full Unicode lowercase, runs of whitespace collapsed to
/// one space, trimmed.
pub fn fold(s: &str) -> String {
    let stripped: String = s
        .nfkc()
        .nfd()
        .filter(|c| !('\u{0300}'..='\u{036F}').contains(c))
        .nfc()
        .collect();
    let lower = stripped.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    for word in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn case_and_latin_accents() {
        assert_eq!(fold("Émile  ZOLA "), "emile zola");
        assert_eq!(fold("Müller"), "muller");
        assert_eq!(fold("Ångström"), "angstrom");
        assert_eq!(fold("Straße"), "straße");
    }

    #[test]
    fn japanese_is_kept() {
        // Voiced kana (が = か + U+3099) must survive: the mark is not Latin.
        assert_eq!(fold("がぎぐ"), "がぎぐ");
        assert_eq!(fold("か\u{3099}"), "が");
        assert_eq!(fold("パン"), "パン");
        assert_eq!(fold("山田\u{3000}太郎"), "山田 太郎");
    }

    #[test]
    fn half_width_katakana_is_widened() {
        assert_eq!(fold("ﾔﾏﾀﾞ"), "ヤマダ");
        assert_eq!(fold("ﾔﾏﾀﾞ"), fold("ヤマダ"));
        assert_eq!(fold("ｶﾞｷﾞ ﾊﾟﾝ"), "ガギ パン");
        assert_eq!(fold("①"), "1");
    }

    #[test]
    fn full_width_ascii() {
        assert_eq!(fold("ＤＯＥ　Ｊｏｈｎ１２"), "doe john12");
    }

    #[test]
    fn whitespace() {
        assert_eq!(fold("\t a \n\n b  "), "a b");
        assert_eq!(fold(""), "");
        assert_eq!(fold("   "), "");
    }
}
