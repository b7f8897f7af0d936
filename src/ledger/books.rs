//! The ledger itself: the store plus what is booked but not yet committed, and every
//! view of it (positions, history, forecast, export and import).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::book::{Booked, Booker, book};
use super::bundle::{BundleId, Position, Series};
use super::forecast::{self, Flows, Forecast, Money};
use super::period::{Period, PeriodKind, local_midnight};
use super::setup::LedgerSetup;
use crate::model::{DeviceId, PointKey, WattHours};
use crate::store::{Bucket, Commit, Store, StoreError};
use crate::tariff::DayAhead;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file}:{line}: {message}")]
    Import {
        file: String,
        line: u64,
        message: String,
    },
}

/// Micro-euros (how the money series are booked) in €.
pub fn micro_eur(ueur: i64) -> f64 {
    ueur as f64 / 1e6
}

/// What grid import and export came to in a period under the tariff: export at what it
/// offsets for days under net metering, at what it earns after (a period inside one
/// regime; a settlement year across both has the forecast's split).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeriodEuros {
    pub period: Period,
    pub import_eur: f64,
    pub export_eur: f64,
    /// Import less export.
    pub net_eur: f64,
    /// Of import and export, what was priced at the contract's average.
    pub fallback_eur: f64,
}

/// One bucket of history: energy per series and the bundle for its time.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryBucket {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Wh per series (energy used appears as household and building-bound).
    pub wh: BTreeMap<Series, i64>,
    pub estimated_wh: BTreeMap<Series, i64>,
    /// € per money series (import cost, export earned and netted), with a tariff.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub eur: BTreeMap<Series, f64>,
    /// Of that, € priced without the quarter hour's day-ahead price.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fallback_eur: BTreeMap<Series, f64>,
    /// The bundle of each configured bundle for this bucket's time, Wh.
    pub bundle_wh: BTreeMap<BundleId, i64>,
}

/// A period's history: per day for a day or month, per month for longer periods.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub period: Period,
    pub resolution: PeriodKind,
    pub buckets: Vec<HistoryBucket>,
}

/// One row of an export or import: a local day (or, on import, a month) of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `YYYY-MM-DD`, or `YYYY-MM` on import for a month to spread over its days.
    pub date: String,
    pub series: String,
    #[serde(default)]
    pub wh: Option<i64>,
    #[serde(default)]
    pub kwh: Option<f64>,
    #[serde(default)]
    pub estimated_wh: Option<i64>,
    /// € for a money series (import_cost, export_earned, export_netted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eur: Option<f64>,
}

/// Reads over a ledger's store: what the bundles are, where they stand, history.
/// The ledger reads with its pending bookings on top ([`Ledger::books`]); the
/// dashboard reads the committed store alone (at most a commit interval behind).
#[derive(Clone, Copy)]
pub struct Books<'a> {
    pub setup: &'a LedgerSetup,
    pub store: &'a Store,
    pub pending: Option<&'a Commit>,
}

