//! The function library, one module per family of the spec
//! (fhirpath.html#functions), plus the FHIR additions in [`fhir`].
//!
//! Names are resolved when an expression is compiled ([`Func::lookup`]),
//! so an unknown function or a wrong number of arguments is a compile
//! error, and evaluation dispatches on an enum.

pub mod aggregate;
pub mod combining;
pub mod conversion;
pub mod existence;
pub mod fhir;
pub mod filtering;
pub mod math;
pub mod navigation;
pub mod string;
pub mod subsetting;
pub mod utility;

use crate::ast::{Ast, TypeSpec};
use crate::error::{eval_err, Error};
use crate::eval::{singleton_system, Eval, Frame};
use crate::value::{Collection, Item};

macro_rules! funcs {
    ($($variant:ident $name:literal $min:literal $max:literal $family:ident;)*) => {
        /// A function of the library.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $($variant,)* }

        const TABLE: &[(&str, Func, usize, usize)] = &[$(($name, Func::$variant, $min, $max),)*];

        /// Calls the family module that implements `f`.
        fn dispatch<'a>(
            ev: &Eval<'_, 'a>,
            f: Func,
            input: Collection<'a>,
            args: &[Ast],
            ty: Option<&TypeSpec>,
            frame: &Frame<'_, 'a>,
        ) -> Result<Collection<'a>, Error> {
            match f {
                $(Func::$variant => $family::call(ev, f, input, args, ty, frame),)*
            }
        }
    };
}

funcs! {
    Empty "empty" 0 0 existence;
    Exists "exists" 0 1 existence;
    All "all" 1 1 existence;
    AllTrue "allTrue" 0 0 existence;
    AnyTrue "anyTrue" 0 0 existence;
    AllFalse "allFalse" 0 0 existence;
    AnyFalse "anyFalse" 0 0 existence;
    SubsetOf "subsetOf" 1 1 existence;
    SupersetOf "supersetOf" 1 1 existence;
    Count "count" 0 0 existence;
    Distinct "distinct" 0 0 existence;
    IsDistinct "isDistinct" 0 0 existence;
    Where "where" 1 1 filtering;
    Select "select" 1 1 filtering;
    Repeat "repeat" 1 1 filtering;
    OfType "ofType" 1 1 filtering;
    Is "is" 1 1 filtering;
    As "as" 1 1 filtering;
    Single "single" 0 0 subsetting;
    First "first" 0 0 subsetting;
    Last "last" 0 0 subsetting;
    Tail "tail" 0 0 subsetting;
    Skip "skip" 1 1 subsetting;
    Take "take" 1 1 subsetting;
    Intersect "intersect" 1 1 subsetting;
    Exclude "exclude" 1 1 subsetting;
    Union "union" 1 1 combining;
    Combine "combine" 1 1 combining;
    Iif "iif" 2 3 utility;
    ToBoolean "toBoolean" 0 0 conversion;
    ConvertsToBoolean "convertsToBoolean" 0 0 conversion;
    ToInteger "toInteger" 0 0 conversion;
    ConvertsToInteger "convertsToInteger" 0 0 conversion;
    ToDecimal "toDecimal" 0 0 conversion;
    ConvertsToDecimal "convertsToDecimal" 0 0 conversion;
    ToString "toString" 0 0 conversion;
    ConvertsToString "convertsToString" 0 0 conversion;
    ToDate "toDate" 0 0 conversion;
    ConvertsToDate "convertsToDate" 0 0 conversion;
    ToDateTime "toDateTime" 0 0 conversion;
    ConvertsToDateTime "convertsToDateTime" 0 0 conversion;
    ToTime "toTime" 0 0 conversion;
    ConvertsToTime "convertsToTime" 0 0 conversion;
    ToQuantity "toQuantity" 0 1 conversion;
    ConvertsToQuantity "convertsToQuantity" 0 1 conversion;
    IndexOf "indexOf" 1 1 string;
    Substring "substring" 1 2 string;
    StartsWith "startsWith" 1 1 string;
    EndsWith "endsWith" 1 1 string;
    Contains "contains" 1 1 string;
    Upper "upper" 0 0 string;
    Lower "lower" 0 0 string;
    Replace "replace" 2 2 string;
    Matches "matches" 1 1 string;
    MatchesFull "matchesFull" 1 1 string;
    ReplaceMatches "replaceMatches" 2 2 string;
    Length "length" 0 0 string;
    ToChars "toChars" 0 0 string;
    Split "split" 1 1 string;
    Join "join" 0 1 string;
    Trim "trim" 0 0 string;
    Encode "encode" 1 1 string;
    Decode "decode" 1 1 string;
    Escape "escape" 1 1 string;
    Unescape "unescape" 1 1 string;
    Abs "abs" 0 0 math;
    Ceiling "ceiling" 0 0 math;
    Exp "exp" 0 0 math;
    Floor "floor" 0 0 math;
    Ln "ln" 0 0 math;
    Log "log" 1 1 math;
    Power "power" 1 1 math;
    Round "round" 0 1 math;
    Sqrt "sqrt" 0 0 math;
    Truncate "truncate" 0 0 math;
    LowBoundary "lowBoundary" 0 1 math;
    HighBoundary "highBoundary" 0 1 math;
    Precision "precision" 0 0 math;
    Comparable "comparable" 1 1 math;
    Children "children" 0 0 navigation;
    Descendants "descendants" 0 0 navigation;
    Trace "trace" 1 2 utility;
    Now "now" 0 0 utility;
    TimeOfDay "timeOfDay" 0 0 utility;
    Today "today" 0 0 utility;
    Not "not" 0 0 utility;
    Type "type" 0 0 utility;
    Sort "sort" 0 9 utility;
    Aggregate "aggregate" 1 2 aggregate;
    Extension "extension" 1 1 fhir;
    HasValue "hasValue" 0 0 fhir;
    GetValue "getValue" 0 0 fhir;
    Resolve "resolve" 0 0 fhir;
    MemberOf "memberOf" 1 1 fhir;
    ConformsTo "conformsTo" 1 1 fhir;
    HtmlChecks "htmlChecks" 0 0 fhir;
    Subsumes "subsumes" 1 1 fhir;
    SubsumedBy "subsumedBy" 1 1 fhir;
    CheckModifiers "checkModifiers" 1 9 fhir;
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

pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    input: Collection<'a>,
    args: &[Ast],
    ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    dispatch(ev, f, input, args, ty, frame)
}

