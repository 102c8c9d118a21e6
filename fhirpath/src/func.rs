//! The names of the function library: the [`Func`] an expression's
//! call resolves to when it is compiled, its arity, and the [`Family`]
//! (the module of [`crate::functions`]) that implements it.
//!
//! Kept apart from the implementations so that the syntax tree, which
//! holds resolved functions, does not depend on the evaluator.

use crate::error::Error;

macro_rules! funcs {
    ($($variant:ident $name:literal $min:literal $max:literal $family:ident;)*) => {
        /// A function of the library.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $($variant,)* }

        const TABLE: &[(&str, Func, usize, usize)] = &[$(($name, Func::$variant, $min, $max),)*];

        impl Func {
            /// The family (module) that implements this function.
            pub fn family(self) -> Family {
                match self {
                    $(Func::$variant => Family::$family,)*
                }
            }
        }
    };
}

/// A family of functions of the spec, one module of [`crate::functions`]
/// each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// [`crate::functions::existence`].
    Existence,
    /// [`crate::functions::filtering`].
    Filtering,
    /// [`crate::functions::subsetting`].
    Subsetting,
    /// [`crate::functions::combining`].
    Combining,
    /// [`crate::functions::utility`].
    Utility,
    /// [`crate::functions::conversion`].
    Conversion,
    /// [`crate::functions::string`].
    String,
    /// [`crate::functions::pattern`].
    Pattern,
    /// [`crate::functions::encoding`].
    Encoding,
    /// [`crate::functions::math`].
    Math,
    /// [`crate::functions::precision`].
    Precision,
    /// [`crate::functions::navigation`].
    Navigation,
    /// [`crate::functions::aggregate`].
    Aggregate,
    /// [`crate::functions::fhir`].
    Fhir,
    /// [`crate::functions::resolve`].
    Resolve,
    /// [`crate::functions::terminology`].
    Terminology,
}

