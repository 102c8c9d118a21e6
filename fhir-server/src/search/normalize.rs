//! Folding of search strings: what string parameters store as
//! `normalized` and what the query side applies to search input, so a
//! plain string search is case- and accent-insensitive (search.html#string).
//!
//! Only Latin combining marks (U+0300–U+036F) are removed: NFKD or
//! removing every mark would break Japanese (the voicing marks of kana,
//! U+3099/U+309A, recompose under NFC and must stay) and other scripts.
//! Full-width ASCII (common in Japanese input) becomes ASCII and the
//! ideographic space a space.

use unicode_normalization::UnicodeNormalization;

/// Case- and accent-folded form of `s`: full-width ASCII to ASCII, NFD,
/// Latin combining marks removed, NFC, full Unicode lowercase, runs of
/// whitespace collapsed to one space, trimmed.
pub fn fold(s: &str) -> String {
    let widened = s.chars().map(|c| match u32::from(c) {
        0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    });
    let stripped: String = widened
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