/// Evaluates argument `i` in the enclosing context (`$this`).
pub(crate) fn arg<'a>(
    ev: &Eval<'_, 'a>,
    args: &[Ast],
    i: usize,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    match args.get(i) {
        Some(a) => ev.eval(a, frame.this, frame),
        None => Ok(Vec::new()),
    }
}

/// Evaluates a lambda argument with `item` as `$this` and the focus.
pub(crate) fn lambda<'a>(
    ev: &Eval<'_, 'a>,
    expr: &Ast,
    item: &Item<'a>,
    index: usize,
    total: Option<&[Item<'a>]>,
) -> Result<Collection<'a>, Error> {
    let this = std::slice::from_ref(item);
    let frame = Frame {
        this,
        index: Some(index),
        total,
    };
    ev.eval(expr, this, &frame)
}

/// A singleton string argument (`None` when empty).
pub(crate) fn arg_string<'a>(
    ev: &Eval<'_, 'a>,
    args: &[Ast],
    i: usize,
    frame: &Frame<'_, 'a>,
) -> Result<Option<String>, Error> {
    match singleton_system(&arg(ev, args, i, frame)?)? {
        None => Ok(None),
        Some(Item::String(s)) => Ok(Some(s)),
        Some(other) => eval_err(format!("expected a string, found {}", other.type_name())),
    }
}

/// A singleton integer argument (`None` when empty).
pub(crate) fn arg_int<'a>(
    ev: &Eval<'_, 'a>,
    args: &[Ast],
    i: usize,
    frame: &Frame<'_, 'a>,
) -> Result<Option<i64>, Error> {
    match singleton_system(&arg(ev, args, i, frame)?)? {
        None => Ok(None),
        Some(Item::Integer(n)) => Ok(Some(n)),
        Some(other) => eval_err(format!("expected an integer, found {}", other.type_name())),
    }
}

pub(crate) fn boolean<'a>(b: bool) -> Collection<'a> {
    vec![Item::Boolean(b)]
}

pub(crate) fn unreachable_family(f: Func) -> Error {
    Error::Semantic(format!("{f:?} is not implemented here"))
}
