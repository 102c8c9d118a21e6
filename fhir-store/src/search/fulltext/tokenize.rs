//! The one tokenizer of full-text search, run on the text of a resource
//! when it is indexed and on the words of a query, so that both sides
//! always agree and both databases see the same tokens.
//!
//! Text is folded first by [`crate::search::normalize::fold`], as string
//! search folds it (NFKC: half-width katakana to full-width, `①` to `1`,
//! full-width ASCII to ASCII; case, Latin accents, white space). Then:
//! - a run of letters and digits outside the CJK scripts is one token
//!   (`hba1c`, `müller` → `muller`; `5.4` is `5`, `4`), cut to
//!   [`MAX_TOKEN_CHARS`];
//! - a run of Han, Hiragana or Katakana (written without spaces) becomes
//!   its overlapping character bigrams, and its last character once more
//!   on its own: `高血圧` → `高血 血圧 圧`. A word of such a run is then
//!   the phrase of its bigrams (`血圧` is the single token `血圧`, found
//!   inside `高血圧症`), and every character starts exactly one token, so
//!   a one-character query is a prefix search (`血*` finds `高血圧` through
//!   `血圧`).
//!
//! A query word is the same text with its end left open: a CJK run at
//! the very end of the word may continue in the document, so it gives its
//! bigrams without the closing single character, and a run of one
//! character is a prefix ([`Tokens::prefix`]). Everything else is closed
//! on both sides just as in documents.

/// Longer Latin words are cut to this many characters, on both sides, so
/// that a pasted identifier cannot blow up an index entry.
pub const MAX_TOKEN_CHARS: usize = 64;

/// The tokens of one query word or phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub tokens: Vec<String>,
    /// Whether the last token matches as a prefix.
    pub prefix: bool,
}

/// Han, Hiragana and Katakana (with the iteration and prolonged-sound
/// marks): scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x3005..=0x3007 // 々 〆 〇
        | 0x303B // 〻
        | 0x3041..=0x3096 | 0x3099..=0x309F // Hiragana, voicing marks, ゝ ゞ ゟ
        | 0x30A1..=0x30FA | 0x30FC..=0x30FF // Katakana, ー ヽ ヾ ヿ (not ・)
        | 0x31F0..=0x31FF // small Katakana for Ainu
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF // Han
        | 0x20000..=0x3134F) // Han, supplementary planes
}

/// The folded form of `text` that tokens are cut from: the string
/// search's own folding, NFKC included.
fn folded(text: &str) -> String {
    crate::search::normalize::fold(text)
}

/// Appends the tokens of a document's text to `out`.
pub fn document_tokens(text: &str, out: &mut Vec<String>) {
    let mut sink = Sink {
        out,
        open_end: false,
        prefix: false,
    };
    scan(&folded(text), &mut sink);
}

/// The tokens of a query word or quoted phrase, its end left open (see
/// the module doc). `prefix` asks for the last token to match as a
/// prefix (the word ended with `*`).
pub fn query_tokens(text: &str, prefix: bool) -> Tokens {
    let mut tokens = Vec::new();
    let mut sink = Sink {
        out: &mut tokens,
        open_end: true,
        prefix: false,
    };
    scan(&folded(text), &mut sink);
    let open_single = sink.prefix;
    Tokens {
        prefix: !tokens.is_empty() && (prefix || open_single),
        tokens,
    }
}

struct Sink<'a> {
    out: &'a mut Vec<String>,
    /// Query side: the text's end is not the end of a run in documents.
    open_end: bool,
    /// Set when the last run was a single open CJK character.
    prefix: bool,
}

impl Sink<'_> {
    fn word(&mut self, w: &str) {
        self.prefix = false;
        let cut = w
            .char_indices()
            .nth(MAX_TOKEN_CHARS)
            .map_or(w.len(), |(i, _)| i);
        self.out.push(w[..cut].to_owned());
    }

    /// A CJK run; `at_end` when nothing follows it in the text.
    fn run(&mut self, run: &[char], at_end: bool) {
        let open = at_end && self.open_end;
        self.prefix = open && run.len() == 1;
        for pair in run.windows(2) {
            self.out.push(pair.iter().collect());
        }
        if !open || run.len() == 1 {
            if let Some(last) = run.last() {
                self.out.push(last.to_string());
            }
        }
    }
}

