//! Partial dates, date-times and times, with the precision they were
//! written with.
//!
//! FHIRPath compares temporal values only down to the precision both sides
//! have: `@2012 = @2012-04` is empty (unknown), not false, and seconds and
//! milliseconds count as one precision (`@T10:00:00 = @T10:00:00.0`).

use std::cmp::Ordering;

/// A date and/or time. Fields beyond `precision` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Temporal {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// 1 year … 3 day (dates), 4 hour, 5 minute, 6 second, 7 millisecond.
    pub precision: u8,
    /// Offset from UTC in minutes, when written.
    pub tz: Option<i32>,
    /// Whether the value was written with fractional seconds digits, and
    /// how many (for `precision()` and output).
    pub frac_digits: u8,
}

pub const YEAR: u8 = 1;
pub const MONTH: u8 = 2;
pub const DAY: u8 = 3;
pub const HOUR: u8 = 4;
pub const MINUTE: u8 = 5;
pub const SECOND: u8 = 6;
pub const MILLI: u8 = 7;

fn num(s: &str, len: usize) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Temporal {
    /// Sets the date and time fields (not the precision or zone) from a
    /// chrono value; a leap second's extra milliseconds wrap.
    pub(crate) fn set_fields(&mut self, dt: &(impl chrono::Datelike + chrono::Timelike)) {
        self.year = dt.year();
        self.month = dt.month();
        self.day = dt.day();
        self.hour = dt.hour();
        self.minute = dt.minute();
        self.second = dt.second();
        self.millis = dt.nanosecond() / 1_000_000 % 1000;
    }

    fn empty() -> Temporal {
        Temporal {
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
            precision: 0,
            tz: None,
            frac_digits: 0,
        }
    }

    /// `2012`, `2012-04`, `2012-04-15`.
    pub fn parse_date(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty();
        let mut parts = s.split('-');
        t.year = num(parts.next()?, 4)? as i32;
        t.precision = YEAR;
        t.month = 1;
        t.day = 1;
        if let Some(m) = parts.next() {
            t.month = num(m, 2)?;
            if !(1..=12).contains(&t.month) {
                return None;
            }
            t.precision = MONTH;
            if let Some(d) = parts.next() {
                t.day = num(d, 2)?;
                if t.day < 1 || t.day > days_in_month(t.year, t.month) {
                    return None;
                }
                t.precision = DAY;
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(t)
    }

    /// `14`, `14:30`, `14:30:15`, `14:30:15.123` (no offset).
    pub fn parse_time(s: &str) -> Option<Temporal> {
        let mut t = Temporal::empty();
        t.fill_time(s)?;
        Some(t)
    }

    fn fill_time(&mut self, s: &str) -> Option<()> {
        let mut parts = s.split(':');
        self.hour = num(parts.next()?, 2)?;
        self.precision = HOUR;
        if self.hour > 23 {
            return None;
        }
        if let Some(m) = parts.next() {
            self.minute = num(m, 2)?;
            self.precision = MINUTE;
            if self.minute > 59 {
                return None;
            }
            if let Some(sec) = parts.next() {
                let (whole, frac) = match sec.split_once('.') {
                    Some((w, f)) => (w, Some(f)),
                    None => (sec, None),
                };
                self.second = num(whole, 2)?;
                if self.second > 59 {
                    return None;
                }
                self.precision = SECOND;
                if let Some(f) = frac {
                    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let mut ms = String::from(f);
                    ms.truncate(3);
                    while ms.len() < 3 {
                        ms.push('0');
                    }
                    self.millis = ms.parse().ok()?;
                    self.precision = MILLI;
                    self.frac_digits = f.len().min(9) as u8;
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some(())
    }

    /// `2012-04-15T10:00:00+02:00`, `2012T`, `2012-04-15T10`, or a plain date.
    pub fn parse_datetime(s: &str) -> Option<Temporal> {
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut t = Temporal::parse_date(date)?;
        let Some(time) = time else {
            return Some(t);
        };
        if time.is_empty() {
            return Some(t);
        }
        let (clock, tz) = if let Some(c) = time.strip_suffix('Z') {
            (c, Some(0))
        } else if let Some(i) = time.rfind(['+', '-']) {
            let (c, off) = time.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':')?;
            let (h, m) = (num(h, 2)? as i32, num(m, 2)? as i32);
            if h > 14 || m > 59 {
                return None;
            }
            (c, Some(sign * (h * 60 + m)))
        } else {
            (time, None)
        };
        if t.precision != DAY {
            return None;
        }
        t.fill_time(clock)?;
        t.tz = tz;
        Some(t)
    }

    /// Seconds and milliseconds compare as one precision.
    fn cmp_precision(&self) -> u8 {
        self.precision.min(SECOND)
    }

    /// Shifted to UTC when an offset is known (dates are left alone).
    fn utc(&self) -> Temporal {
        let Some(off) = self.tz else { return *self };
        if self.precision < HOUR || off == 0 {
            return *self;
        }
        let mut t = *self;
        let mut mins = i64::from(t.hour) * 60 + i64::from(t.minute) - i64::from(off);
        let mut day_shift = 0i64;
        while mins < 0 {
            mins += 1440;
            day_shift -= 1;
        }
        while mins >= 1440 {
            mins -= 1440;
            day_shift += 1;
        }
        t.hour = (mins / 60) as u32;
        t.minute = (mins % 60) as u32;
        if day_shift != 0 {
            if let Some(d) = chrono::NaiveDate::from_ymd_opt(t.year, t.month, t.day)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(day_shift)))
            {
                use chrono::Datelike;
                t.year = d.year();
                t.month = d.month();
                t.day = d.day();
            }
        }
        t.tz = Some(0);
        t
    }

    fn fields(&self) -> [i64; 7] {
        [
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
            i64::from(self.hour),
            i64::from(self.minute),
            i64::from(self.second) * 1000 + i64::from(self.millis),
            0,
        ]
    }

    /// `Some(order)` when the two are comparable, `None` when the answer
    /// depends on digits one side does not have. `time` marks Time values,
    /// whose fields start at the hour.
    pub fn compare(&self, o: &Temporal, time: bool) -> Option<Ordering> {
        let (a, b) = if self.tz.is_some() && o.tz.is_some() {
            (self.utc(), o.utc())
        } else if self.tz.is_some() != o.tz.is_some()
            && self.precision >= HOUR
            && o.precision >= HOUR
        {
            // One side's offset is unknown: so is the answer.
            return None;
        } else {
            (*self, *o)
        };
        let (fa, fb) = (a.fields(), b.fields());
        let start = if time { 3 } else { 0 };
        let pa = a.cmp_precision() as usize;
        let pb = b.cmp_precision() as usize;
        let common = pa.min(pb);
        for i in start..common {
            match fa[i].cmp(&fb[i]) {
                Ordering::Equal => {}
                other => return Some(other),
            }
        }
        if pa == pb {
            Some(Ordering::Equal)
        } else {
            None
        }
    }

    pub fn format_date(&self) -> String {
        let mut s = format!("{:04}", self.year);
        if self.precision >= MONTH {
            s += &format!("-{:02}", self.month);
        }
        if self.precision >= DAY {
            s += &format!("-{:02}", self.day);
        }
        s
    }

    pub fn format_time(&self) -> String {
        let mut s = format!("{:02}", self.hour);
        if self.precision >= MINUTE {
            s += &format!(":{:02}", self.minute);
        }
        if self.precision >= SECOND {
            s += &format!(":{:02}", self.second);
        }
        if self.precision >= MILLI {
            s += &format!(".{:03}", self.millis);
        }
        s
    }

    pub fn format_datetime(&self) -> String {
        let mut s = self.format_date();
        if self.precision >= HOUR {
            s.push('T');
            s += &self.format_time();
            match self.tz {
                Some(0) => s.push('Z'),
                Some(off) => {
                    let sign = if off < 0 { '-' } else { '+' };
                    s += &format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60);
                }
                None => {}
            }
        }
        s
    }

    /// Adds a calendar amount (`unit` in FHIRPath words) for date arithmetic.
    pub fn add(&self, amount: i64, unit: &str) -> Option<Temporal> {
        use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
        let mut t = *self;
        match unit {
            "year" | "years" | "a" => {
                t.year = i32::try_from(i64::from(t.year).checked_add(amount)?).ok()?;
                t.day = t.day.min(days_in_month(t.year, t.month.max(1)));
                return Some(t);
            }
            "month" | "months" | "mo" => {
                let total =
                    (i64::from(t.year) * 12 + i64::from(t.month.max(1)) - 1).checked_add(amount)?;
                t.year = i32::try_from(total.div_euclid(12)).ok()?;
                t.month = (total.rem_euclid(12) + 1) as u32;
                t.day = t.day.min(days_in_month(t.year, t.month));
                return Some(t);
            }
            _ => {}
        }
        let millis: i64 = match unit {
            "week" | "weeks" | "wk" => amount.checked_mul(7 * 86_400_000)?,
            "day" | "days" | "d" => amount.checked_mul(86_400_000)?,
            "hour" | "hours" | "h" => amount.checked_mul(3_600_000)?,
            "minute" | "minutes" | "min" => amount.checked_mul(60_000)?,
            "second" | "seconds" | "s" => amount.checked_mul(1000)?,
            "millisecond" | "milliseconds" | "ms" => amount,
            _ => return None,
        };
        let date = NaiveDate::from_ymd_opt(t.year, t.month.max(1), t.day.max(1))?;
        let time = NaiveTime::from_hms_milli_opt(t.hour, t.minute, t.second, t.millis)?;
        let dt = NaiveDateTime::new(date, time)
            .checked_add_signed(chrono::Duration::milliseconds(millis))?;
        t.set_fields(&dt);
        Some(t)
    }

    /// The same value with a time part of the given precision (for
    /// `toDateTime`); used on dates.
    pub fn with_tz(mut self, tz: Option<i32>) -> Temporal {
        self.tz = tz;
        self
    }

    pub fn days_in_month(&self) -> u32 {
        days_in_month(self.year, self.month.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_decides_comparability() {
        let a = Temporal::parse_datetime("2012-04-15T15:30:31").expect("a");
        let b = Temporal::parse_datetime("2012-04-15T15:30:31.0").expect("b");
        assert_eq!(a.compare(&b, false), Some(Ordering::Equal));
        let c = Temporal::parse_date("2012").expect("c");
        assert_eq!(a.compare(&c, false), None);
        assert!(Temporal::parse_date("2012-02-30").is_none());
    }
}
