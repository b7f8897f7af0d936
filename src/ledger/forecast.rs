//! The settlement forecast: net import or export for the settlement year in kWh and
//! euros, with net metering (salderen, until 31 December 2026) and without it.
//!
//! What has happened so far comes from the ledger; the rest of the year from the
//! bundles. How much of the remaining PV is used on the spot follows the share the
//! home used itself so far (30 % until there is enough PV to tell).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::bundle::Budget;
use super::period::{Period, local_midnight};
use super::setup::Tariffs;
use crate::model::WattHours;

/// Used for the rest of the year until the ledger has seen this much PV.
pub const MIN_PV_FOR_OWN_SHARE: WattHours = WattHours(20_000);
pub const DEFAULT_OWN_SHARE: f64 = 0.3;

/// Grid flows of one stretch of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Flows {
    pub import_kwh: f64,
    pub export_kwh: f64,
}

impl Flows {
    pub fn net_kwh(&self) -> f64 {
        self.import_kwh - self.export_kwh
    }
    fn add(self, o: Flows) -> Flows {
        Flows {
            import_kwh: self.import_kwh + o.import_kwh,
            export_kwh: self.export_kwh + o.export_kwh,
        }
    }
}

/// Which rules settle the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    NetMetering,
    NoNetMetering,
    /// Net metering up to its last day, gross after it.
    Split,
}

#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub period: Period,
    /// So far, measured.
    pub so_far: Flows,
    /// The whole settlement year, so far plus the bundles' rest.
    pub projected: Flows,
    pub net_kwh: f64,
    /// The share of PV used on the spot assumed for the rest of the year.
    pub own_share: f64,
    pub regime: Regime,
    /// Euros for the year under the regime that applies (negative: money back).
    pub eur: Option<f64>,
    /// Euros as if net metering applied to the whole year.
    pub eur_with_net_metering: Option<f64>,
    /// Euros as if there were no net metering all year.
    pub eur_without_net_metering: Option<f64>,
}

/// What the forecast needs from the ledger.
pub struct Inputs<'a> {
    pub period: Period,
    pub now: DateTime<Utc>,
    /// Measured flows before the end of net metering and from it on.
    pub before: Flows,
    pub after: Flows,
    /// PV measured so far.
    pub pv_so_far: WattHours,
    pub pv: Option<&'a Budget>,
    pub used: Option<&'a Budget>,
    pub net_metering_until: NaiveDate,
    pub tariffs: Option<Tariffs>,
}

fn with_net_metering(f: Flows, t: &Tariffs) -> f64 {
    let net = f.net_kwh();
    if net >= 0.0 {
        net * t.supply_price
    } else {
        net * t.feed_in_price
    }
}

fn without_net_metering(f: Flows, t: &Tariffs) -> f64 {
    f.import_kwh * t.supply_price - f.export_kwh * t.feed_in_price
}

