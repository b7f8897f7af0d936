//! Booking: validated counter readings become signed bucket deltas per series.
//!
//! Each counter keeps the last reading booked (its baseline). A new reading books
//! the difference over the time since that reading, spread over the 15-minute
//! buckets it spans in proportion to time, in whole Wh that add up exactly. A span
//! longer than [`GAP`] (nomhub was down, or the clock was not trusted) is marked
//! estimated. Nothing else ever moves a baseline, so a reading that is not booked
//! (a restart, a crash before a commit) is simply booked by the next one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::bundle::{Series, split_exact};
use super::period::local_date;
use super::setup::Term;
use crate::device::{CounterGuard, Verdict};
use crate::model::{DeviceId, PointKey, WattHours};
use crate::store::{Baseline, Bucket, Commit, Rebase};
use crate::tariff::{DayAhead, Tariff};

/// Seconds in a fine bucket.
pub const QUARTER: i64 = 900;
/// Energy spread over more than this is marked estimated.
pub const GAP: Duration = Duration::from_secs(15 * 60);

/// The start (unix seconds) of the 15-minute bucket holding instant `ms` (unix ms).
pub fn quarter_of(ms: i64) -> i64 {
    ms.div_euclid(QUARTER * 1000) * QUARTER
}

fn ms(t: SystemTime) -> i64 {
    DateTime::<Utc>::from(t).timestamp_millis()
}

fn time(ms: i64) -> SystemTime {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or(SystemTime::UNIX_EPOCH, SystemTime::from)
}

/// What happened to one reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked {
    /// Not booked: the clock is not trusted yet.
    Untrusted,
    /// Not booked: not newer than the baseline.
    Stale,
    Verdict(Verdict),
}

struct Counter {
    guard: CounterGuard,
    /// The baseline's time, unix ms.
    at_ms: i64,
    /// Series it feeds, with the sign.
    feeds: Vec<(Series, i64)>,
}

/// Books readings into a pending commit.
pub struct Booker {
    counters: BTreeMap<(DeviceId, PointKey), Counter>,
    pending: Commit,
    /// With a tariff, grid import and export are also booked in euros at the day-ahead
    /// prices known.
    pricing: Option<(Arc<Tariff>, Arc<DayAhead>)>,
}

impl Booker {
    /// A booker for `series`, resuming from the stored `baselines`.
    pub fn new(
        series: &BTreeMap<Series, Vec<Term>>,
        baselines: &BTreeMap<(DeviceId, PointKey), Baseline>,
    ) -> Self {
        let mut counters: BTreeMap<(DeviceId, PointKey), Counter> = BTreeMap::new();
        for (&s, terms) in series {
            for t in terms {
                let key = (t.device.clone(), t.point.clone());
                let c = counters
                    .entry(key.clone())
                    .or_insert_with(|| match baselines.get(&key) {
                        Some(b) => Counter {
                            guard: CounterGuard::resume(
                                t.max_power_w,
                                WattHours(b.wh),
                                time(b.at_ms),
                            )
                            .vetted(),
                            at_ms: b.at_ms,
                            feeds: Vec::new(),
                        },
                        None => Counter {
                            guard: CounterGuard::new(t.max_power_w).vetted(),
                            at_ms: i64::MIN,
                            feeds: Vec::new(),
                        },
                    });
                c.feeds.push((s, t.sign));
            }
        }
        Self {
            counters,
            pending: Commit::default(),
            pricing: None,
        }
    }

    /// Books euros beside grid import and export under `tariff` from now on.
    pub fn with_tariff(mut self, tariff: Option<Tariff>) -> Self {
        self.pricing = tariff.map(|t| (Arc::new(t), Arc::new(DayAhead::default())));
        self
    }

    /// The day-ahead prices to book with from now on (quarters already booked keep
    /// the price they were booked at).
    pub fn set_prices(&mut self, prices: Arc<DayAhead>) {
        if let Some((_, p)) = &mut self.pricing {
            *p = prices;
        }
    }

    /// The counters this booker follows.
    pub fn counters(&self) -> impl Iterator<Item = &(DeviceId, PointKey)> {
        self.counters.keys()
    }

