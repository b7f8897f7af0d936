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
use super::bundle::{Position, Series};
use super::forecast::Forecast;
use super::period::PeriodKind;
use super::setup::TrustClock;
use crate::clock::Clock;
use crate::device::Verdict;
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
}

/// How often the status summary is recomputed (real time).
const STATUS_EVERY: Duration = Duration::from_secs(5);

fn summarise(
    ledger: &Ledger,
    now: DateTime<Utc>,
    trusted: bool,
) -> Result<LedgerStatus, LedgerError> {
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
    })
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
pub async fn run(
    mut ledger: Ledger,
    clock: Clock,
    mut snapshot: watch::Receiver<Arc<Snapshot>>,
    status: watch::Sender<Arc<LedgerStatus>>,
    mut prices: Option<watch::Receiver<Arc<Prices>>>,
    cancel: CancellationToken,
) -> Result<(), LedgerError> {
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
            }
            _ = flush.tick() => store_error = commit(&mut ledger),
            _ = prune.tick() => {
                if let Err(e) = ledger.prune(clock.now().into()) {
                    tracing::warn!(error = %e, "Cannot prune old 15-minute buckets.");
                }
            }
            _ = summary.tick() => {
                match summarise(&ledger, clock.now().into(), was_trusted) {
                    Ok(mut s) => {
                        s.store_error = store_error.clone();
                        status.send_replace(Arc::new(s));
                    }
                    Err(e) => tracing::warn!(error = %e, "Cannot read the ledger."),
                }
            }
        }
    }
    ledger.commit()?;
    tracing::info!(store = %ledger.setup.store.display(), "Ledger committed and flushed.");
    Ok(())
}
