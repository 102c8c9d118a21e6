//! UCUM canonicalisation, good enough for clinical units, so a quantity
//! search in one unit finds values stored in another (`5.4 mg` finds
//! `5400 ug`, `mg/dL` compares with `g/L`).
//!
//! A unit is parsed into a product of atoms with integer exponents
//! (`.` multiplies, `/` divides the next component, `(…)` groups,
//! `{…}` annotations count as 1, `10*3` and `10^3` are factors); every atom
//! becomes base units times a factor. The canonical code lists the base
//! units sorted, each with its exponent unless 1 (`g.m-3`, `m3`, `s-1`,
//! `1` for a pure number).
//!
//! Base units: `g`, `m`, `s`, `mol`, `K`; kept as they are (no
//! conversion): `Cel` (affine), `[IU]` (arbitrary), `m[Hg]` and `m[H2O]`
//! (pressure as a column height, prefixes allowed: `mm[Hg]`).
//! Unknown atoms make the whole unit unknown (`None`).

use std::collections::BTreeMap;

const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("Y", 1e24),
    ("Z", 1e21),
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("h", 1e2),
    ("d", 1e-1),
    ("c", 1e-2),
    ("m", 1e-3),
    ("u", 1e-6),
    ("\u{03BC}", 1e-6),
    ("\u{00B5}", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
    ("z", 1e-21),
    ("y", 1e-24),
];

/// One atom: whether it takes metric prefixes, its factor, and its base
/// units with exponents.
struct Atom {
    code: &'static str,
    metric: bool,
    factor: f64,
    base: &'static [(&'static str, i32)],
}

#[rustfmt::skip]
const ATOMS: &[Atom] = &[
    Atom { code: "g", metric: true, factor: 1.0, base: &[("g", 1)] },
    Atom { code: "m", metric: true, factor: 1.0, base: &[("m", 1)] },
    Atom { code: "s", metric: true, factor: 1.0, base: &[("s", 1)] },
    Atom { code: "mol", metric: true, factor: 1.0, base: &[("mol", 1)] },
    Atom { code: "K", metric: true, factor: 1.0, base: &[("K", 1)] },
    Atom { code: "L", metric: true, factor: 1e-3, base: &[("m", 3)] },
    Atom { code: "l", metric: true, factor: 1e-3, base: &[("m", 3)] },
    Atom { code: "Hz", metric: true, factor: 1.0, base: &[("s", -1)] },
    Atom { code: "Pa", metric: true, factor: 1e3, base: &[("g", 1), ("m", -1), ("s", -2)] },
    Atom { code: "bar", metric: true, factor: 1e8, base: &[("g", 1), ("m", -1), ("s", -2)] },
    Atom { code: "J", metric: true, factor: 1e3, base: &[("g", 1), ("m", 2), ("s", -2)] },
    Atom { code: "W", metric: true, factor: 1e3, base: &[("g", 1), ("m", 2), ("s", -3)] },
    Atom { code: "N", metric: true, factor: 1e3, base: &[("g", 1), ("m", 1), ("s", -2)] },
    // UCUM: the equivalent is 1 mol; the enzyme unit is 1 umol/min.
    Atom { code: "eq", metric: true, factor: 1.0, base: &[("mol", 1)] },
    Atom { code: "U", metric: true, factor: 1e-6 / 60.0, base: &[("mol", 1), ("s", -1)] },
    Atom { code: "[IU]", metric: true, factor: 1.0, base: &[("[IU]", 1)] },
    Atom { code: "[iU]", metric: true, factor: 1.0, base: &[("[IU]", 1)] },
    Atom { code: "Cel", metric: false, factor: 1.0, base: &[("Cel", 1)] },
    Atom { code: "min", metric: false, factor: 60.0, base: &[("s", 1)] },
    Atom { code: "h", metric: false, factor: 3600.0, base: &[("s", 1)] },
    Atom { code: "d", metric: false, factor: 86_400.0, base: &[("s", 1)] },
    Atom { code: "wk", metric: false, factor: 604_800.0, base: &[("s", 1)] },
    // The mean Julian month and year.
    Atom { code: "mo", metric: false, factor: 2_629_800.0, base: &[("s", 1)] },
    Atom { code: "a", metric: false, factor: 31_557_600.0, base: &[("s", 1)] },
    Atom { code: "[in_i]", metric: false, factor: 0.0254, base: &[("m", 1)] },
    Atom { code: "[ft_i]", metric: false, factor: 0.3048, base: &[("m", 1)] },
    Atom { code: "[lb_av]", metric: false, factor: 453.592_37, base: &[("g", 1)] },
    Atom { code: "[oz_av]", metric: false, factor: 28.349_523_125, base: &[("g", 1)] },
    Atom { code: "%", metric: false, factor: 0.01, base: &[] },
    Atom { code: "m[Hg]", metric: true, factor: 1.0, base: &[("m[Hg]", 1)] },
    Atom { code: "m[H2O]", metric: true, factor: 1.0, base: &[("m[H2O]", 1)] },
];

