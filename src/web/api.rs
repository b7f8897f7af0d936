//! `/api/v1/`: what the pages show, as JSON (docs/openapi.yaml).

use serde::Serialize;

use crate::control::ControlStatus;
use crate::ledger::{LedgerStatus, Period, PeriodKind, Position, SettlementRule};
use crate::live::Live;
use crate::strategy::Settings;

/// `/api/v1/live`: the flows now. Power in W (grid + import, − export), temperatures in °C.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveView {
    pub pv_w: Option<f64>,
    pub grid_w: Option<f64>,
    pub home_w: Option<f64>,
    pub heat_pump_w: Option<f64>,
    pub tank_c: Option<f64>,
    pub outdoor_c: Option<f64>,
    pub room_c: Option<f64>,
}

impl From<&Live> for LiveView {
    fn from(l: &Live) -> Self {
        // To `per` steps per unit: 1 for W, 10 for °C.
        let round = |x: f64, per: f64| (x * per).round() / per;
        Self {
            pv_w: l.pv_power.map(|w| round(w.0, 1.0)),
            grid_w: l.grid_power.map(|w| round(w.0, 1.0)),
            home_w: l.home_power.map(|w| round(w.0, 1.0)),
            heat_pump_w: l.heat_pump_power.map(|w| round(w.0, 1.0)),
            tank_c: l.tank_temperature.map(|c| round(c.0, 10.0)),
            outdoor_c: l.outdoor_temperature.map(|c| round(c.0, 10.0)),
            room_c: l.room_temperature.map(|c| round(c.0, 10.0)),
        }
    }
}

/// One bundle in one period, kWh.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BundleView {
    pub bundle: &'static str,
    pub period: &'static str,
    /// First day, and the first day after the period (local dates).
    pub start: String,
    pub end: String,
    pub used_kwh: f64,
    pub bundle_kwh: f64,
    /// The bundle of the time already past; equal to the bundle once the period is over.
    pub expected_kwh: f64,
    pub projected_kwh: f64,
    pub remaining_kwh: f64,
    /// `on_track`, `above` or `below` the expected position.
    pub status: &'static str,
    /// Whether the status is good news (for PV, above is good).
    pub good: bool,
    pub more_is_better: bool,
    pub running: bool,
}

pub fn period_kind(s: &str) -> Option<PeriodKind> {
    [PeriodKind::Month, PeriodKind::Year, PeriodKind::Settlement]
        .into_iter()
        .find(|k| k.as_str() == s)
}

/// The running period of `kind`'s positions from the ledger's status.
pub fn running(status: &LedgerStatus, kind: PeriodKind) -> Vec<Position> {
    status
        .positions
        .iter()
        .filter(|p| p.period.kind == kind)
        .cloned()
        .collect()
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

/// `/api/v1/bundles?period=…&offset=…`: every bundle in a period.
pub fn bundles(positions: &[Position]) -> Vec<BundleView> {
    let kwh = |wh: crate::model::WattHours| (wh.0 as f64 / 100.0).round() / 10.0;
    positions
        .iter()
        .map(|p| BundleView {
            bundle: p.bundle_id.as_str(),
            period: p.period.kind.as_str(),
            start: p.period.start.to_string(),
            end: p.period.end.to_string(),
            used_kwh: kwh(p.used),
            bundle_kwh: kwh(p.bundle),
            expected_kwh: kwh(p.expected),
            projected_kwh: kwh(p.projected),
            remaining_kwh: kwh(p.remaining),
            status: match p.status {
                crate::ledger::Status::OnTrack => "on_track",
                crate::ledger::Status::Above => "above",
                crate::ledger::Status::Below => "below",
            },
            good: p.good,
            more_is_better: p.bundle_id.more_is_better(),
            running: p.running,
        })
        .collect()
}

/// `/api/v1/strategy`: the hot-water strategy's mode, settings and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyView {
    pub mode: &'static str,
    pub settings: std::collections::BTreeMap<&'static str, f64>,
    /// The strategy's last decision and why (empty without `[control]`).
    pub reason: String,
    /// Every point nomhub sets, with its value, who set it and why.
    pub points: Vec<crate::control::PointStatus>,
}

pub fn strategy(settings: &Settings, control: Option<&ControlStatus>) -> StrategyView {
    StrategyView {
        mode: settings.mode.as_str(),
        settings: crate::strategy::Setting::ALL
            .into_iter()
            .map(|s| (s.key(), settings.get(s)))
            .collect(),
        reason: control.map(|c| c.strategy.clone()).unwrap_or_default(),
        points: control.map(|c| c.points.clone()).unwrap_or_default(),
    }
}
