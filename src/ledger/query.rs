//! The ledger's read side for the dashboard and scripts: where the bundles stand in
//! any period (the running one from the ledger's published status, pending bookings
//! included; earlier ones from the committed store) and history for graphs. The web
//! asks here; it never opens the books over the store itself.

use std::sync::Arc;

use tokio::sync::watch;

use super::setup::LedgerSetup;
use super::{Books, History, LedgerStatus, Period, PeriodKind, Position, SettlementRule};
use crate::store::Store;

/// Why a period cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("the ledger has not reported yet; try again in a few seconds")]
    NotYet,
    #[error("no period {0} away")]
    NoSuchPeriod(i32),
    #[error(transparent)]
    Store(#[from] super::LedgerError),
}

/// A cheap, cloneable read handle on a running ledger.
#[derive(Clone)]
pub struct LedgerView {
    /// Where every bundle stands now, and the forecast; changes each minute.
    pub status: watch::Receiver<Arc<LedgerStatus>>,
    setup: LedgerSetup,
    store: Store,
}

impl LedgerView {
    pub fn new(
        setup: LedgerSetup,
        store: Store,
        status: watch::Receiver<Arc<LedgerStatus>>,
    ) -> Self {
        Self {
            status,
            setup,
            store,
        }
    }

    /// The bundles and the settlement rule.
    pub fn setup(&self) -> &LedgerSetup {
        &self.setup
    }

    /// The first local day anything was booked on: the dashboard goes back no further.
    pub fn first_day(&self) -> Option<chrono::NaiveDate> {
        self.store.first_day().ok().flatten()
    }

    /// The last status, once the ledger has reported.
    pub fn current(&self) -> Result<Arc<LedgerStatus>, QueryError> {
        let status = self.status.borrow().clone();
        status.at.map(|_| status.clone()).ok_or(QueryError::NotYet)
    }

    /// The period `offset` periods of `kind` from the running one (0: the running one,
    /// −1: the one before), and where every bundle stands in it.
    pub fn positions(
        &self,
        kind: PeriodKind,
        offset: i32,
    ) -> Result<(Period, Vec<Position>), QueryError> {
        let status = self.current()?;
        let now = status.at.ok_or(QueryError::NotYet)?;
        let current = Period::at(kind, now, &self.setup.rule);
        if offset == 0 {
            let running = status
                .positions
                .iter()
                .filter(|p| p.period.kind == kind)
                .cloned()
                .collect();
            return Ok((current, running));
        }
        let period =
            shifted(current, offset, &self.setup.rule).ok_or(QueryError::NoSuchPeriod(offset))?;
        Ok((period, self.books().positions(period, now)?))
    }

    /// History of the period `offset` periods of `kind` from the running one.
    pub fn history(&self, kind: PeriodKind, offset: i32) -> Result<History, QueryError> {
        let (period, _) = self.positions(kind, offset)?;
        Ok(self.books().history(period)?)
    }

    fn books(&self) -> Books<'_> {
        Books {
            setup: &self.setup,
            store: &self.store,
            pending: None,
        }
    }
}

/// The period `offset` periods of `kind` away from `current` (−1: the one before).
pub fn shifted(current: Period, offset: i32, rule: &SettlementRule) -> Option<Period> {
    let months = match current.kind {
        PeriodKind::Day => return None,
        PeriodKind::Month => offset.unsigned_abs(),
        PeriodKind::Year | PeriodKind::Settlement => 12 * offset.unsigned_abs(),
    };
    let months = chrono::Months::new(months);
    let date = if offset < 0 {
        current.start.checked_sub_months(months)?
    } else {
        current.start.checked_add_months(months)?
    };
    Some(Period::containing(current.kind, date, rule))
}
