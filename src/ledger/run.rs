//! The ledger task: books counter readings from the snapshot, commits them to the
//! store on the flush interval and at shutdown, and publishes a status summary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::book::Booked;
use super::books::{Ledger, LedgerError, PeriodEuros};
use super::bundle::{BundleId, Position, Series};
use super::comfort::{Comfort, ComfortSummary, PvVerdict};
use super::forecast::Forecast;
use super::period::PeriodKind;
use super::setup::TrustClock;
use crate::clock::Clock;
use crate::device::Verdict;
use crate::live::FlowMap;
use crate::model::{DeviceId, PointKey, Value, WattHours};
use crate::prices::Prices;
use crate::state::Snapshot;
use crate::store::Rebase;

/// What the ledger says now: every bundle's position in the running day, month,
/// year and settlement year, and the settlement forecast.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerStatus {
    pub at: Option<DateTime<Utc>>,
    /// False while the clock is not trusted: energy is held back, not lost.
    pub clock_trusted: bool,
    pub positions: Vec<Position>,
    /// Everything booked per series since the ledger began.
    pub lifetime: BTreeMap<Series, WattHours>,
    pub forecast: Option<Forecast>,
    /// The last problem writing the store, if the last commit failed.
    pub store_error: Option<String>,
    /// Counters re-based (went back and stayed back), oldest first.
    pub rebases: Vec<Rebase>,
    /// With a tariff: what the running day and month came to.
    pub euros: Vec<PeriodEuros>,
    /// The running settlement year's room and hot-water comfort, day by day summed up.
    pub comfort: ComfortSummary,
    /// Every settlement year over, its PV against the guarantee (with one configured).
    pub pv_verdicts: Vec<PvVerdict>,
}

/// How often the status summary is recomputed (real time).
const STATUS_EVERY: Duration = Duration::from_secs(5);

fn summarise(
    ledger: &Ledger,
    comfort: &Comfort,
    now: DateTime<Utc>,
    trusted: bool,
) -> Result<LedgerStatus, LedgerError> {
    let year = ledger.period(PeriodKind::Settlement, now);
    let today = comfort.today();
    let mut days = ledger
        .store()
        .comfort_days(year.start, today.map_or(year.end, |t| t.date.min(year.end)))?;
    days.extend(today.filter(|t| t.date >= year.start).cloned());
    let mut positions = Vec::new();
    for kind in [
        PeriodKind::Day,
        PeriodKind::Month,
        PeriodKind::Year,
        PeriodKind::Settlement,
    ] {
        positions.extend(ledger.positions(ledger.period(kind, now), now)?);
    }
    Ok(LedgerStatus {
        at: Some(now),
        clock_trusted: trusted,
        positions,
        lifetime: ledger.lifetime(),
        forecast: Some(ledger.forecast(now)?),
        store_error: None,
        rebases: ledger.store().rebases()?,
        euros: [PeriodKind::Day, PeriodKind::Month]
            .into_iter()
            .map(|k| ledger.books().euros(ledger.period(k, now)))
            .filter_map(Result::transpose)
            .collect::<Result<_, _>>()?,
        comfort: ComfortSummary::of(&days),
        pv_verdicts: ledger.store().pv_verdicts()?,
    })
}

/// Keeps the PV verdict of the settlement year before the one running at `now`, once,
/// when a guarantee is configured and anything was booked in that year.
pub fn keep_last_years_verdict(ledger: &Ledger, now: DateTime<Utc>) -> Result<(), LedgerError> {
    let Some(guarantee) = ledger.setup.promises.pv_guarantee else {
        return Ok(());
    };
    let running = ledger.period(PeriodKind::Settlement, now);
    let Some(last) = super::query::shifted(running, -1, &ledger.setup.rule) else {
        return Ok(());
    };
    let Some(pv) = ledger
        .positions(last, now)?
        .into_iter()
        .find(|p| p.bundle_id == BundleId::Pv)
    else {
        return Ok(());
    };
    if (pv.used.0 == 0 && pv.estimated.0 == 0) || pv.bundle.0 <= 0 {
        return Ok(());
    }
    // The minimum for the days measured: spread over the year as the PV bundle is.
    let guaranteed = guarantee.kwh() * pv.expected.0 as f64 / pv.bundle.0 as f64;
    let verdict = PvVerdict {
        start: last.start,
        end: last.end,
        generated_kwh: pv.used.kwh(),
        guaranteed_kwh: (guaranteed * 10.0).round() / 10.0,
        met: pv.used.kwh() >= guaranteed,
    };
    if ledger.store().keep_pv_verdict(&verdict)? {
        tracing::info!(start = %verdict.start, generated_kwh = verdict.generated_kwh, guaranteed_kwh = verdict.guaranteed_kwh, met = verdict.met, "Settlement year over; its PV verdict is kept.");
    }
    Ok(())
}