pub fn forecast(i: &Inputs) -> Forecast {
    let (start, end) = (i.period.start_instant(), i.period.end_instant());
    let boundary = local_midnight(i.net_metering_until + chrono::Days::new(1)).clamp(start, end);
    let now = i.now.clamp(start, end);
    let so_far = i.before.add(i.after);
    let pv_seen = i.pv_so_far.kwh();
    let own_share = if i.pv_so_far >= MIN_PV_FOR_OWN_SHARE {
        ((pv_seen - so_far.export_kwh) / pv_seen).clamp(0.0, 1.0)
    } else {
        DEFAULT_OWN_SHARE
    };
    // The rest of the year from the bundles, on each side of the boundary.
    let rest = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let pv = i.pv.map_or(0.0, |b| b.between(from, to).kwh());
        let used = i.used.map_or(0.0, |b| b.between(from, to).kwh());
        let direct = (pv * own_share).min(used);
        Flows {
            import_kwh: used - direct,
            export_kwh: pv - direct,
        }
    };
    let before = i.before.add(rest(now, boundary.max(now)));
    let after = i.after.add(rest(boundary.max(now), end));
    let projected = before.add(after);
    let regime = if boundary >= end {
        Regime::NetMetering
    } else if boundary <= start {
        Regime::NoNetMetering
    } else {
        Regime::Split
    };
    let days = (end - start).num_days() as f64;
    let eur = |f: &dyn Fn(&Tariffs) -> f64| {
        i.tariffs
            .as_ref()
            .map(|t| f(t) + t.fixed_fees * days / 365.0)
    };
    Forecast {
        period: i.period,
        so_far,
        projected,
        net_kwh: projected.net_kwh(),
        own_share,
        regime,
        eur: eur(&|t| with_net_metering(before, t) + without_net_metering(after, t)),
        eur_with_net_metering: eur(&|t| with_net_metering(projected, t)),
        eur_without_net_metering: eur(&|t| without_net_metering(projected, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::period::SettlementRule;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const T: Tariffs = Tariffs {
        supply_price: 0.30,
        feed_in_price: 0.05,
        fixed_fees: 0.0,
    };

    fn inputs(period: Period, now: NaiveDate, before: Flows, after: Flows) -> Inputs<'static> {
        Inputs {
            period,
            now: local_midnight(now),
            before,
            after,
            pv_so_far: WattHours(0),
            pv: None,
            used: None,
            net_metering_until: d(2026, 12, 31),
            tariffs: Some(T),
        }
    }

    #[test]
    fn net_metering_nets_and_after_it_only_feed_in_is_paid() {
        let flows = Flows {
            import_kwh: 3000.0,
            export_kwh: 2800.0,
        };
        let zero = Flows::default();
        // 2026: the whole year under net metering, the year is over.
        let y2026 = Period::year(2026);
        let f = forecast(&inputs(y2026, d(2027, 1, 5), flows, zero));
        assert_eq!(f.regime, Regime::NetMetering);
        assert!((f.eur.unwrap() - 200.0 * 0.30).abs() < 1e-6);
        // More export than import: paid the feed-in price for the surplus.
        let surplus = Flows {
            import_kwh: 2000.0,
            export_kwh: 2500.0,
        };
        let f = forecast(&inputs(y2026, d(2027, 1, 5), surplus, zero));
        assert!((f.eur.unwrap() + 500.0 * 0.05).abs() < 1e-6);
        // 2027: no netting.
        let f = forecast(&inputs(Period::year(2027), d(2028, 1, 5), zero, flows));
        assert_eq!(f.regime, Regime::NoNetMetering);
        assert!((f.eur.unwrap() - (3000.0 * 0.30 - 2800.0 * 0.05)).abs() < 1e-6);
        assert!((f.eur_with_net_metering.unwrap() - 60.0).abs() < 1e-6);
    }

    #[test]
    fn a_settlement_year_across_new_year_2027_is_split() {
        let rule = SettlementRule {
            month: 7,
            day: 1,
            ..SettlementRule::default()
        };
        let p = Period::settlement(d(2026, 8, 1), &rule);
        let before = Flows {
            import_kwh: 500.0,
            export_kwh: 1500.0,
        };
        let after = Flows {
            import_kwh: 2000.0,
            export_kwh: 600.0,
        };
        let f = forecast(&inputs(p, d(2027, 7, 1), before, after));
        assert_eq!(f.regime, Regime::Split);
        let want = -1000.0 * 0.05 + (2000.0 * 0.30 - 600.0 * 0.05);
        assert!((f.eur.unwrap() - want).abs() < 1e-6, "{:?}", f.eur);
    }

    #[test]
    fn the_rest_of_the_year_comes_from_the_bundles() {
        let flat = Budget::from_weights(WattHours(3_650_000), &crate::ledger::calc::DAYS);
        let mut i = inputs(
            Period::year(2027),
            d(2027, 1, 1),
            Flows::default(),
            Flows::default(),
        );
        i.used = Some(&flat);
        i.pv = Some(&flat);
        let f = forecast(&i);
        // Same PV as use, 30 % of PV used on the spot: 70 % imported and 70 % exported.
        assert!(
            (f.projected.import_kwh - 2555.0).abs() < 1.0,
            "{:?}",
            f.projected
        );
        assert!((f.projected.export_kwh - 2555.0).abs() < 1.0);
        assert!(f.net_kwh.abs() < 1.0);
        assert!((f.eur.unwrap() - 2555.0 * 0.25).abs() < 1.0);
    }
}
