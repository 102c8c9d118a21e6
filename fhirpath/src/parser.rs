//! A precedence-climbing parser for the FHIRPath grammar, producing the
//! compiled [`Ast`].

use crate::ast::{Ast, BinOp, TypeSpec};
use crate::datetime::Temporal;
use crate::decimal::Decimal;
use crate::error::Error;
use crate::func::Func;
use crate::lexer::{lex, Tok};
use crate::quantity::{is_calendar_word, Quantity};
use crate::value::Item;

/// Deeper nesting than this is refused: evaluation (and dropping the
/// tree) recurses once per level. Chains count too (`a | b | c` and
/// `a.b.c` nest to the left), so this bounds the tree's depth. All 1,375
/// R4 search-parameter expressions fit; 128 levels also evaluate on a 2 MB
/// thread stack in a debug build (see `hostile_expressions_fail_cleanly`).
pub const MAX_DEPTH: usize = 128;

pub fn parse(src: &str) -> Result<Ast, Error> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let ast = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(Error::Syntax(format!("unexpected {:?}", p.toks.get(p.pos))));
    }
    Ok(ast)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Binary operators by precedence level (higher binds tighter).
fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::Op(op) => match *op {
            "*" => (BinOp::Mul, 10),
            "/" => (BinOp::Div, 10),
            "+" => (BinOp::Add, 9),
            "-" => (BinOp::Sub, 9),
            "&" => (BinOp::Concat, 9),
            "|" => (BinOp::Union, 7),
            "<" => (BinOp::Lt, 6),
            "<=" => (BinOp::Le, 6),
            ">" => (BinOp::Gt, 6),
            ">=" => (BinOp::Ge, 6),
            "=" => (BinOp::Eq, 5),
            "!=" => (BinOp::Ne, 5),
            "~" => (BinOp::Equiv, 5),
            "!~" => (BinOp::NotEquiv, 5),
            _ => return None,
        },
        Tok::Ident(w, false) => match w.as_str() {
            "div" => (BinOp::IntDiv, 10),
            "mod" => (BinOp::Mod, 10),
            "in" => (BinOp::In, 4),
            "contains" => (BinOp::Contains, 4),
            "and" => (BinOp::And, 3),
            "or" => (BinOp::Or, 2),
            "xor" => (BinOp::Xor, 2),
            "implies" => (BinOp::Implies, 1),
            _ => return None,
        },
        _ => return None,
    })
}

