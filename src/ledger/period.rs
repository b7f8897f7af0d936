//! Periods in Europe/Amsterdam: day, month, calendar year and settlement year.
//!
//! A period is a half-open range of local dates `[start, end)`; its instants are the
//! local midnights, so a day in March or October is 23 or 25 hours long and a year
//! is as long as the clock on the wall says.

use std::fmt;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::TZ;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Day,
    Month,
    Year,
    /// The supplier's settlement year, which starts on the contract's day.
    Settlement,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Year => "year",
            Self::Settlement => "settlement",
        }
    }
}

impl std::str::FromStr for PeriodKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            "settlement" => Ok(Self::Settlement),
            _ => Err(format!(
                "unknown period `{s}`; expected day, month, year or settlement"
            )),
        }
    }
}

/// When settlement years start, and the tenancy that may cut the first and last short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementRule {
    /// Month and day the settlement year starts on (29 February is refused at load).
    pub month: u32,
    pub day: u32,
    /// First day of the tenancy (move-in), if the ledger should not count before it.
    pub move_in: Option<NaiveDate>,
    /// Last day of the tenancy (move-out), inclusive.
    pub move_out: Option<NaiveDate>,
}

impl Default for SettlementRule {
    fn default() -> Self {
        Self {
            month: 1,
            day: 1,
            move_in: None,
            move_out: None,
        }
    }
}

/// A period of whole local days, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    /// The first day after the period.
    pub end: NaiveDate,
}

/// Midnight at the start of local date `d`, as an instant.
pub fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_time(NaiveTime::MIN);
    // Dutch clocks change at 02:00/03:00, so midnight always exists exactly once.
    TZ.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// The start of every quarter hour of local date `d` (92 on the spring DST day, 100 in
/// autumn).
pub fn quarters_of(d: NaiveDate) -> impl Iterator<Item = DateTime<Utc>> {
    let (from, to) = (local_midnight(d), local_midnight(d + chrono::Days::new(1)));
    std::iter::successors(Some(from), |q| Some(*q + chrono::TimeDelta::minutes(15)))
        .take_while(move |q| *q < to)
}

/// The local date an instant falls on.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&TZ).date_naive()
}

fn first_of_month(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN)
}

impl Period {
    pub fn day(d: NaiveDate) -> Self {
        Self {
            kind: PeriodKind::Day,
            start: d,
            end: d + Days::new(1),
        }
    }

    pub fn month(y: i32, m: u32) -> Self {
        let start = first_of_month(y, m);
        Self {
            kind: PeriodKind::Month,
            start,
            end: start + Months::new(1),
        }
    }

    pub fn year(y: i32) -> Self {
        let start = first_of_month(y, 1);
        Self {
            kind: PeriodKind::Year,
            start,
            end: start + Months::new(12),
        }
    }

    /// The settlement year that contains local date `d`, cut to the tenancy.
    pub fn settlement(d: NaiveDate, rule: &SettlementRule) -> Self {
        Self::contract_year(d, rule).clip(rule)
    }

    /// The settlement year of the contract that contains `d`, ignoring the tenancy.
    fn contract_year(d: NaiveDate, rule: &SettlementRule) -> Self {
        let on =
            |y: i32| NaiveDate::from_ymd_opt(y, rule.month, rule.day).unwrap_or(NaiveDate::MIN);
        let mut start = on(d.year());
        if start > d {
            start = on(d.year() - 1);
        }
        Self {
            kind: PeriodKind::Settlement,
            start,
            end: start + Months::new(12),
        }
    }

    fn clip(mut self, rule: &SettlementRule) -> Self {
        if let Some(first) = rule.move_in {
            self.start = self.start.max(first);
        }
        if let Some(last) = rule.move_out {
            self.end = self.end.min(last + Days::new(1));
        }
        self.end = self.end.max(self.start);
        self
    }

    /// The period of `kind` that contains local date `d`.
    pub fn containing(kind: PeriodKind, d: NaiveDate, rule: &SettlementRule) -> Self {
        match kind {
            PeriodKind::Day => Self::day(d),
            PeriodKind::Month => Self::month(d.year(), d.month()),
            PeriodKind::Year => Self::year(d.year()),
            PeriodKind::Settlement => Self::settlement(d, rule),
        }
    }

    /// The period of `kind` that contains instant `t`.
    pub fn at(kind: PeriodKind, t: DateTime<Utc>, rule: &SettlementRule) -> Self {
        Self::containing(kind, local_date(t), rule)
    }

    /// The period before this one (empty before the tenancy began).
    pub fn prev(&self, rule: &SettlementRule) -> Self {
        let mut p = Self::containing(self.kind, self.start - Days::new(1), rule);
        p.end = p.end.min(self.start).max(p.start);
        p
    }

    /// The period after this one (empty after the tenancy ended).
    pub fn next(&self, rule: &SettlementRule) -> Self {
        let from = match self.kind {
            // A year cut short by move-out: the next one starts where the contract year ends.
            PeriodKind::Settlement => Self::contract_year(self.start, rule).end,
            _ => self.end,
        };
        let mut p = Self::containing(self.kind, from, rule);
        p.start = p.start.max(self.end);
        p.end = p.end.max(p.start);
        p
    }