    /// Books a reading of counter `device.point` taken at `at`.
    pub fn reading(
        &mut self,
        device: &DeviceId,
        point: &PointKey,
        value: WattHours,
        at: SystemTime,
        trusted: bool,
    ) -> Option<Booked> {
        let key = (device.clone(), point.clone());
        let c = self.counters.get_mut(&key)?;
        if !trusted {
            return Some(Booked::Untrusted);
        }
        let now_ms = ms(at);
        if c.at_ms != i64::MIN && now_ms <= c.at_ms && c.guard.last() == Some(value) {
            return Some(Booked::Stale);
        }
        let from_ms = c.at_ms;
        let verdict = c.guard.check(value, at);
        if !verdict.is_accepted() {
            return Some(Booked::Verdict(verdict));
        }
        if let Verdict::Accepted { delta } | Verdict::Rebased { delta, .. } = verdict
            && delta.0 != 0
        {
            // A clock stepped back a little: book at the baseline's time.
            let to_ms = now_ms.max(from_ms);
            for &(s, sign) in &c.feeds {
                let parts = book(&mut self.pending, s, sign * delta.0, from_ms, to_ms);
                if let Some((tariff, prices)) = &self.pricing {
                    price(&mut self.pending, s, &parts, tariff, prices);
                }
            }
        }
        if let Verdict::Rebased { previous, base, .. } = verdict {
            self.pending.rebases.push(Rebase {
                device: device.clone(),
                point: point.clone(),
                at_ms: now_ms,
                previous_wh: previous.0,
                base_wh: base.0,
            });
        }
        c.at_ms = c.at_ms.max(now_ms);
        self.pending.baselines.insert(
            key,
            Baseline {
                version: 1,
                wh: value.0,
                at_ms: c.at_ms,
            },
        );
        Some(Booked::Verdict(verdict))
    }

    /// What is booked but not yet committed.
    pub fn pending(&self) -> &Commit {
        &self.pending
    }

    /// Takes the pending commit, leaving an empty one.
    pub fn take(&mut self) -> Commit {
        std::mem::take(&mut self.pending)
    }

    /// Puts back a commit that could not be written, ahead of anything newer.
    pub fn restore(&mut self, mut c: Commit) {
        let newer = std::mem::take(&mut self.pending);
        for (k, b) in newer.quarters {
            c.quarters.entry(k).or_default().add(b);
        }
        for (k, b) in newer.days {
            c.days.entry(k).or_default().add(b);
        }
        c.baselines.extend(newer.baselines);
        c.rebases.extend(newer.rebases);
        self.pending = c;
    }
}

/// Books what grid import or export `parts` (Wh per quarter hour) cost or earned under
/// `tariff` at `prices`, in micro-euros; other series cost nothing.
fn price(c: &mut Commit, s: Series, parts: &[(i64, i64)], tariff: &Tariff, prices: &DayAhead) {
    for &(q, wh) in parts {
        let at = DateTime::<Utc>::from_timestamp(q, 0).unwrap_or_default();
        let p = tariff.price(at, prices.at(at));
        // Wh × €/kWh = m€; × 1000 = µ€.
        let money = |eur_kwh: f64| (wh as f64 * eur_kwh * 1000.0).round() as i64;
        let booked: &[(Series, i64)] = match s {
            Series::GridImport => &[(Series::ImportCost, money(p.import_eur_kwh))],
            Series::GridExport => &[
                (Series::ExportEarned, money(p.export_eur_kwh)),
                (Series::ExportNetted, money(p.import_eur_kwh)),
            ],
            _ => &[],
        };
        for &(m, ueur) in booked {
            add(c, m, q, ueur, if p.fallback { ueur } else { 0 });
        }
    }
}

/// Adds `part` (with `estimated` of it) to bucket `q` of series `s` and to its day.
fn add(c: &mut Commit, s: Series, q: i64, part: i64, estimated: i64) {
    if part == 0 && estimated == 0 {
        return;
    }
    let b = Bucket {
        wh: part,
        estimated,
    };
    c.quarters.entry((s, q)).or_default().add(b);
    let day = local_date(DateTime::<Utc>::from_timestamp(q, 0).unwrap_or_default());
    c.days.entry((s, day)).or_default().add(b);
}