/// Exponents beyond this are not units but attacks.
const MAX_EXPONENT: i32 = 24;
/// Nesting of parentheses.
const MAX_DEPTH: usize = 8;

/// A product of base units with a factor.
#[derive(Debug, Clone, PartialEq)]
struct Dim {
    factor: f64,
    units: BTreeMap<&'static str, i32>,
}

impl Dim {
    fn one() -> Dim {
        Dim {
            factor: 1.0,
            units: BTreeMap::new(),
        }
    }

    fn mul(&mut self, o: &Dim, sign: i32) -> Option<()> {
        self.factor = if sign < 0 {
            self.factor / o.factor
        } else {
            self.factor * o.factor
        };
        for (u, e) in &o.units {
            let slot = self.units.entry(u).or_insert(0);
            *slot = slot.checked_add(e.checked_mul(sign)?)?;
        }
        self.units.retain(|_, e| *e != 0);
        Some(())
    }

    fn pow(&self, exp: i32) -> Option<Dim> {
        let mut units = BTreeMap::new();
        for (u, e) in &self.units {
            units.insert(*u, e.checked_mul(exp)?);
        }
        Some(Dim {
            factor: self.factor.powi(exp),
            units,
        })
    }

    fn code(&self) -> String {
        if self.units.is_empty() {
            return "1".to_owned();
        }
        let mut out = String::new();
        for (u, e) in &self.units {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(u);
            if *e != 1 {
                out.push_str(&e.to_string());
            }
        }
        out
    }
}

/// The canonical code of UCUM unit `code` and `value` expressed in it
/// (rounded to 12 significant digits); `None` when the unit is not
/// understood or the value does not stay finite.
pub fn canonical(code: &str, value: f64) -> Option<(String, f64)> {
    if !value.is_finite() || code.len() > 256 {
        return None;
    }
    let dim = parse_unit(code)?;
    let v = round_sig(value * dim.factor, 12)?;
    Some((dim.code(), v))
}

/// `x` rounded to `digits` significant digits; `None` when not finite.
pub fn round_sig(x: f64, digits: usize) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some(0.0);
    }
    let text = format!("{:.*e}", digits.saturating_sub(1), x);
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_unit(code: &str) -> Option<Dim> {
    let code = code.trim();
    if code.is_empty() {
        return None;
    }
    let chars: Vec<char> = code.chars().collect();
    let mut p = Parser { s: &chars, i: 0 };
    let dim = p.term(0)?;
    if p.i != chars.len() {
        return None;
    }
    dim.factor
        .is_finite()
        .then_some(dim)
        .filter(|d| d.factor > 0.0)
}

struct Parser<'s> {
    s: &'s [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    /// `['/'] component (('.' | '/') component)*`
    fn term(&mut self, depth: usize) -> Option<Dim> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut dim = Dim::one();
        let mut sign = 1;
        if self.peek() == Some('/') {
            self.i += 1;
            sign = -1;
        }
        loop {
            let c = self.component(depth)?;
            dim.mul(&c, sign)?;
            match self.peek() {
                Some('.') => sign = 1,
                Some('/') => sign = -1,
                _ => return Some(dim),
            }
            self.i += 1;
        }
    }

    /// `'(' term ')'`, an annotation, or an atom with an exponent and an
    /// optional annotation.
    fn component(&mut self, depth: usize) -> Option<Dim> {
        if self.peek() == Some('(') {
            self.i += 1;
            let d = self.term(depth + 1)?;
            if self.peek() != Some(')') {
                return None;
            }
            self.i += 1;
            self.skip_annotation()?;
            return Some(d);
        }
        // The text up to the next operator outside brackets.
        let start = self.i;
        let mut bracket = false;
        while let Some(c) = self.peek() {
            match c {
                '[' if !bracket => bracket = true,
                ']' if bracket => bracket = false,
                '.' | '/' | '(' | ')' | '{' if !bracket => break,
                _ => {}
            }
            self.i += 1;
        }
        if bracket {
            return None;
        }
        let text: String = self.s[start..self.i].iter().collect();
        let had_annotation = self.peek() == Some('{');
        self.skip_annotation()?;
        if text.is_empty() {
            // A bare annotation (`{cells}`) stands for 1.
            return had_annotation.then(Dim::one);
        }
        simple(&text)
    }

    fn skip_annotation(&mut self) -> Option<()> {
        if self.peek() != Some('{') {
            return Some(());
        }
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == '}' {
                return Some(());
            }
        }
        None
    }
}

/// An atom with an optional exponent, `10*n`/`10^n`, or a number.
fn simple(text: &str) -> Option<Dim> {
    if let Some(exp) = text
        .strip_prefix("10*")
        .or_else(|| text.strip_prefix("10^"))
    {
        let e = parse_exponent(exp)?;
        return Some(Dim {
            factor: 10f64.powi(e),
            units: BTreeMap::new(),
        });
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let f: f64 = text.parse().ok()?;
        return (f.is_finite() && f > 0.0).then(|| Dim {
            factor: f,
            units: BTreeMap::new(),
        });
    }
    // Split a trailing signed integer exponent (`m2`, `s-1`).
    let digits_at = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit())
        .last()
        .map(|(i, _)| i);
    let (atom, exp) = match digits_at {
        Some(i) => {
            let before = &text[..i];
            let at = if before.ends_with(['+', '-']) {
                i - 1
            } else {
                i
            };
            (&text[..at], parse_exponent(&text[at..])?)
        }
        None => (text, 1),
    };
    if atom.is_empty() {
        return None;
    }
    atom_dim(atom)?.pow(exp)
}

