//! The index rows one resource yields: what `extract` produces on every
//! write and `store` writes, in the same transaction, into one table per
//! parameter type (`idx_string`, `idx_token`, …; see the migrations).
//!
//! Every row names its parameter by code. Composite parameters store their
//! components in the tables of the components' types under the code
//! `"{composite}#{n}"` (n = component index), all components taken from the
//! same item sharing one `group`; ordinary rows have `group` 0. A composite
//! matches when rows of every component with one `group` match.
//!
//! Dates, numbers and quantities are ranges (`lo..=hi`): a value stands for
//! the interval its precision implies (search.html#prefix), `2013-01`
//! is 2013-01-01T00:00:00.000 to 2013-01-31T23:59:59.999, `5.4` is
//! 5.35 to 5.45, so every prefix can be answered by comparing ranges.

/// Epoch milliseconds (UTC). Dates without a time zone are taken as UTC.
pub type EpochMillis = i64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexEntries {
    pub strings: Vec<StringEntry>,
    pub tokens: Vec<TokenEntry>,
    pub references: Vec<ReferenceEntry>,
    pub dates: Vec<DateEntry>,
    pub numbers: Vec<NumberEntry>,
    pub quantities: Vec<QuantityEntry>,
    pub uris: Vec<UriEntry>,
    /// The full-text tokens (`_text`, `_content`); not from a parameter's
    /// expression, so [`crate::search::extract::extract`] leaves it empty
    /// and the store fills it ([`crate::search::fulltext::document`]).
    pub fulltext: crate::search::fulltext::Document,
}

impl IndexEntries {
    /// Whether no parameter gave a row (the full-text tokens aside).
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
            && self.tokens.is_empty()
            && self.references.is_empty()
            && self.dates.is_empty()
            && self.numbers.is_empty()
            && self.quantities.is_empty()
            && self.uris.is_empty()
    }

    /// Adds `other`'s rows (of other parameters: nothing is deduplicated).
    /// The full-text tokens are kept unless `self` has none.
    pub fn append(&mut self, other: IndexEntries) {
        self.strings.extend(other.strings);
        self.tokens.extend(other.tokens);
        self.references.extend(other.references);
        self.dates.extend(other.dates);
        self.numbers.extend(other.numbers);
        self.quantities.extend(other.quantities);
        self.uris.extend(other.uris);
        if self.fulltext.is_empty() {
            self.fulltext = other.fulltext;
        }
    }
}

/// A string value (from string, HumanName, Address, markdown, …).
#[derive(Debug, Clone, PartialEq)]
pub struct StringEntry {
    pub param: String,
    pub group: i32,
    /// Case and accents folded ([`crate::search::normalize::fold`]):
    /// what plain and `:contains` searches compare against.
    pub normalized: String,
    /// The value as written, for `:exact`.
    pub exact: String,
}

/// A token: a code with its system, an identifier, a boolean, …
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEntry {
    pub param: String,
    pub group: i32,
    /// `None` when the value has no system (a `code`, a boolean).
    pub system: Option<String>,
    /// `None` for a Coding/Identifier without a code/value (still indexed
    /// for `:text` and `:missing`).
    pub code: Option<String>,
    /// Folded display/text (Coding.display, CodeableConcept.text,
    /// Identifier.type.text) for `:text`.
    pub text: Option<String>,
    /// Identifier.type.coding (system, code) for `:of-type`.
    pub type_system: Option<String>,
    pub type_code: Option<String>,
}

/// A reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceEntry {
    pub param: String,
    pub group: i32,
    /// A local (relative) reference `Type/id[/_history/v]`, or an absolute
    /// one whose last segments are `Type/id`: both parts set.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_version: Option<String>,
    /// Absolute URLs and canonicals (without `|version`), as written.
    pub url: Option<String>,
    /// The canonical's `|version`, when given.
    pub url_version: Option<String>,
    /// Reference.identifier, for `:identifier`.
    pub identifier_system: Option<String>,
    pub identifier_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DateEntry {
    pub param: String,
    pub group: i32,
    /// Inclusive bounds. An open Period end is `i64::MAX`, an open start
    /// `i64::MIN`.
    pub lo: EpochMillis,
    pub hi: EpochMillis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumberEntry {
    pub param: String,
    pub group: i32,
    /// The value as written, and the range its precision implies.
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// The exact value ([`crate::search::decimal_key`]): what searches
    /// compare, so decimals beyond `f64` are found.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuantityEntry {
    pub param: String,
    pub group: i32,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// The exact value, as [`NumberEntry::key`].
    pub key: Option<String>,
    pub system: Option<String>,
    pub code: Option<String>,
    pub unit: Option<String>,
    /// The UCUM canonical form (`mg` → `g` with the value scaled), when
    /// the system is UCUM and the unit is understood; searches with a UCUM
    /// unit compare these, so `5.4|http://unitsofmeasure.org|mg` finds
    /// `5400 ug`.
    pub canonical_code: Option<String>,
    pub canonical_lo: Option<f64>,
    pub canonical_hi: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UriEntry {
    pub param: String,
    pub group: i32,
    pub uri: String,
}