/// Adds `wh` of series `s` spread over `(from_ms, to_ms]` to `c`; returns the parts
/// booked per quarter hour (its start, Wh).
pub fn book(c: &mut Commit, s: Series, wh: i64, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let estimated = to_ms - from_ms > GAP.as_millis() as i64;
    let first = quarter_of(from_ms);
    let last = quarter_of((to_ms - 1).max(from_ms));
    let n = ((last - first) / QUARTER + 1) as usize;
    let parts: Vec<(i64, i64)> = if n == 1 {
        vec![(first, wh)]
    } else {
        let span = (to_ms - from_ms) as f64;
        let shares: Vec<f64> = (0..n)
            .map(|i| {
                let q0 = (first + i as i64 * QUARTER) * 1000;
                let (a, b) = (q0.max(from_ms), (q0 + QUARTER * 1000).min(to_ms));
                (b - a).max(0) as f64 / span
            })
            .collect();
        split_exact(wh, &shares)
            .into_iter()
            .enumerate()
            .map(|(i, p)| (first + i as i64 * QUARTER, p))
            .collect()
    };
    for &(q, part) in &parts {
        add(c, s, q, part, if estimated { part } else { 0 });
    }
    parts
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;

    fn dev(s: &str) -> DeviceId {
        DeviceId::new(s).unwrap()
    }
    fn pt(s: &str) -> PointKey {
        PointKey::new(s).unwrap()
    }

    /// grid.import feeds grid_import (+) and household (+); installations feeds
    /// building_bound (+) and household (−).
    fn booker(baselines: &BTreeMap<(DeviceId, PointKey), Baseline>) -> Booker {
        let term = |d: &str, p: &str, sign| Term {
            device: dev(d),
            point: pt(p),
            sign,
            max_power_w: 20_000.0,
        };
        let mut series = BTreeMap::new();
        series.insert(Series::GridImport, vec![term("grid", "import_energy", 1)]);
        series.insert(
            Series::BuildingBound,
            vec![term("installations", "import_energy", 1)],
        );
        series.insert(
            Series::Household,
            vec![
                term("grid", "import_energy", 1),
                term("installations", "import_energy", -1),
            ],
        );
        Booker::new(&series, baselines)
    }

    /// 2026-10-24 22:00 local (CEST) = 20:00 UTC, the evening before the 25-hour day.
    const T0: i64 = 1_792_872_000_000;

    fn at(ms: i64) -> SystemTime {
        time(ms)
    }

    fn total(c: &Commit, s: Series) -> (i64, i64) {
        let q: i64 = c
            .quarters
            .iter()
            .filter(|((x, _), _)| *x == s)
            .map(|(_, b)| b.wh)
            .sum();
        let d: i64 = c
            .days
            .iter()
            .filter(|((x, _), _)| *x == s)
            .map(|(_, b)| b.wh)
            .sum();
        (q, d)
    }

    #[test]
    fn books_deltas_into_quarters_and_local_days() {
        let mut b = booker(&BTreeMap::new());
        let (g, i) = (dev("grid"), pt("import_energy"));
        let r = |b: &mut Booker, wh, ms| b.reading(&g, &i, WattHours(wh), at(ms), true);
        assert_eq!(
            r(&mut b, 1_000_000, T0),
            Some(Booked::Verdict(Verdict::First))
        );
        assert!(b.pending().quarters.is_empty());
        // 900 Wh over 10 minutes within one quarter.
        r(&mut b, 1_000_900, T0 + 600_000);
        assert_eq!(
            b.pending().quarters[&(Series::GridImport, T0 / 1000)].wh,
            900
        );
        // 1200 Wh from 22:10 to 22:40 local: 5 min, 15 min, 10 min → 200, 600, 400.
        r(&mut b, 1_002_100, T0 + 2_400_000);
        let q = |m: i64| b.pending().quarters[&(Series::GridImport, T0 / 1000 + m * 60)];
        assert_eq!((q(0).wh, q(15).wh, q(30).wh), (1100, 600, 400));
        assert_eq!(q(30).estimated, 400, "a 30-minute span is estimated");
        // The same reading again books nothing.
        assert_eq!(r(&mut b, 1_002_100, T0 + 2_400_000), Some(Booked::Stale));
        // Across local midnight: 22:40 → 00:40 (two hours, estimated), split by day.
        r(&mut b, 1_004_500, T0 + 9_600_000);
        let day = |d| {
            b.pending().days[&(
                Series::GridImport,
                NaiveDate::from_ymd_opt(2026, 10, d).unwrap(),
            )]
        };
        assert_eq!(day(24).wh + day(25).wh, 4500);
        assert_eq!(
            day(25).wh,
            800,
            "00:00–00:40 is a third of the 2400 Wh over 2 h"
        );
        // The household series got the same, the installations meter not having moved.
        assert_eq!(total(b.pending(), Series::Household), (4500, 4500));
        assert_eq!(total(b.pending(), Series::GridImport), (4500, 4500));
    }

    #[test]
    fn bad_readings_and_untrusted_clocks_book_nothing_and_lose_nothing() {
        let mut b = booker(&BTreeMap::new());
        let (g, i) = (dev("grid"), pt("import_energy"));
        b.reading(&g, &i, WattHours(50_000), at(T0), true);
        assert_eq!(
            b.reading(&g, &i, WattHours(49_000), at(T0 + 60_000), true),
            Some(Booked::Verdict(Verdict::Backwards {
                previous: WattHours(50_000),
                first: true,
            }))
        );
        assert!(matches!(
            b.reading(&g, &i, WattHours(5_000_000), at(T0 + 120_000), true),
            Some(Booked::Verdict(Verdict::TooFast { .. }))
        ));
        assert_eq!(
            b.reading(&g, &i, WattHours(50_500), at(T0 + 180_000), false),
            Some(Booked::Untrusted)
        );
        assert!(b.pending().quarters.is_empty());
        // Trusted again: everything since the last good reading, over that time.
        b.reading(&g, &i, WattHours(51_000), at(T0 + 3_600_000), true);
        assert_eq!(total(b.pending(), Series::GridImport), (1000, 1000));
        let est: i64 = b.pending().quarters.values().map(|x| x.estimated).sum();
        assert_eq!(
            est,
            1000 * 2,
            "grid import and household, both estimated over the hour"
        );
    }

    #[test]
    fn resumes_from_stored_readings() {
        let mut stored = BTreeMap::new();
        stored.insert(
            (dev("grid"), pt("import_energy")),
            Baseline {
                version: 1,
                wh: 70_000,
                at_ms: T0,
            },
        );
        let mut b = booker(&stored);
        // Three days later (nomhub was down): 36 kWh more, apportioned and estimated.
        let later = T0 + 3 * 86_400_000;
        b.reading(
            &dev("grid"),
            &pt("import_energy"),
            WattHours(106_000),
            at(later),
            true,
        );
        let c = b.take();
        assert_eq!(total(&c, Series::GridImport), (36_000, 36_000));
        assert_eq!(
            c.days
                .keys()
                .filter(|(s, _)| *s == Series::GridImport)
                .count(),
            4
        );
        assert!(c.days.values().all(|d| d.estimated == d.wh));
        assert_eq!(c.baselines[&(dev("grid"), pt("import_energy"))].wh, 106_000);
        // A meter swapped while nomhub was down, at 3 Wh: the first two readings below
        // the baseline are held back (a glitch would end there), the third re-bases
        // and books what the new meter counted since the first, nothing for the jump.
        let mut r = |wh: i64, s: i64| {
            b.reading(
                &dev("grid"),
                &pt("import_energy"),
                WattHours(wh),
                at(later + s * 1000),
                true,
            )
        };
        assert_eq!(
            r(3, 1),
            Some(Booked::Verdict(Verdict::Backwards {
                previous: WattHours(106_000),
                first: true,
            }))
        );
        assert!(matches!(
            r(5, 11),
            Some(Booked::Verdict(Verdict::Backwards { first: false, .. }))
        ));
        let before = b.take();
        assert!(
            before.quarters.is_empty(),
            "nothing booked while it is unsure"
        );
        assert_eq!(
            b.reading(
                &dev("grid"),
                &pt("import_energy"),
                WattHours(9),
                at(later + 21_000),
                true
            ),
            Some(Booked::Verdict(Verdict::Rebased {
                previous: WattHours(106_000),
                base: WattHours(3),
                delta: WattHours(6),
            }))
        );
        assert_eq!(total(b.pending(), Series::GridImport).0, 6);
        assert_eq!(
            b.pending().baselines[&(dev("grid"), pt("import_energy"))].wh,
            9
        );
        assert_eq!(
            b.pending().rebases,
            [Rebase {
                device: dev("grid"),
                point: pt("import_energy"),
                at_ms: later + 21_000,
                previous_wh: 106_000,
                base_wh: 3,
            }]
        );
    }

    proptest! {
        #[test]
        fn booking_is_exact_to_the_wh(steps in proptest::collection::vec((1i64..5_000_000, 0.0f64..15_000.0), 1..40)) {
            let mut b = booker(&BTreeMap::new());
            let (g, i) = (dev("grid"), pt("import_energy"));
            let (mut ms, mut wh) = (T0, 1_000_000i64);
            b.reading(&g, &i, WattHours(wh), at(ms), true);
            for (dt, watts) in steps {
                ms += dt;
                wh += (watts * dt as f64 / 3_600_000.0) as i64;
                b.reading(&g, &i, WattHours(wh), at(ms), true);
            }
            let (q, d) = total(b.pending(), Series::GridImport);
            prop_assert_eq!(q, wh - 1_000_000);
            prop_assert_eq!(d, wh - 1_000_000);
        }
    }
}