funcs! {
    Empty "empty" 0 0 Existence;
    Exists "exists" 0 1 Existence;
    All "all" 1 1 Existence;
    AllTrue "allTrue" 0 0 Existence;
    AnyTrue "anyTrue" 0 0 Existence;
    AllFalse "allFalse" 0 0 Existence;
    AnyFalse "anyFalse" 0 0 Existence;
    SubsetOf "subsetOf" 1 1 Existence;
    SupersetOf "supersetOf" 1 1 Existence;
    Count "count" 0 0 Existence;
    Distinct "distinct" 0 0 Existence;
    IsDistinct "isDistinct" 0 0 Existence;
    Where "where" 1 1 Filtering;
    Select "select" 1 1 Filtering;
    Repeat "repeat" 1 1 Filtering;
    OfType "ofType" 1 1 Filtering;
    Is "is" 1 1 Filtering;
    As "as" 1 1 Filtering;
    Single "single" 0 0 Subsetting;
    First "first" 0 0 Subsetting;
    Last "last" 0 0 Subsetting;
    Tail "tail" 0 0 Subsetting;
    Skip "skip" 1 1 Subsetting;
    Take "take" 1 1 Subsetting;
    Intersect "intersect" 1 1 Subsetting;
    Exclude "exclude" 1 1 Subsetting;
    Union "union" 1 1 Combining;
    Combine "combine" 1 1 Combining;
    Iif "iif" 2 3 Utility;
    ToBoolean "toBoolean" 0 0 Conversion;
    ConvertsToBoolean "convertsToBoolean" 0 0 Conversion;
    ToInteger "toInteger" 0 0 Conversion;
    ConvertsToInteger "convertsToInteger" 0 0 Conversion;
    ToDecimal "toDecimal" 0 0 Conversion;
    ConvertsToDecimal "convertsToDecimal" 0 0 Conversion;
    ToString "toString" 0 0 Conversion;
    ConvertsToString "convertsToString" 0 0 Conversion;
    ToDate "toDate" 0 0 Conversion;
    ConvertsToDate "convertsToDate" 0 0 Conversion;
    ToDateTime "toDateTime" 0 0 Conversion;
    ConvertsToDateTime "convertsToDateTime" 0 0 Conversion;
    ToTime "toTime" 0 0 Conversion;
    ConvertsToTime "convertsToTime" 0 0 Conversion;
    ToQuantity "toQuantity" 0 1 Conversion;
    ConvertsToQuantity "convertsToQuantity" 0 1 Conversion;
    IndexOf "indexOf" 1 1 String;
    Substring "substring" 1 2 String;
    StartsWith "startsWith" 1 1 String;
    EndsWith "endsWith" 1 1 String;
    Contains "contains" 1 1 String;
    Upper "upper" 0 0 String;
    Lower "lower" 0 0 String;
    Replace "replace" 2 2 String;
    Matches "matches" 1 1 Pattern;
    MatchesFull "matchesFull" 1 1 Pattern;
    ReplaceMatches "replaceMatches" 2 2 Pattern;
    Length "length" 0 0 String;
    ToChars "toChars" 0 0 String;
    Split "split" 1 1 String;
    Join "join" 0 1 String;
    Trim "trim" 0 0 String;
    Encode "encode" 1 1 Encoding;
    Decode "decode" 1 1 Encoding;
    Escape "escape" 1 1 Encoding;
    Unescape "unescape" 1 1 Encoding;
    Abs "abs" 0 0 Math;
    Ceiling "ceiling" 0 0 Math;
    Exp "exp" 0 0 Math;
    Floor "floor" 0 0 Math;
    Ln "ln" 0 0 Math;
    Log "log" 1 1 Math;
    Power "power" 1 1 Math;
    Round "round" 0 1 Math;
    Sqrt "sqrt" 0 0 Math;
    Truncate "truncate" 0 0 Math;
    LowBoundary "lowBoundary" 0 1 Precision;
    HighBoundary "highBoundary" 0 1 Precision;
    Precision "precision" 0 0 Precision;
    Comparable "comparable" 1 1 Precision;
    Children "children" 0 0 Navigation;
    Descendants "descendants" 0 0 Navigation;
    Trace "trace" 1 2 Utility;
    Now "now" 0 0 Utility;
    TimeOfDay "timeOfDay" 0 0 Utility;
    Today "today" 0 0 Utility;
    Not "not" 0 0 Utility;
    Type "type" 0 0 Utility;
    Sort "sort" 0 9 Utility;
    Aggregate "aggregate" 1 2 Aggregate;
    Extension "extension" 1 1 Fhir;
    HasValue "hasValue" 0 0 Fhir;
    GetValue "getValue" 0 0 Fhir;
    Resolve "resolve" 0 0 Resolve;
    MemberOf "memberOf" 1 1 Terminology;
    ConformsTo "conformsTo" 1 1 Fhir;
    HtmlChecks "htmlChecks" 0 0 Fhir;
    Subsumes "subsumes" 1 1 Terminology;
    SubsumedBy "subsumedBy" 1 1 Terminology;
    CheckModifiers "checkModifiers" 1 9 Fhir;
}

impl Func {
    /// The function called `name` with `argc` arguments.
    pub fn lookup(name: &str, argc: usize) -> Result<Func, Error> {
        let Some((_, f, min, max)) = TABLE.iter().find(|(n, ..)| *n == name) else {
            return Err(Error::Semantic(format!("unknown function {name}()")));
        };
        if argc < *min || argc > *max {
            return Err(Error::Semantic(format!(
                "{name}() takes {min} to {max} arguments, not {argc}"
            )));
        }
        Ok(*f)
    }

    /// Whether the argument is a type specifier, not an expression.
    pub fn takes_type(self) -> bool {
        matches!(self, Func::Is | Func::As | Func::OfType)
    }
}
