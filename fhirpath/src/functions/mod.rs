//! The function library, one module per family of the spec
//! (fhirpath.html#functions), plus the FHIR additions in [`fhir`].
//!
//! Names are resolved when an expression is compiled ([`Func::lookup`],
//! in [`crate::func`]), so an unknown function or a wrong number of
//! arguments is a compile error, and evaluation dispatches on an enum.

pub mod aggregate;
pub mod combining;
pub mod conversion;
pub mod encoding;
pub mod existence;
pub mod fhir;
pub mod filtering;
pub mod math;
pub mod navigation;
pub mod pattern;
pub mod precision;
pub mod resolve;
pub mod string;
pub mod subsetting;
pub mod terminology;
pub mod utility;

use crate::ast::{Ast, TypeSpec};
use crate::error::{eval_err, Error};
use crate::eval::{singleton_system, Eval, Frame};
pub use crate::func::{Family, Func};
use crate::value::{Collection, Item};

/// One call of a library function, as each family's `call` receives it:
/// the function, its argument expressions (evaluated by the family, some
/// lazily, some per item), its type argument (`is`, `as`, `ofType`), and
/// the evaluator and frame it runs in.
#[derive(Clone, Copy)]
pub struct Call<'c, 'a> {
    pub ev: &'c Eval<'c, 'a>,
    pub f: Func,
    pub args: &'c [Ast],
    pub ty: Option<&'c TypeSpec>,
    pub frame: &'c Frame<'c, 'a>,
}

/// Calls the family module that implements `f`.
pub fn call<'a>(
    ev: &Eval<'_, 'a>,
    f: Func,
    input: Collection<'a>,
    args: &[Ast],
    ty: Option<&TypeSpec>,
    frame: &Frame<'_, 'a>,
) -> Result<Collection<'a>, Error> {
    let family = match f.family() {
        Family::Existence => existence::call,
        Family::Filtering => filtering::call,
        Family::Subsetting => subsetting::call,
        Family::Combining => combining::call,
        Family::Utility => utility::call,
        Family::Conversion => conversion::call,
        Family::String => string::call,
        Family::Pattern => pattern::call,
        Family::Encoding => encoding::call,
        Family::Math => math::call,
        Family::Precision => precision::call,
        Family::Navigation => navigation::call,
        Family::Aggregate => aggregate::call,
        Family::Fhir => fhir::call,
        Family::Resolve => resolve::call,
        Family::Terminology => terminology::call,
    };
    let c = Call {
        ev,
        f,
        args,
        ty,
        frame,
    };
    family(c, input)
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