impl Books<'_> {
    /// Day buckets of a series over `[from, to)`, pending bookings included.
    pub fn days(
        &self,
        s: Series,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Bucket>, LedgerError> {
        let mut out: BTreeMap<NaiveDate, Bucket> =
            self.store.days(s, from, to)?.into_iter().collect();
        if let Some(pending) = self.pending {
            for (&(ps, d), b) in pending.days.range((s, from)..(s, to)) {
                debug_assert_eq!(ps, s);
                out.entry(d).or_default().add(*b);
            }
        }
        Ok(out)
    }

    /// Energy of `series` in `[from, to)` local days.
    pub fn sum(
        &self,
        series: &[Series],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Bucket, LedgerError> {
        let mut total = Bucket::default();
        for &s in series {
            for b in self.days(s, from, to)?.values() {
                total.add(*b);
            }
        }
        Ok(total)
    }

    /// Where every configured bundle stands in the period of `kind` around `date`.
    pub fn positions(
        &self,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<Position>, LedgerError> {
        let mut out = Vec::new();
        let first = self.first_day()?;
        for (&id, budget) in &self.setup.budgets {
            let used = self.sum(id.series(), period.start, period.end)?;
            out.push(Position::since(
                id,
                period,
                budget,
                WattHours(used.wh),
                WattHours(used.estimated),
                now,
                first,
            ));
        }
        Ok(out)
    }

    /// The first day anything was booked, pending bookings included.
    pub fn first_day(&self) -> Result<Option<NaiveDate>, LedgerError> {
        let stored = self.store.first_day()?;
        let pending = self
            .pending
            .and_then(|p| p.days.keys().map(|&(_, d)| d).min());
        Ok(match (stored, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// The period of `kind` containing `now`.
    pub fn period(&self, kind: PeriodKind, now: DateTime<Utc>) -> Period {
        Period::at(kind, now, &self.setup.rule)
    }

    /// What grid import and export came to in `period`, with a tariff.
    pub fn euros(&self, period: Period) -> Result<Option<PeriodEuros>, LedgerError> {
        if self.setup.tariff.is_none() {
            return Ok(None);
        }
        let sum = |s| self.sum(&[s], period.start, period.end);
        let import = sum(Series::ImportCost)?;
        let netted = period.start <= self.setup.net_metering_until;
        let export = sum(if netted {
            Series::ExportNetted
        } else {
            Series::ExportEarned
        })?;
        let (import_eur, export_eur) = (micro_eur(import.wh), micro_eur(export.wh));
        Ok(Some(PeriodEuros {
            period,
            import_eur,
            export_eur,
            net_eur: import_eur - export_eur,
            fallback_eur: micro_eur(import.estimated + export.estimated),
        }))
    }

    /// History of `period` for graphs: per day for a day or month, else per month.
    pub fn history(&self, period: Period) -> Result<History, LedgerError> {
        let resolution = match period.kind {
            PeriodKind::Day | PeriodKind::Month => PeriodKind::Day,
            PeriodKind::Year | PeriodKind::Settlement => PeriodKind::Month,
        };
        let slots: Vec<Period> = match resolution {
            PeriodKind::Day => period.days().map(Period::day).collect(),
            _ => period.months(),
        };
        let money = self.setup.tariff.is_some();
        let mut per_series = BTreeMap::new();
        for s in Series::STORED {
            if money || !s.is_money() {
                per_series.insert(s, self.days(s, period.start, period.end)?);
            }
        }
        let buckets = slots
            .into_iter()
            .map(|slot| {
                let mut wh = BTreeMap::new();
                let mut estimated_wh = BTreeMap::new();
                let mut eur = BTreeMap::new();
                let mut fallback_eur = BTreeMap::new();
                for (s, days) in &per_series {
                    let mut b = Bucket::default();
                    for (_, d) in days.range(slot.start..slot.end) {
                        b.add(*d);
                    }
                    if s.is_money() {
                        eur.insert(*s, micro_eur(b.wh));
                        fallback_eur.insert(*s, micro_eur(b.estimated));
                    } else {
                        wh.insert(*s, b.wh);
                        estimated_wh.insert(*s, b.estimated);
                    }
                }
                let bundle_wh = self
                    .setup
                    .budgets
                    .iter()
                    .map(|(id, budget)| {
                        (
                            *id,
                            budget.between(slot.start_instant(), slot.end_instant()).0,
                        )
                    })
                    .collect();
                HistoryBucket {
                    start: slot.start,
                    end: slot.end,
                    wh,
                    estimated_wh,
                    eur,
                    fallback_eur,
                    bundle_wh,
                }
            })
            .collect();
        Ok(History {
            period,
            resolution,
            buckets,
        })
    }
}

/// The ledger: its configuration, its store and its pending bookings.
pub struct Ledger {
    pub setup: LedgerSetup,
    store: Store,
    booker: Booker,
    /// Everything committed so far, per series (Wh).
    totals: BTreeMap<Series, i64>,
}

/// Everything `c` adds, per series.
fn add_days(totals: &mut BTreeMap<Series, i64>, c: &Commit) {
    for (&(s, _), b) in &c.days {
        *totals.entry(s).or_default() += b.wh;
    }
}

impl Ledger {
    pub fn open(setup: LedgerSetup) -> Result<Self, LedgerError> {
        let store = Store::open(&setup.store)?;
        Self::with_store(setup, store)
    }

    /// The ledger over an open store, from what it last committed (a restarted ledger
    /// task starts here: what was booked and not committed is booked again from the
    /// counters).
    pub fn with_store(setup: LedgerSetup, store: Store) -> Result<Self, LedgerError> {
        let booker =
            Booker::new(&setup.series, &store.baselines()?).with_tariff(setup.tariff.clone());
        let mut totals = BTreeMap::new();
        for s in Series::ALL {
            let all = store.days(s, NaiveDate::MIN, NaiveDate::MAX)?;
            totals.insert(s, all.iter().map(|(_, b)| b.wh).sum());
        }
        Ok(Self {
            setup,
            store,
            booker,
            totals,
        })
    }

    /// Everything booked in each series since the ledger began (Wh), pending included.
    pub fn lifetime(&self) -> BTreeMap<Series, WattHours> {
        let mut totals = self.totals.clone();
        add_days(&mut totals, self.booker.pending());
        totals
            .into_iter()
            .map(|(s, wh)| (s, WattHours(wh)))
            .collect()
    }

    /// The day-ahead prices grid import and export are priced at from now on.
    pub fn set_prices(&mut self, prices: Arc<DayAhead>) {
        self.booker.set_prices(prices);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The counters the ledger follows.
    pub fn counters(&self) -> Vec<(DeviceId, PointKey)> {
        self.booker.counters().cloned().collect()
    }

    /// Books a counter reading (see [`Booker::reading`]).
    pub fn reading(
        &mut self,
        device: &DeviceId,
        point: &PointKey,
        value: WattHours,
        at: SystemTime,
        trusted: bool,
    ) -> Option<Booked> {
        self.booker.reading(device, point, value, at, trusted)
    }

    /// Writes what is pending to the store. On failure nothing is lost: the pending
    /// bookings stay and go with the next commit.
    pub fn commit(&mut self) -> Result<(), LedgerError> {
        let c = self.booker.take();
        if let Err(e) = self.store.commit(&c) {
            self.booker.restore(c);
            return Err(e.into());
        }
        add_days(&mut self.totals, &c);
        Ok(())
    }

    /// Drops 15-minute buckets older than `fine_days` before `now`.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize, LedgerError> {
        let keep = chrono::Duration::days(i64::from(self.setup.fine_days));
        Ok(self.store.prune_quarters((now - keep).timestamp())?)
    }

    /// Reads over the store with the pending bookings on top.
    pub fn books(&self) -> Books<'_> {
        Books {
            setup: &self.setup,
            store: &self.store,
            pending: Some(self.booker.pending()),
        }
    }

    fn days(
        &self,
        s: Series,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<NaiveDate, Bucket>, LedgerError> {
        self.books().days(s, from, to)
    }

    /// Energy of `series` in `[from, to)` local days.
    pub fn sum(
        &self,
        series: &[Series],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Bucket, LedgerError> {
        self.books().sum(series, from, to)
    }

    /// Where every configured bundle stands in `period`.
    pub fn positions(
        &self,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<Vec<Position>, LedgerError> {
        self.books().positions(period, now)
    }

    /// The period of `kind` containing `now`.
    pub fn period(&self, kind: PeriodKind, now: DateTime<Utc>) -> Period {
        self.books().period(kind, now)
    }

    /// History of `period` for graphs: per day for a day or month, else per month.
    pub fn history(&self, period: Period) -> Result<History, LedgerError> {
        self.books().history(period)
    }

    /// 15-minute buckets of every series from `from` to `to` (unix seconds), for live graphs.
    pub fn fine(
        &self,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<Series, Vec<(i64, Bucket)>>, LedgerError> {
        let mut out = BTreeMap::new();
        for s in Series::ALL {
            let mut m: BTreeMap<i64, Bucket> =
                self.store.quarters(s, from, to)?.into_iter().collect();
            for (&(_, q), b) in self.booker.pending().quarters.range((s, from)..(s, to)) {
                m.entry(q).or_default().add(*b);
            }
            out.insert(s, m.into_iter().collect());
        }
        Ok(out)
    }

    /// The settlement forecast for the settlement year containing `now`.
    pub fn forecast(&self, now: DateTime<Utc>) -> Result<Forecast, LedgerError> {
        let period = self.period(PeriodKind::Settlement, now);
        let until = self.setup.net_metering_until + chrono::Days::new(1);
        let boundary = until.clamp(period.start, period.end);
        let flows = |from, to| -> Result<Flows, LedgerError> {
            Ok(Flows {
                import_kwh: WattHours(self.sum(&[Series::GridImport], from, to)?.wh).kwh(),
                export_kwh: WattHours(self.sum(&[Series::GridExport], from, to)?.wh).kwh(),
            })
        };
        let money = |from, to| -> Result<Money, LedgerError> {
            let sum = |s| self.sum(&[s], from, to);
            let (import, earned, netted) = (
                sum(Series::ImportCost)?,
                sum(Series::ExportEarned)?,
                sum(Series::ExportNetted)?,
            );
            Ok(Money {
                import_eur: micro_eur(import.wh),
                earned_eur: micro_eur(earned.wh),
                netted_eur: micro_eur(netted.wh),
                fallback_eur: micro_eur(import.estimated + earned.estimated),
            })
        };
        Ok(forecast::forecast(&forecast::Inputs {
            period,
            now,
            before: flows(period.start, boundary)?,
            after: flows(boundary, period.end)?,
            before_money: money(period.start, boundary)?,
            after_money: money(boundary, period.end)?,
            pv_so_far: WattHours(self.sum(&[Series::Pv], period.start, period.end)?.wh),
            pv: self.setup.budgets.get(&BundleId::Pv),
            used: self.setup.budgets.get(&BundleId::EnergyUsed),
            net_metering_until: self.setup.net_metering_until,
            tariff: self.setup.tariff.as_ref(),
        }))
    }

    /// Day rows of every series in `[from, to)`.
    pub fn export(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<Row>, LedgerError> {
        let mut rows = Vec::new();
        for s in Series::STORED {
            for (d, b) in self.days(s, from, to)? {
                let money = s.is_money();
                rows.push(Row {
                    date: d.format("%Y-%m-%d").to_string(),
                    series: s.as_str().to_owned(),
                    wh: (!money).then_some(b.wh),
                    kwh: None,
                    estimated_wh: (!money).then_some(b.estimated),
                    eur: money.then(|| micro_eur(b.wh)),
                });
            }
        }
        rows.sort_by(|a, b| (&a.date, &a.series).cmp(&(&b.date, &b.series)));
        Ok(rows)
    }

    /// Loads history rows (`file` names them in errors). A day that already holds
    /// energy is refused unless `replace`. Months are spread over their days by time
    /// and marked estimated. Returns the number of day buckets written.
    pub fn import(
        &mut self,
        file: &str,
        rows: &[(u64, Row)],
        replace: bool,
    ) -> Result<usize, LedgerError> {
        let err = |line: u64, message: String| LedgerError::Import {
            file: file.to_owned(),
            line,
            message,
        };
        let mut c = Commit::default();
        let mut seen = BTreeMap::new();
        for (line, row) in rows {
            let line = *line;
            let series = Series::parse(&row.series).ok_or_else(|| {
                err(
                    line,
                    format!(
                        "unknown series `{}`; known: {}",
                        row.series,
                        Series::STORED.map(Series::as_str).join(", ")
                    ),
                )
            })?;
            let wh = match (row.wh, row.kwh, row.eur) {
                (None, None, Some(e)) if series.is_money() && e.is_finite() => {
                    (e * 1e6).round() as i64
                }
                _ if series.is_money() => {
                    return Err(err(line, format!("give `eur` for {}", series.as_str())));
                }
                (Some(w), None, None) => w,
                (None, Some(k), None) if k.is_finite() => (k * 1000.0).round() as i64,
                _ => return Err(err(line, "give exactly one of `wh` and `kwh`".to_owned())),
            };
            let estimated = row.estimated_wh.unwrap_or(0);
            let (period, whole_month) = match NaiveDate::parse_from_str(&row.date, "%Y-%m-%d") {
                Ok(d) => (Period::day(d), false),
                Err(_) => {
                    let m = NaiveDate::parse_from_str(&format!("{}-01", row.date), "%Y-%m-%d")
                        .map_err(|_| {
                            err(
                                line,
                                format!(
                                    "`{}` is not a date (YYYY-MM-DD) or a month (YYYY-MM)",
                                    row.date
                                ),
                            )
                        })?;
                    (Period::month(m.year(), m.month()), true)
                }
            };
            if let Some(prev) = seen.insert((series, period.start, period.kind), line) {
                return Err(err(
                    line,
                    format!("{} {} is also on line {prev}", series.as_str(), row.date),
                ));
            }
            let existing = self.sum(&[series], period.start, period.end)?;
            if existing.wh != 0 && !replace {
                return Err(err(
                    line,
                    format!(
                        "{} {} already holds {} Wh; pass --replace to overwrite",
                        series.as_str(),
                        row.date,
                        existing.wh
                    ),
                ));
            }
            if whole_month {
                let mut spread = Commit::default();
                book(
                    &mut spread,
                    series,
                    wh - existing.wh,
                    local_midnight(period.start).timestamp_millis(),
                    local_midnight(period.end).timestamp_millis(),
                );
                for (k, b) in spread.days {
                    c.days.entry(k).or_default().add(b);
                }
            } else {
                c.days
                    .entry((series, period.start))
                    .or_default()
                    .add(Bucket {
                        wh: wh - existing.wh,
                        estimated: estimated - existing.estimated,
                    });
            }
        }
        let n = c.days.len();
        self.store.commit(&c)?;
        add_days(&mut self.totals, &c);
        Ok(n)
    }
}