/// Books every reading of `counters` in `snap` that is newer than the last one booked;
/// true when a counter got a new baseline (its first reading, or a replaced meter's),
/// which is committed at once: a crash before the next commit must not lose what was
/// read since it.
fn book_snapshot(
    ledger: &mut Ledger,
    counters: &[(DeviceId, PointKey)],
    snap: &Snapshot,
    trusted: bool,
) -> bool {
    let mut baseline = false;
    for key @ (device, point) in counters {
        let Some(sample) = snap.points.get(key) else {
            continue;
        };
        let Ok(Value::Energy(wh)) = sample.value else {
            continue;
        };
        match ledger.reading(device, point, wh, sample.at, trusted) {
            Some(Booked::Verdict(Verdict::First)) => baseline = true,
            Some(Booked::Verdict(Verdict::Rebased {
                previous,
                base,
                delta,
            })) => {
                baseline = true;
                tracing::warn!(
                    device = %device, point = %point, previous_kwh = previous.kwh(), base_kwh = base.kwh(), booked_kwh = delta.kwh(),
                    "Counter went back and stayed back; the ledger continues from where it went back to."
                );
            }
            Some(Booked::Verdict(Verdict::Backwards { first: false, .. })) => tracing::debug!(
                device = %device, point = %point, value_kwh = wh.kwh(),
                "Counter reading still below its last; not booked."
            ),
            Some(Booked::Verdict(v)) if !v.is_accepted() => tracing::warn!(
                device = %device, point = %point, value_kwh = wh.kwh(), reason = ?v.reason(),
                "Counter reading not booked."
            ),
            _ => {}
        }
    }
    baseline
}

/// Commits what is pending; the problem, when the store cannot be written (nothing is
/// lost: it goes with the next commit).
fn commit(ledger: &mut Ledger) -> Option<String> {
    match ledger.commit() {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(store = %ledger.setup.store.display(), error = %e, "Cannot write the ledger; keeping it in memory and trying again.");
            Some(e.to_string())
        }
    }
}

/// Runs the ledger until `cancel`; commits what is pending before returning.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    mut ledger: Ledger,
    clock: Clock,
    mut snapshot: watch::Receiver<Arc<Snapshot>>,
    flows: FlowMap,
    status: watch::Sender<Arc<LedgerStatus>>,
    mut prices: Option<watch::Receiver<Arc<Prices>>>,
    cancel: CancellationToken,
) -> Result<(), LedgerError> {
    let today = super::period::local_date(clock.now().into());
    let mut comfort = Comfort::new(
        ledger.setup.promises.room_c,
        ledger
            .store()
            .comfort_days(today, today.succ_opt().unwrap_or(today))?
            .pop(),
    );
    let mut verdict_checked: Option<chrono::NaiveDate> = None;
    if let Some(p) = &mut prices {
        ledger.set_prices(Arc::new(p.borrow_and_update().day_ahead.clone()));
    }
    let mut flush = tokio::time::interval(ledger.setup.flush);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut summary = tokio::time::interval(STATUS_EVERY);
    summary.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let trust_always = ledger.setup.trust_clock == TrustClock::Always;
    let counters = ledger.counters();
    let mut was_trusted = true;
    let mut store_error = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = snapshot.changed() => {
                if changed.is_err() {
                    break;
                }
                let trusted = trust_always || clock.is_synchronised();
                if trusted != was_trusted {
                    if trusted {
                        tracing::info!("Clock synchronised; booking energy again (the wait is apportioned and marked estimated).");
                    } else {
                        tracing::warn!("System clock is not synchronised (NTP); energy is held back until it is.");
                    }
                    was_trusted = trusted;
                }
                if let Some(p) = &mut prices
                    && p.has_changed().unwrap_or(false)
                {
                    ledger.set_prices(Arc::new(p.borrow_and_update().day_ahead.clone()));
                }
                let snap = snapshot.borrow_and_update().clone();
                if book_snapshot(&mut ledger, &counters, &snap, trusted) {
                    store_error = commit(&mut ledger);
                }
                if trusted {
                    let live = flows.read(&snap);
                    let (room, tank) = (live.room_temperature.map(|c| c.0), live.tank_temperature.map(|c| c.0));
                    if let Some(day) = comfort.observe(clock.now().into(), room, tank)
                        && let Err(e) = ledger.store().put_comfort(&day)
                    {
                        tracing::warn!(error = %e, "Cannot keep the day's comfort.");
                    }
                }
            }
            _ = flush.tick() => {
                keep_today(&ledger, &comfort);
                store_error = commit(&mut ledger);
            }
            _ = prune.tick() => {
                if let Err(e) = ledger.prune(clock.now().into()) {
                    tracing::warn!(error = %e, "Cannot prune old 15-minute buckets.");
                }
            }
            _ = summary.tick() => {
                let now: DateTime<Utc> = clock.now().into();
                let year = ledger.period(PeriodKind::Settlement, now).start;
                if was_trusted && verdict_checked != Some(year) {
                    match keep_last_years_verdict(&ledger, now) {
                        Ok(()) => verdict_checked = Some(year),
                        Err(e) => tracing::warn!(error = %e, "Cannot keep last settlement year's PV verdict."),
                    }
                }
                match summarise(&ledger, &comfort, now, was_trusted) {
                    Ok(mut s) => {
                        s.store_error = store_error.clone();
                        status.send_replace(Arc::new(s));
                    }
                    Err(e) => tracing::warn!(error = %e, "Cannot read the ledger."),
                }
            }
        }
    }
    keep_today(&ledger, &comfort);
    ledger.commit()?;
    ledger.store().flush()?;
    tracing::info!(store = %ledger.setup.store.display(), "Ledger committed and flushed.");
    Ok(())
}

/// Writes the running day's comfort (flushed with the commit that follows).
fn keep_today(ledger: &Ledger, comfort: &Comfort) {
    if let Some(day) = comfort.today()
        && let Err(e) = ledger.store().put_comfort(day)
    {
        tracing::warn!(error = %e, "Cannot keep the day's comfort.");
    }
}