fn parse_exponent(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let e: i32 = s.parse().ok()?;
    (e.abs() <= MAX_EXPONENT).then_some(e)
}

fn atom_dim(atom: &str) -> Option<Dim> {
    let found = |code: &str| ATOMS.iter().find(|a| a.code == code);
    if let Some(a) = found(atom) {
        return Some(to_dim(a, 1.0));
    }
    for (prefix, f) in PREFIXES {
        if let Some(rest) = atom.strip_prefix(prefix) {
            if let Some(a) = found(rest).filter(|a| a.metric) {
                return Some(to_dim(a, *f));
            }
        }
    }
    None
}

fn to_dim(a: &Atom, prefix: f64) -> Dim {
    Dim {
        factor: a.factor * prefix,
        units: a.base.iter().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    fn same(a: (&str, f64), b: (&str, f64)) {
        let x = canonical(a.0, a.1).expect("first unit understood");
        let y = canonical(b.0, b.1).expect("second unit understood");
        assert_eq!(x.0, y.0, "{a:?} vs {b:?}");
        assert!(
            (x.1 - y.1).abs() <= 1e-9 * x.1.abs().max(y.1.abs()),
            "{a:?} = {x:?} vs {b:?} = {y:?}"
        );
    }

    #[test]
    fn prefixes() {
        same(("mg", 5.4), ("ug", 5400.0));
        same(("mg", 1.0), ("\u{03BC}g", 1000.0));
        same(("kg", 1.0), ("g", 1000.0));
        assert_eq!(canonical("mg", 5.4), Some(("g".to_owned(), 0.0054)));
    }

    #[test]
    fn quotients() {
        same(("mg/dL", 1.0), ("g/L", 0.01));
        same(("mmol/L", 1.0), ("umol/mL", 1.0));
        same(("10*3/uL", 1.0), ("10*9/L", 1.0));
        assert_eq!(
            canonical("mg/dL", 1.0).map(|c| c.0),
            Some("g.m-3".to_owned())
        );
        assert_eq!(
            canonical("kg/m2", 1.0).map(|c| c.0),
            Some("g.m-2".to_owned())
        );
        assert_eq!(canonical("/min", 60.0), Some(("s-1".to_owned(), 1.0)));
        same(("mL/min", 1.0), ("L/h", 0.06));
        same(("g.m-3", 1.0), ("mg/L", 1.0));
    }

    #[test]
    fn time_and_others() {
        same(("min", 1.0), ("s", 60.0));
        same(("h", 1.0), ("min", 60.0));
        same(("wk", 1.0), ("d", 7.0));
        same(("%", 50.0), ("1", 0.5));
        same(("[lb_av]", 1.0), ("g", 453.59237));
        same(("[in_i]", 1.0), ("cm", 2.54));
        same(("mm[Hg]", 760.0), ("cm[Hg]", 76.0));
        same(("kPa", 1.0), ("Pa", 1000.0));
        same(("meq/L", 1.0), ("mmol/L", 1.0));
        same(("U/L", 1.0), ("mU/mL", 1.0));
        same(("mg{creat}/dL", 1.0), ("mg/dL", 1.0));
        same(("{cells}/uL", 1.0), ("/uL", 1.0));
        assert_eq!(canonical("Cel", 37.0), Some(("Cel".to_owned(), 37.0)));
        assert_eq!(
            canonical("[IU]/L", 2.0),
            Some(("[IU].m-3".to_owned(), 2000.0))
        );
        assert_eq!(canonical("m2", 1.0), Some(("m2".to_owned(), 1.0)));
        same(("mg/(kg.d)", 1.0), ("ug/(g.d)", 1.0));
    }

    #[test]
    fn unknown_and_hostile() {
        assert_eq!(canonical("foo", 1.0), None);
        assert_eq!(canonical("", 1.0), None);
        assert_eq!(canonical("[degF]", 1.0), None);
        assert_eq!(canonical("cd", 1.0), None); // c + day: day takes no prefix
        assert_eq!(canonical("mg", f64::NAN), None);
        assert_eq!(canonical("mg", f64::INFINITY), None);
        assert_eq!(canonical("m999999", 1.0), None);
        assert_eq!(canonical("10*99999/L", 1.0), None);
        assert_eq!(canonical("((((((((((m))))))))))", 1.0), None);
        assert_eq!(canonical("mg{unclosed", 1.0), None);
        assert_eq!(canonical("[in_i", 1.0), None);
        assert_eq!(canonical("mg/", 1.0), None);
        assert_eq!(canonical("Ym24/ym24", 1e300), None);
    }
}
