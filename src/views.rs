//! One view of the house: what MQTT, the web and control read, built once in `app`
//! and handed to each (none of them declares its own bundle of channels).

use std::sync::Arc;

use tokio::sync::watch;

use crate::control::ControlStatus;
use crate::ledger::{LedgerStatus, LedgerView};
use crate::live::{FlowMap, Live};
use crate::state::Snapshot;
use crate::strategy::StrategyHandle;

#[derive(Clone)]
pub struct Views {
    /// Every point's latest sample and every device's status.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Where the bundles stand, and the ledger's queries, when the config has a ledger.
    pub ledger: Option<LedgerView>,
    /// The hot-water strategy's settings, and where commands for it go.
    pub strategy: StrategyHandle,
    /// What control sets and why, when the config has `[control]`.
    pub control: Option<watch::Receiver<ControlStatus>>,
    /// Which points make the live flows.
    pub flows: FlowMap,
    /// The day-ahead prices, when the ledger books euros (a `[tariff]`).
    pub prices: Option<crate::prices::PriceBook>,
}

impl Views {
    /// The ledger's last status (empty until it has reported), when there is a ledger.
    pub fn ledger_status(&self) -> Option<Arc<LedgerStatus>> {
        self.ledger.as_ref().map(|l| l.status.borrow().clone())
    }

    /// The ledger's status channel, to wait on its changes.
    pub fn ledger_changes(&self) -> Option<watch::Receiver<Arc<LedgerStatus>>> {
        self.ledger.as_ref().map(|l| l.status.clone())
    }

    /// The live flows from the current snapshot.
    pub fn live(&self) -> Live {
        self.flows.read(&self.snapshot.borrow())
    }
}