/// Precedence of `is` / `as`.
const TYPE_OP: u8 = 8;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn expect(&mut self, op: &str) -> Result<(), Error> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Error::Syntax(format!(
                "expected '{op}', found {:?}",
                self.peek()
            )))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        Ok(())
    }

    fn expr(&mut self, min: u8) -> Result<Ast, Error> {
        self.enter()?;
        let entered = self.depth;
        let mut left = self.unary()?;
        while self.peek().is_some() {
            // Each operator adds a level above `left`.
            self.enter()?;
            let Some(t) = self.peek() else { break };
            if let Tok::Ident(w, false) = t {
                if (w == "is" || w == "as") && TYPE_OP >= min {
                    let is = w == "is";
                    self.pos += 1;
                    let ty = self.type_spec()?;
                    left = if is {
                        Ast::Is(Box::new(left), ty)
                    } else {
                        Ast::As(Box::new(left), ty)
                    };
                    continue;
                }
            }
            let Some((op, prec)) = binop(t) else { break };
            if prec < min {
                break;
            }
            self.pos += 1;
            let right = self.expr(prec + 1)?;
            left = Ast::Binary(op, Box::new(left), Box::new(right));
        }
        self.depth = entered - 1;
        Ok(left)
    }

    fn type_spec(&mut self) -> Result<TypeSpec, Error> {
        checked(self.type_spec_unchecked()?)
    }

    fn type_spec_unchecked(&mut self) -> Result<TypeSpec, Error> {
        let first = match self.next() {
            Some(Tok::Ident(n, _)) => n,
            t => return Err(Error::Syntax(format!("expected a type, found {t:?}"))),
        };
        if self.is_op(".") {
            if let Some(Tok::Ident(n, _)) = self.toks.get(self.pos + 1).cloned() {
                self.pos += 2;
                return Ok(TypeSpec {
                    namespace: Some(first),
                    name: n,
                });
            }
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn unary(&mut self) -> Result<Ast, Error> {
        if self.is_op("-") || self.is_op("+") {
            let neg = self.is_op("-");
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(if neg {
                Ast::Neg(Box::new(inner))
            } else {
                inner
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Ast, Error> {
        let entered = self.depth;
        let mut e = self.term()?;
        let result = loop {
            // Each `.x` or `[i]` adds a level above `e`.
            if self.is_op(".") || self.is_op("[") {
                self.enter()?;
            }
            if self.is_op(".") {
                self.pos += 1;
                let name = match self.next() {
                    Some(Tok::Ident(n, _)) => n,
                    t => {
                        return Err(Error::Syntax(format!(
                            "expected a name after '.', found {t:?}"
                        )))
                    }
                };
                if self.is_op("(") {
                    e = self.call(Some(e), &name)?;
                } else {
                    check_member(&e, &name)?;
                    e = Ast::Member(Box::new(e), name);
                }
            } else if self.is_op("[") {
                self.pos += 1;
                let idx = self.expr(0)?;
                self.expect("]")?;
                e = Ast::Index(Box::new(e), Box::new(idx));
            } else {
                break Ok(e);
            }
        };
        self.depth = entered;
        result
    }

    fn call(&mut self, target: Option<Ast>, name: &str) -> Result<Ast, Error> {
        self.expect("(")?;
        let mut args = Vec::new();
        if !self.is_op(")") {
            loop {
                args.push(self.expr(0)?);
                if self.is_op(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(")")?;
        let func = Func::lookup(name, args.len())?;
        let ty = if func.takes_type() {
            match args.first() {
                Some(a) => Some(checked(ast_type(a)?)?),
                None => None,
            }
        } else {
            None
        };
        Ok(Ast::Call {
            target: target.map(Box::new),
            func,
            args,
            ty,
        })
    }

    fn term(&mut self) -> Result<Ast, Error> {
        let t = self
            .next()
            .ok_or_else(|| Error::Syntax("unexpected end of expression".into()))?;
        Ok(match t {
            Tok::Number(n) => {
                // A quantity: number followed by a unit string or a calendar word.
                match self.peek().cloned() {
                    Some(Tok::Str(unit)) => {
                        self.pos += 1;
                        let v = Decimal::parse(&n)
                            .ok_or_else(|| Error::Syntax(format!("bad number {n}")))?;
                        Ast::Literal(Item::Quantity(Quantity::new(v, &unit)))
                    }
                    Some(Tok::Ident(w, false)) if is_calendar_word(&w) => {
                        self.pos += 1;
                        let v = Decimal::parse(&n)
                            .ok_or_else(|| Error::Syntax(format!("bad number {n}")))?;
                        Ast::Literal(Item::Quantity(Quantity::new(v, &w)))
                    }
                    _ => {
                        if n.contains('.') {
                            Ast::Literal(Item::Decimal(
                                Decimal::parse(&n)
                                    .ok_or_else(|| Error::Syntax(format!("bad number {n}")))?,
                            ))
                        } else {
                            match n.parse::<i64>() {
                                Ok(i) if i <= i64::from(i32::MAX) => Ast::Literal(Item::Integer(i)),
                                _ => Ast::Literal(Item::Decimal(
                                    Decimal::parse(&n)
                                        .ok_or_else(|| Error::Syntax(format!("bad number {n}")))?,
                                )),
                            }
                        }
                    }
                }
            }
            Tok::Str(s) => Ast::Literal(Item::String(s)),
            Tok::DateTime(s) => {
                if s.contains('T') {
                    Ast::Literal(Item::DateTime(
                        Temporal::parse_datetime(&s)
                            .ok_or_else(|| Error::Syntax(format!("bad date/time @{s}")))?,
                    ))
                } else {
                    Ast::Literal(Item::Date(
                        Temporal::parse_date(&s)
                            .ok_or_else(|| Error::Syntax(format!("bad date @{s}")))?,
                    ))
                }
            }
            Tok::Time(s) => Ast::Literal(Item::Time(
                Temporal::parse_time(&s).ok_or_else(|| Error::Syntax(format!("bad time @T{s}")))?,
            )),
            Tok::Var(v) => Ast::Var(v),
            Tok::Special(s) => match s.as_str() {
                "this" => Ast::This,
                "index" => Ast::IndexVar,
                "total" => Ast::Total,
                _ => return Err(Error::Syntax(format!("unknown ${s}"))),
            },
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                e
            }
            Tok::Op("{") => {
                self.expect("}")?;
                Ast::Empty
            }
            Tok::Ident(w, delimited) => {
                if !delimited && (w == "true" || w == "false") {
                    Ast::Literal(Item::Boolean(w == "true"))
                } else if self.is_op("(") {
                    self.call(None, &w)?
                } else {
                    Ast::Ident(w)
                }
            }
            t => return Err(Error::Syntax(format!("unexpected {t:?}"))),
        })
    }
}

/// The type named by a function argument (`ofType(FHIR.Quantity)`).
fn ast_type(a: &Ast) -> Result<TypeSpec, Error> {
    match a {
        Ast::Ident(n) => Ok(TypeSpec {
            namespace: None,
            name: n.clone(),
        }),
        Ast::Member(ns, n) => match ns.as_ref() {
            Ast::Ident(ns) => Ok(TypeSpec {
                namespace: Some(ns.clone()),
                name: n.clone(),
            }),
            _ => Err(Error::Semantic("expected a type name".into())),
        },
        _ => Err(Error::Semantic("expected a type name".into())),
    }
}

fn checked(t: TypeSpec) -> Result<TypeSpec, Error> {
    // `System.Patient` names no type but is a well-formed test: false.
    if t.namespace.as_deref() == Some("System")
        || crate::value::known_type(t.namespace.as_deref(), &t.name)
    {
        Ok(t)
    } else {
        Err(Error::Semantic(format!("unknown type {}", t.name)))
    }
}

/// `(x as Period).unit`: after `as`/`ofType` the type is known, so a name
/// that type does not have is an error now rather than an empty result
/// later (the official suite's testPolymorphismAsB).
fn check_member(base: &Ast, name: &str) -> Result<(), Error> {
    let ty = match base {
        Ast::As(_, ty) => ty,
        Ast::Call {
            func: Func::As | Func::OfType,
            ty: Some(ty),
            ..
        } => ty,
        _ => return Ok(()),
    };
    if ty.namespace.as_deref() == Some("System") {
        return Ok(());
    }
    let Some(info) = fhir_model::meta::type_info(&ty.name) else {
        return Ok(());
    };
    if info.kind == fhir_model::meta::Kind::Backbone || info.element(name).is_some() {
        return Ok(());
    }
    Err(Error::Semantic(format!(
        "{} has no element '{name}'",
        ty.name
    )))
}
