//! The ledger's resolved configuration: what `config` makes of `[ledger]`,
//! `[settlement]` and the `[bundle.*]` tables, and all the ledger needs of them (the
//! ledger does not read `config`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{Budget, BundleId, Series, SettlementRule};
use crate::model::{DeviceId, PointKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustClock {
    /// Book energy only while the kernel says the clock is synchronised (NTP).
    #[default]
    WhenSynchronised,
    /// Always trust the clock (a machine with a battery-backed clock).
    Always,
}

/// One counter feeding a series, with the sign it is booked with.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub device: DeviceId,
    pub point: PointKey,
    /// +1 or −1.
    pub sign: i64,
    /// From the profile: the most the counter can rise per hour, in W.
    pub max_power_w: f64,
}

/// The ledger's resolved configuration.
#[derive(Debug, Clone)]
pub struct LedgerSetup {
    pub store: PathBuf,
    pub trust_clock: TrustClock,
    pub flush: std::time::Duration,
    pub fine_days: u32,
    pub rule: SettlementRule,
    pub net_metering_until: NaiveDate,
    /// The contract, when prices are configured: the ledger then books euros too.
    pub tariff: Option<crate::tariff::Tariff>,
    /// The bundles configured (energy used appears when household and building-bound do).
    pub budgets: BTreeMap<BundleId, Budget>,
    pub series: BTreeMap<Series, Vec<Term>>,
    /// The contract's promises the ledger keeps day by day ([`super::comfort`]).
    pub promises: Promises,
}

/// What the contract promises beyond the bundles (`[dwelling]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Promises {
    /// The agreed room temperature, °C.
    pub room_c: f64,
    /// The PV's minimum yield per year.
    pub pv_guarantee: Option<crate::model::WattHours>,
}

impl Default for Promises {
    fn default() -> Self {
        Self {
            room_c: super::comfort::NOM_ROOM_TEMPERATURE,
            pv_guarantee: None,
        }
    }
}

impl LedgerSetup {
    /// Every counter that feeds some series.
    pub fn counters(&self) -> Vec<&Term> {
        let mut out: Vec<&Term> = Vec::new();
        for t in self.series.values().flatten() {
            if !out
                .iter()
                .any(|o| o.device == t.device && o.point == t.point)
            {
                out.push(t);
            }
        }
        out
    }
}