fn scan(text: &str, sink: &mut Sink<'_>) {
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                sink.word(&word);
                word.clear();
            }
            run.push(c);
        } else {
            if !run.is_empty() {
                sink.run(&run, false);
                run.clear();
            }
            if c.is_alphanumeric() {
                word.push(c);
            } else if !word.is_empty() {
                sink.word(&word);
                word.clear();
            }
        }
    }
    if !word.is_empty() {
        sink.word(&word);
    }
    if !run.is_empty() {
        sink.run(&run, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        document_tokens(s, &mut out);
        out
    }

    #[test]
    fn latin_words_are_folded() {
        assert_eq!(
            doc("Müller, HbA1c 5.4 ＤＯＥ"),
            ["muller", "hba1c", "5", "4", "doe"]
        );
        assert_eq!(doc("e-mail: a@b"), ["e", "mail", "a", "b"]);
        assert_eq!(doc(&"x".repeat(100)), ["x".repeat(MAX_TOKEN_CHARS)]);
        assert!(doc(" -- !! ").is_empty());
    }

    #[test]
    fn cjk_runs_are_bigrams_with_the_last_character() {
        assert_eq!(doc("2型糖尿病"), ["2", "型糖", "糖尿", "尿病", "病"]);
        assert_eq!(doc("血圧 高い"), ["血圧", "圧", "高い", "い"]);
        assert_eq!(doc("K"), ["k"]);
        assert_eq!(doc("カリウム値"), ["カリ", "リウ", "ウム", "ム値", "値"]);
        // Half-width katakana is folded to full-width (NFKC), kana voicing kept.
        assert_eq!(doc("ｶﾘｳﾑ"), doc("カリウム"));
        assert_eq!(doc("ガ"), ["ガ"]);
        // The middle dot separates.
        assert_eq!(doc("ア・イ"), ["ア", "イ"]);
    }

    #[test]
    fn query_words_leave_their_end_open() {
        let q = query_tokens("糖尿病", false);
        assert_eq!(q.tokens, ["糖尿", "尿病"]);
        assert!(!q.prefix);
        let q = query_tokens("血", false);
        assert_eq!(q.tokens, ["血"]);
        assert!(q.prefix);
        // Followed by a Latin word: the run is closed, as in documents.
        assert_eq!(
            query_tokens("糖尿病 patient", false).tokens,
            ["糖尿", "尿病", "病", "patient"]
        );
        assert_eq!(
            query_tokens("2型", false),
            Tokens {
                tokens: vec!["2".into(), "型".into()],
                prefix: true
            }
        );
        assert_eq!(
            query_tokens("diab", true),
            Tokens {
                tokens: vec!["diab".into()],
                prefix: true
            }
        );
        assert!(!query_tokens("diab", false).prefix);
        assert_eq!(
            query_tokens("--", true),
            Tokens {
                tokens: vec![],
                prefix: false
            }
        );
    }

    #[test]
    fn every_query_phrase_is_a_run_of_document_tokens() {
        // The query's tokens appear consecutively in the document's.
        let text = "診断: 2型糖尿病 (HbA1c 7.2%) 高血圧症";
        let d = doc(text);
        for q in [
            "2型糖尿病",
            "糖尿",
            "型糖尿病 hba1c",
            "高血圧",
            "血圧症",
            "7.2",
            "症",
        ] {
            let t = query_tokens(q, false);
            let n = t.tokens.len();
            let found = d.windows(n).any(|w| {
                w.iter().zip(&t.tokens).enumerate().all(|(i, (a, b))| {
                    if t.prefix && i == n - 1 {
                        a.starts_with(b.as_str())
                    } else {
                        a == b
                    }
                })
            });
            assert!(found, "{q}: {:?} in {d:?}", t.tokens);
        }
    }
}
