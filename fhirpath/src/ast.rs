//! The compiled form of an expression: a tree with function names and
//! type specifiers resolved, literals already turned into values.

use crate::func::Func;
use crate::value::Item;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A type specifier: `Quantity`, `FHIR.Patient`, `System.String`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub enum Ast {
    /// A literal; `'static` because it borrows nothing.
    Literal(Item<'static>),
    /// `{}`.
    Empty,
    /// An identifier that starts a path: a type name matching the focus,
    /// or an element of it.
    Ident(String),
    /// `expr.name`.
    Member(Box<Ast>, String),
    /// `expr.f(args)`, or `f(args)` on the focus when `target` is `None`.
    Call {
        target: Option<Box<Ast>>,
        func: Func,
        args: Vec<Ast>,
        /// The type argument of `is`, `as`, `ofType`.
        ty: Option<TypeSpec>,
    },
    Index(Box<Ast>, Box<Ast>),
    Neg(Box<Ast>),
    Binary(BinOp, Box<Ast>, Box<Ast>),
    Is(Box<Ast>, TypeSpec),
    As(Box<Ast>, TypeSpec),
    This,
    IndexVar,
    Total,
    Var(String),
}
