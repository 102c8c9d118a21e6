//! Exact decimals: an `i128` mantissa and a decimal scale.
//!
//! FHIRPath decimals must keep their precision (`1.10 ~ 1.1` compares at
//! the precision of the less precise side, `precision()` counts written
//! digits), which binary floats cannot do. We keep our own small type
//! rather than pull in a decimal crate: the operations needed are few, and
//! the text form (scale included) is what FHIR carries anyway.

use std::cmp::Ordering;

/// The most digits after the point we keep from a division.
const DIV_SCALE: u32 = 8;
const MAX_SCALE: u32 = 28;

#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    pub mantissa: i128,
    pub scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    pub fn from_int(i: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(i),
            scale: 0,
        }
    }

    /// Parses `-12.50`, `1e3`, `1.0E-2`.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (num, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, digits) = match num.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, num.strip_prefix('+').unwrap_or(num)),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.contains('.') && frac.is_empty() {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || int.len() + frac.len() > 36 {
            return None;
        }
        let mut m: i128 = format!("{int}{frac}").parse().ok()?;
        if neg {
            m = -m;
        }
        let mut scale = frac.len() as i64 - i64::from(exp);
        while scale < 0 {
            m = m.checked_mul(10)?;
            scale += 1;
        }
        let mut d = Decimal {
            mantissa: m,
            scale: u32::try_from(scale).ok()?,
        };
        while d.scale > MAX_SCALE {
            d = d.round(MAX_SCALE);
        }
        Some(d)
    }

    pub fn is_integer(&self) -> bool {
        self.normalized().scale == 0
    }

    pub fn to_i64(&self) -> Option<i64> {
        let n = self.normalized();
        if n.scale != 0 {
            return None;
        }
        i64::try_from(n.mantissa).ok()
    }

    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    pub fn from_f64(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        let s = format!("{f:.8}");
        Decimal::parse(&s).map(|d| d.normalized())
    }

    /// Without trailing zeros after the point.
    pub fn normalized(&self) -> Decimal {
        let mut d = *self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    fn rescale(&self, scale: u32) -> Option<i128> {
        if scale >= self.scale {
            self.mantissa.checked_mul(pow10(scale - self.scale)?)
        } else {
            None
        }
    }

    pub fn add(&self, o: &Decimal) -> Option<Decimal> {
        let s = self.scale.max(o.scale);
        Some(Decimal {
            mantissa: self.rescale(s)?.checked_add(o.rescale(s)?)?,
            scale: s,
        })
    }

    pub fn neg(&self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.saturating_neg(),
            scale: self.scale,
        }
    }

    pub fn sub(&self, o: &Decimal) -> Option<Decimal> {
        self.add(&o.neg())
    }

    pub fn mul(&self, o: &Decimal) -> Option<Decimal> {
        let mut d = Decimal {
            mantissa: self.mantissa.checked_mul(o.mantissa)?,
            scale: self.scale + o.scale,
        };
        if d.scale > MAX_SCALE {
            d = d.round(MAX_SCALE);
        }
        Some(d)
    }

    /// `None` on division by zero or overflow.
    pub fn div(&self, o: &Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        // a/b = (ma * 10^(k)) / mb * 10^-(sa + k - sb)
        let target = DIV_SCALE + 1;
        let k = target + o.scale;
        let num = self.mantissa.checked_mul(pow10(k)?)?;
        let q = num / o.mantissa;
        let d = Decimal {
            mantissa: q,
            scale: self.scale + k - o.scale,
        };
        Some(d.round(DIV_SCALE).normalized())
    }

    /// Rounds half away from zero to `places` digits after the point.
    pub fn round(&self, places: u32) -> Decimal {
        if self.scale <= places {
            return *self;
        }
        let Some(f) = pow10(self.scale - places) else {
            return Decimal {
                mantissa: 0,
                scale: places,
            };
        };
        let q = self.mantissa / f;
        let r = self.mantissa % f;
        // In u128: twice a remainder below 10^38 does not fit an i128.
        let q = if r.unsigned_abs() * 2 >= f.unsigned_abs() {
            q + self.mantissa.signum()
        } else {
            q
        };
        Decimal {
            mantissa: q,
            scale: places,
        }
    }

    /// Toward zero, to an integer.
    pub fn truncate(&self) -> Decimal {
        match pow10(self.scale) {
            Some(f) => Decimal {
                mantissa: self.mantissa / f,
                scale: 0,
            },
            None => Decimal::from_int(0),
        }
    }

    pub fn floor(&self) -> Decimal {
        let t = self.truncate();
        if self.mantissa < 0 && t.cmp_to(self) != Ordering::Equal {
            Decimal {
                mantissa: t.mantissa - 1,
                scale: 0,
            }
        } else {
            t
        }
    }

    pub fn ceiling(&self) -> Decimal {
        let t = self.truncate();
        if self.mantissa > 0 && t.cmp_to(self) != Ordering::Equal {
            Decimal {
                mantissa: t.mantissa + 1,
                scale: 0,
            }
        } else {
            t
        }
    }

    pub fn abs(&self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.saturating_abs(),
            scale: self.scale,
        }
    }

    pub fn cmp_to(&self, o: &Decimal) -> Ordering {
        let s = self.scale.max(o.scale);
        match (self.rescale(s), o.rescale(s)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.to_f64().total_cmp(&o.to_f64()),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let text = if scale == 0 {
            digits
        } else if digits.len() > scale {
            let (i, fr) = digits.split_at(digits.len() - scale);
            format!("{i}.{fr}")
        } else {
            format!("0.{}{digits}", "0".repeat(scale - digits.len()))
        };
        if neg {
            write!(f, "-{text}")
        } else {
            f.write_str(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect(s)
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(
            d("0.1").add(&d("0.2")).map(|x| x.to_string()),
            Some("0.3".into())
        );
        assert_eq!(
            d("1.2").div(&d("1.8")).map(|x| x.round(2).to_string()),
            Some("0.67".into())
        );
        assert_eq!(d("1e2").to_string(), "100");
        assert_eq!(d("-1.5").round(0).to_string(), "-2");
        assert_eq!(d("-1.5").floor().to_string(), "-2");
    }
}