    /// Whether the period has no days (a settlement year outside the tenancy).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn start_instant(&self) -> DateTime<Utc> {
        local_midnight(self.start)
    }

    pub fn end_instant(&self) -> DateTime<Utc> {
        local_midnight(self.end)
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start_instant() <= t && t < self.end_instant()
    }

    /// Every local date of the period.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end;
        self.start.iter_days().take_while(move |d| *d < end)
    }

    /// The calendar months the period touches, each cut to the period.
    pub fn months(&self) -> Vec<Period> {
        let mut out = Vec::new();
        let mut m = Self::month(self.start.year(), self.start.month());
        while m.start < self.end {
            out.push(Period {
                kind: PeriodKind::Month,
                start: m.start.max(self.start),
                end: m.end.min(self.end),
            });
            m = Self::month(m.end.year(), m.end.month());
        }
        out
    }

    /// A short name: `2026-11-23`, `2026-11`, `2026`, `2026-04-01/2027-04-01`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Day => self.start.format("%Y-%m-%d").to_string(),
            PeriodKind::Month => self.start.format("%Y-%m").to_string(),
            PeriodKind::Year => self.start.format("%Y").to_string(),
            PeriodKind::Settlement => format!(
                "{}/{}",
                self.start.format("%Y-%m-%d"),
                self.end.format("%Y-%m-%d")
            ),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn hours(p: &Period) -> i64 {
        (p.end_instant() - p.start_instant()).num_hours()
    }

    #[test]
    fn days_are_23_24_or_25_hours() {
        for (day, want) in [
            (d(2026, 3, 29), 23),  // CET → CEST
            (d(2026, 10, 25), 25), // CEST → CET
            (d(2026, 11, 23), 24),
            (d(2024, 2, 29), 24),
        ] {
            assert_eq!(hours(&Period::day(day)), want, "{day}");
        }
        assert_eq!(hours(&Period::month(2026, 3)), 31 * 24 - 1);
        assert_eq!(hours(&Period::month(2026, 10)), 31 * 24 + 1);
        assert_eq!(hours(&Period::year(2026)), 365 * 24);
        assert_eq!(hours(&Period::year(2024)), 366 * 24);
    }

    #[test]
    fn local_midnight_is_the_dutch_one() {
        assert_eq!(
            local_midnight(d(2026, 1, 1)).to_rfc3339(),
            "2025-12-31T23:00:00+00:00"
        );
        assert_eq!(
            local_midnight(d(2026, 7, 1)).to_rfc3339(),
            "2026-06-30T22:00:00+00:00"
        );
    }

    #[test]
    fn periods_roll_over() {
        let rule = SettlementRule::default();
        let rows = [
            (Period::month(2026, 12).next(&rule), "2027-01"),
            (Period::month(2026, 1).prev(&rule), "2025-12"),
            (Period::month(2024, 2).next(&rule), "2024-03"),
            (Period::day(d(2024, 2, 28)).next(&rule), "2024-02-29"),
            (Period::day(d(2024, 3, 1)).prev(&rule), "2024-02-29"),
            (Period::day(d(2025, 3, 1)).prev(&rule), "2025-02-28"),
            (Period::day(d(2026, 12, 31)).next(&rule), "2027-01-01"),
            (Period::year(2026).next(&rule), "2027"),
            (Period::year(2026).prev(&rule), "2025"),
        ];
        for (p, want) in rows {
            assert_eq!(p.label(), want);
        }
    }

    #[test]
    fn settlement_year_starts_on_any_day() {
        let on = |m, day| SettlementRule {
            month: m,
            day,
            ..SettlementRule::default()
        };
        let rows = [
            // (rule, date, expected label)
            (on(1, 1), d(2026, 11, 23), "2026-01-01/2027-01-01"),
            (on(4, 1), d(2026, 3, 31), "2025-04-01/2026-04-01"),
            (on(4, 1), d(2026, 4, 1), "2026-04-01/2027-04-01"),
            (on(11, 23), d(2026, 11, 22), "2025-11-23/2026-11-23"),
            (on(11, 23), d(2026, 11, 23), "2026-11-23/2027-11-23"),
            (on(12, 31), d(2026, 12, 30), "2025-12-31/2026-12-31"),
            (on(3, 1), d(2024, 2, 29), "2023-03-01/2024-03-01"),
        ];
        for (rule, date, want) in rows {
            let p = Period::settlement(date, &rule);
            assert_eq!(p.label(), want, "{rule:?} {date}");
            assert!(p.contains(local_midnight(date)));
            assert_eq!(p.next(&rule).prev(&rule), p);
        }
    }

    #[test]
    fn tenancy_cuts_the_first_and_last_settlement_year() {
        let rule = SettlementRule {
            month: 7,
            day: 1,
            move_in: Some(d(2025, 10, 15)),
            move_out: Some(d(2027, 2, 28)),
        };
        let first = Period::settlement(d(2025, 12, 1), &rule);
        assert_eq!(first.label(), "2025-10-15/2026-07-01");
        let second = first.next(&rule);
        assert_eq!(second.label(), "2026-07-01/2027-03-01");
        assert!(second.next(&rule).is_empty());
        assert!(first.prev(&rule).is_empty());
        assert_eq!(second.prev(&rule), first);
    }

    #[test]
    fn months_of_a_period_are_cut_to_it() {
        let rule = SettlementRule {
            month: 4,
            day: 15,
            ..SettlementRule::default()
        };
        let p = Period::settlement(d(2026, 6, 1), &rule);
        let months = p.months();
        assert_eq!(months.len(), 13);
        assert_eq!(months[0].start, d(2026, 4, 15));
        assert_eq!(months[0].end, d(2026, 5, 1));
        assert_eq!(months[12].start, d(2027, 4, 1));
        assert_eq!(months[12].end, d(2027, 4, 15));
        assert_eq!(p.days().count(), 365);
    }
}
